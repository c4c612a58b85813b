package p2p

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-msgio"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// answerWith makes a hostile host answer every sync with the blocks given,
// as a member running a custom client could.
func answerWith(hostile host.Host, blocks []history.Block) {
	hostile.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		r := msgio.NewVarintReaderSize(s, MaxFrame)
		if _, err := r.ReadMsg(); err != nil {
			return
		}
		w := msgio.NewVarintWriter(s)
		for _, b := range blocks {
			if err := w.WriteMsg(blockFrame(b.Cid, b.Data)); err != nil {
				return
			}
		}
		w.WriteMsg(cborFrame(frameEnd, endMsg{}))
	})
}

// signedRevision is a member's revision with any time and parents.
func (r *replica) signedRevision(page cid.Cid, parents []cid.Cid, height uint64, at int64, title, body string) []history.Block {
	r.T.Helper()
	bodies, err := history.BodyBlocks(body)
	if err != nil {
		r.T.Fatal(err)
	}
	rev := &history.Revision{Wiki: r.Store.Wiki(), Title: title, Body: history.Link{Cid: bodies[0].Cid}, Time: at, Height: height}
	if page.Defined() {
		rev.Page = &history.Link{Cid: page}
		rev.SetParents(parents)
	} else {
		rev.Nonce = []byte(fmt.Sprintf("%s-%d-%s", r.ID.ID, at, title))
	}
	if err := rev.Sign(r.ID.Key); err != nil {
		r.T.Fatal(err)
	}
	blk, err := rev.Block()
	if err != nil {
		r.T.Fatal(err)
	}
	// As a sync sends them: a chunked body's chunks before its list.
	return append(append(bodies[1:len(bodies):len(bodies)], bodies[0]), blk)
}

// syncFromRogue runs honest's sync with a hostile answerer sending blocks
// and checks that the member was neither refused as hostile nor banned.
func syncFromRogue(t *testing.T, honest *replica, blocks []history.Block) (*Node, SyncResult) {
	t.Helper()
	nh := startNode(t, honest, nil)
	hostile := newHostile(t)
	answerWith(hostile, blocks)
	if err := nh.Connect(context.Background(), info(hostile)); err != nil {
		t.Fatal(err)
	}
	res, err := nh.SyncPeer(context.Background(), hostile.ID())
	if err != nil {
		t.Fatalf("sync with a member that sent valid revisions failed: %v", err)
	}
	if nh.Stats().Rejected != 0 || nh.bans.banned(hostile.ID()) {
		t.Fatal("a member that sent valid (if unwelcome) revisions was banned")
	}
	return nh, res
}

// A member's revisions dated at the end of time and in 2100 are not
// stored (nor is the member banned), and the page stays writable.
func TestRogueFutureDatesAreDeferred(t *testing.T) {
	honest, evil := newReplica(t), newReplica(t)
	now := time.Now().UnixMilli()
	genesis := evil.signedRevision(cid.Undef, nil, 1, now, "Note", "v1")
	page := genesis[len(genesis)-1].Cid
	end := evil.signedRevision(page, []cid.Cid{page}, 2, math.MaxInt64, "Note", "frozen")
	y2100 := evil.signedRevision(page, []cid.Cid{page}, 2, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), "Note", "wins lww")
	blocks := append(append(append([]history.Block{}, genesis...), end...), y2100...)
	_, res := syncFromRogue(t, honest, blocks)
	if res.Received != 1 || res.Deferred != 2 {
		t.Fatalf("received %d revisions and deferred %d, want the genesis stored and two waiting", res.Received, res.Deferred)
	}
	ctx := context.Background()
	for _, b := range [][]history.Block{end, y2100} {
		if ok, _ := honest.Store.Has(ctx, b[len(b)-1].Cid); ok {
			t.Fatal("a revision dated far ahead was stored")
		}
	}
	// The page still takes an edit dated now.
	child := honest.signedRevision(page, []cid.Cid{page}, 2, history.NextTime(time.Now(), now, true), "Note", "v2")
	if _, err := honest.Store.PutSignedHere(ctx, child); err != nil {
		t.Fatalf("edit after the attack: %v", err)
	}
}

// A member flooding one page with heads gets at most MaxPageHeads of them
// stored, is not banned, and the honest node keeps serving others.
func TestRogueHeadFloodIsCapped(t *testing.T) {
	honest, evil, friend := newReplica(t), newReplica(t), newReplica(t)
	now := time.Now().UnixMilli()
	blocks := evil.signedRevision(cid.Undef, nil, 1, now, "Flooded", "x")
	page := blocks[len(blocks)-1].Cid
	for i := range 2000 {
		blocks = append(blocks, evil.signedRevision(page, []cid.Cid{page}, 2, now+1, "Flooded", fmt.Sprintf("spam %d", i))...)
	}
	nh, _ := syncFromRogue(t, honest, blocks)
	heads, err := honest.Store.Heads(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	row, err := honest.Store.Page(context.Background(), page)
	if err != nil || row.Heads > history.MaxPageHeads || len(heads) > history.MaxPageHeads {
		t.Fatalf("page took %d heads (err %v), the cap is %d", row.Heads, err, history.MaxPageHeads)
	}
	friend.addHistory(2, 2, "Friend")
	nf := startNode(t, friend, nil)
	connectNodes(t, nf, nh)
	if _, err := nf.SyncPeer(context.Background(), nh.ID()); err != nil {
		t.Fatalf("an honest member was not served after the flood: %v", err)
	}
}

// A forged automatic merge is a lie like a forged signature: its sender
// is banned, and nothing of the batch is stored.
func TestRogueForgedMergeBansItsSender(t *testing.T) {
	honest, evil := newReplica(t), newReplica(t)
	// The honest store recomputes automatic merges; this one finds every
	// merge forged, as wiki's would a merge that does not recompute.
	honest.Store = historytest.NewStore(t, history.Options{VerifyAuto: func(history.Reader, cid.Cid, *history.Revision) error {
		return fmt.Errorf("%w: does not recompute", history.ErrForgedMerge)
	}})
	now := time.Now().UnixMilli()
	blocks := evil.signedRevision(cid.Undef, nil, 1, now, "Merged", "base")
	page := blocks[len(blocks)-1].Cid
	a := evil.signedRevision(page, []cid.Cid{page}, 2, now+1, "Merged", "ours")
	b := evil.signedRevision(page, []cid.Cid{page}, 2, now+1, "Merged", "theirs")
	bodies, _ := history.BodyBlocks("forged merge")
	m := &history.Revision{Wiki: evil.Store.Wiki(), Page: &history.Link{Cid: page}, Title: "Merged", Body: history.Link{Cid: bodies[0].Cid},
		Policy: "merge", Time: now + 1, Height: 3}
	m.SetParents([]cid.Cid{a[len(a)-1].Cid, b[len(b)-1].Cid})
	mb, err := m.Block()
	if err != nil {
		t.Fatal(err)
	}
	blocks = append(append(append(append(blocks, a...), b...), bodies...), mb)

	nh := startNode(t, honest, nil)
	hostile := newHostile(t)
	answerWith(hostile, blocks)
	if err := nh.Connect(context.Background(), info(hostile)); err != nil {
		t.Fatal(err)
	}
	if _, err := nh.SyncPeer(context.Background(), hostile.ID()); err == nil {
		t.Fatal("a forged automatic merge was accepted")
	}
	if nh.Stats().Rejected != 1 || !nh.bans.banned(hostile.ID()) {
		t.Fatal("the sender of a forged automatic merge was not banned")
	}
	if ok, _ := honest.Store.Has(context.Background(), mb.Cid); ok {
		t.Fatal("the forged merge was stored")
	}
}
