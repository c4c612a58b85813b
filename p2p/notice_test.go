package p2p

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/fxamacker/cbor/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// A notice that carries its commits (what the CLI sends next to a
// running node) is announced before the notice returns, without the
// commit watcher, whose later look finds it announced and does not
// announce it again; a commit noticed without them is still announced,
// by the watcher.
func TestNoticedCommitsAreAnnouncedAsTheyAre(t *testing.T) {
	rs, nodes, pages := gossipNodes(t, 2, [][2]int{{0, 1}}, func(cfg *Config) { cfg.PollInterval = time.Hour })
	waitFor(t, 3*meshWindow, "gossip meshes to form", func() bool {
		return !nodes[0].gossip.meshForming() && !nodes[1].gossip.meshForming()
	})
	ctx := context.Background()
	events := nodes[0].Subscribe()
	announced := func(c cid.Cid) int {
		n := 0
		for {
			select {
			case e := <-events:
				if e.Kind == EventAnnounced && slices.Contains(e.Revisions, c) {
					n++
				}
			default:
				return n
			}
		}
	}
	commit := func(body string) history.LocalCommit {
		t.Helper()
		heads, err := rs[0].Store.Heads(ctx, pages[0])
		if err != nil {
			t.Fatal(err)
		}
		_, blocks := rs[0].Batch(pages[0], "Gossip page", body, heads[0])
		if _, err := rs[0].Store.PutSignedHere(ctx, blocks); err != nil {
			t.Fatal(err)
		}
		commits, ok := rs[0].Store.TakeLocalCommits()
		if !ok || len(commits) != 1 {
			t.Fatalf("the commit told back: %d, ok %v", len(commits), ok)
		}
		return commits[0]
	}
	has := func(lc history.LocalCommit) func() bool {
		return func() bool { ok, _ := rs[1].Store.Has(ctx, lc.Rev.Cid); return ok }
	}

	lc := commit("noticed with its blocks\n")
	nodes[0].NoticeCommits(time.Now(), []history.LocalCommit{lc})
	if n := announced(lc.Rev.Cid); n != 1 {
		t.Fatalf("announced %d times as the notice returned, want once", n)
	}
	waitFor(t, 5*time.Second, "the peer to have the noticed edit", has(lc))
	time.Sleep(10 * noticedLook) // the watcher's look, and then some
	if n := announced(lc.Rev.Cid); n != 0 {
		t.Fatalf("announced %d more times after the notice", n)
	}

	lc = commit("noticed without them\n")
	nodes[0].NoticeCommits(time.Now(), nil)
	waitFor(t, 5*time.Second, "the peer to have the edit the watcher found", has(lc))
	if n := announced(lc.Rev.Cid); n != 1 {
		t.Fatalf("the watcher announced it %d times, want once", n)
	}
}

// A notice whose block does not match its CID, that names a revision
// without its block, or whose "revision" is none or another wiki's, is
// refused as a bad request, and nothing of it is announced.
func TestBadCommitNoticeIsRefused(t *testing.T) {
	dir, log := daemonLogging(t)
	c, err := DialNode(dir)
	if err != nil {
		t.Fatal(err)
	}
	good := history.NewBlock(history.CodecRaw, []byte("a body\n"))
	other := history.NewBlock(history.CodecRaw, []byte("another body\n"))
	foreign, err := (&history.Revision{Wiki: "another wiki", Title: "Note", Body: history.Link{Cid: good.Cid}, Time: 1, Height: 1}).Block()
	if err != nil {
		t.Fatal(err)
	}
	for name, rev := range map[string]noticedRevision{
		"block not matching its CID": {Cid: good.Cid.Bytes(), Blocks: []noticedBlock{{Cid: good.Cid.Bytes(), Data: []byte("tampered\n")}}},
		"revision without its block": {Cid: good.Cid.Bytes(), Blocks: []noticedBlock{{Cid: other.Cid.Bytes(), Data: other.Data}}},
		"malformed CID":              {Cid: []byte{1, 2, 3}},
		"block that is no revision":  {Cid: good.Cid.Bytes(), Blocks: []noticedBlock{{Cid: good.Cid.Bytes(), Data: good.Data}}},
		"revision of another wiki":   {Cid: foreign.Cid.Bytes(), Blocks: []noticedBlock{{Cid: good.Cid.Bytes(), Data: good.Data}, {Cid: foreign.Cid.Bytes(), Data: foreign.Data}}},
	} {
		n := commitNotice{At: 1, Revisions: []noticedRevision{rev}}
		err := c.do(context.Background(), http.MethodPost, "/v1/commit", n, nil)
		if err == nil || !strings.Contains(err.Error(), "bad request") {
			t.Fatalf("%s: %v, want a bad request", name, err)
		}
		if status := postCBOR(t, c, n.appendCBOR(nil)); status != http.StatusBadRequest {
			t.Fatalf("%s, as CBOR: status %d, want 400", name, status)
		}
	}
	ok := commitNotice{At: 1}.appendCBOR(nil)
	for name, body := range map[string][]byte{
		"not CBOR":      []byte("{\"at\": 1}"),
		"cut short":     ok[:len(ok)-1],
		"unknown field": append(append(appendCBORHead(nil, cborMap, 2), ok[1:]...), appendCBORText(appendCBORText(nil, "extra"), "x")...),
		"trailing data": append(append([]byte{}, ok...), 0),
		"empty":         nil,
	} {
		if status := postCBOR(t, c, body); status != http.StatusBadRequest {
			t.Fatalf("%s: status %d, want 400", name, status)
		}
	}
	if n := log.count(`msg="commit notice"`); n != 0 {
		t.Fatalf("%d bad notices reached the node", n)
	}
}

// postCBOR posts body to the node as a commit notice in CBOR, as a
// command sends one, and returns the answer's status.
func postCBOR(t *testing.T, c *NodeClient, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://peerwiki/v1/commit", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/cbor")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A noticed revision among more than a page of the watcher's finds
// (maxAnnouncedHeads) does not end its look early: every other revision
// committed with it is announced by the same look.
func TestNoticedCommitAmongManyOthers(t *testing.T) {
	rs, nodes, pages := gossipNodes(t, 2, [][2]int{{0, 1}}, func(cfg *Config) { cfg.PollInterval = time.Hour })
	ctx := context.Background()
	events := nodes[0].Subscribe()
	heads, err := rs[0].Store.Heads(ctx, pages[0])
	if err != nil {
		t.Fatal(err)
	}
	_, blocks := rs[0].Batch(pages[0], "Gossip page", "noticed\n", heads[0])
	if _, err := rs[0].Store.PutSignedHere(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	lc, ok := rs[0].Store.TakeLocalCommits()
	if !ok || len(lc) != 1 {
		t.Fatalf("the commit told back: %d, ok %v", len(lc), ok)
	}
	others := rs[0].addHistory(maxAnnouncedHeads+100, 1, "Other") // committed by no notice
	if err := nodes[0].NoticeCommits(time.Now(), lc); err != nil {
		t.Fatal(err)
	}
	want := map[cid.Cid]bool{}
	for _, p := range others {
		want[p] = true
	}
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case e := <-events:
			if e.Kind == EventAnnounced {
				for _, c := range e.Revisions {
					delete(want, c)
				}
			}
		case <-deadline:
			t.Fatalf("%d of the %d other revisions not announced", len(want), len(others))
		}
	}
}

// The notice a command writes by hand is what the CBOR encoder would
// write, and the node reads it back as it was; the JSON of an older
// command reads the same.
func TestNoticeEncoding(t *testing.T) {
	c1 := history.NewBlock(history.CodecRaw, []byte("a body\n"))
	c2 := history.NewBlock(history.CodecDagCBOR, []byte{0xa0})
	empty := history.NewBlock(history.CodecRaw, nil)
	for _, n := range []commitNotice{
		{At: 0},
		{At: -1},
		{At: 1796658750878468},
		{At: -1796658750878468},
		{At: 23}, {At: 24}, {At: 255}, {At: 256}, {At: 65535}, {At: 65536}, {At: 1<<32 - 1}, {At: 1 << 32}, {At: -24}, {At: -25},
		{At: 5, Revisions: []noticedRevision{}},
		{At: 6, Revisions: []noticedRevision{{Cid: c1.Cid.Bytes()}}},
		{At: 7, Revisions: []noticedRevision{{Cid: c1.Cid.Bytes(), Head: true, Blocks: []noticedBlock{}}}},
		{At: 8, Revisions: []noticedRevision{
			{Cid: c2.Cid.Bytes(), Head: true, Blocks: []noticedBlock{{Cid: c2.Cid.Bytes(), Data: c2.Data}, {Cid: c1.Cid.Bytes(), Data: c1.Data}}},
			{Cid: empty.Cid.Bytes(), Blocks: []noticedBlock{{Cid: empty.Cid.Bytes(), Data: empty.Data}, {Cid: c1.Cid.Bytes(), Data: []byte{}}}},
		}},
	} {
		want, err := cbor.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		got := n.appendCBOR(nil)
		if !bytes.Equal(got, want) {
			t.Errorf("notice at %d:\n got %x\nwant %x", n.At, got, want)
		}
		var back commitNotice
		if err := noticeDec.Unmarshal(got, &back); err != nil {
			t.Fatalf("notice at %d does not decode: %v", n.At, err)
		}
		if again := back.appendCBOR(nil); !bytes.Equal(again, want) {
			t.Errorf("notice at %d after a round trip:\n got %x\nwant %x", n.At, again, want)
		}
		js, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON commitNotice
		if err := json.Unmarshal(js, &fromJSON); err != nil {
			t.Fatal(err)
		}
		if again := fromJSON.appendCBOR(nil); !bytes.Equal(again, want) {
			t.Errorf("notice at %d from JSON:\n got %x\nwant %x", n.At, again, want)
		}
	}
}
