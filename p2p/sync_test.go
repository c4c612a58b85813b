package p2p

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

func TestSyncLongHistoryInOneRoundTrip(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	pages := a.addHistory(200, 5, "Page")
	// One large page whose body is split into chunks.
	big := strings.Repeat("A long line of a large page that is chunked.\n", 15000)
	_, blocks := a.Batch(cid.Undef, "Big", big)
	if len(blocks) < 3 {
		t.Fatalf("big body made %d blocks, want a chunk list and chunks", len(blocks))
	}
	if _, err := a.Store.Put(context.Background(), blocks); err != nil {
		t.Fatal(err)
	}
	na, nb := startNode(t, a, nil), startNode(t, b, nil)
	connectNodes(t, nb, na)

	res, err := nb.SyncPeer(context.Background(), na.ID())
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 1001 || res.Sent != 0 {
		t.Fatalf("received %d, sent %d; want 1001, 0", res.Received, res.Sent)
	}
	// One request frame from the asker and one stream: one round trip.
	if res.Wire.FramesOut != 1 || na.Stats().SyncsServed != 1 {
		t.Fatalf("asker sent %d frames, answerer served %d syncs; want 1 and 1", res.Wire.FramesOut, na.Stats().SyncsServed)
	}
	if !sameHeads(a.heads(), b.heads()) {
		t.Fatal("heads differ after sync")
	}
	// Later versions of a page travel as deltas, in far fewer bytes than
	// the blocks themselves.
	if res.Wire.PackedIn < 800 {
		t.Fatalf("%d packed blocks of %d frames; want most of the history packed", res.Wire.PackedIn, res.Wire.FramesIn)
	}
	if whole := a.blockBytes(); res.Wire.BytesIn*2 > whole {
		t.Fatalf("sync moved %d bytes for %d bytes of blocks; want under half", res.Wire.BytesIn, whole)
	}
	if a.blocks() != b.blocks() || a.revisions() != b.revisions() {
		t.Fatalf("blocks %d vs %d, revisions %d vs %d", a.blocks(), b.blocks(), a.revisions(), b.revisions())
	}
	// A sync this large leaves the search index merged, so that the next
	// small write does not pay for merging what its batches left.
	var segments int
	if err := b.Store.DB().QueryRow(`SELECT count(*) FROM search_segdir`).Scan(&segments); err != nil || segments != 1 {
		t.Fatalf("search index in %d segments (%v) after a large sync, want 1", segments, err)
	}
	body, err := b.Store.Body(context.Background(), mustRev(t, b.Store, a.heads()[0]).Body.Cid)
	if err != nil || body == "" {
		t.Fatalf("body of a synced head: %q, %v", body, err)
	}
	if probs, err := b.Store.Fsck(context.Background(), nil); err != nil || len(probs) > 0 {
		t.Fatalf("fsck after sync: %v %v", probs, err)
	}

	// Equal heads: one small frame back, whatever the history's size.
	res, err = nb.SyncPeer(context.Background(), na.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Equal || res.Wire.FramesIn != 1 || res.Wire.BytesIn > 8 {
		t.Fatalf("equal sync: equal=%v, %d frames, %d bytes in; want one tiny frame", res.Equal, res.Wire.FramesIn, res.Wire.BytesIn)
	}

	// An incremental change sends only the new revision.
	a.edit(pages[7], "a new version")
	res, err = nb.SyncPeer(context.Background(), na.ID())
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 1 || res.Blocks != 2 {
		t.Fatalf("incremental: received %d revisions, %d blocks; want 1, 2", res.Received, res.Blocks)
	}
}

func mustRev(t *testing.T, s *history.Store, c cid.Cid) *history.Revision {
	t.Helper()
	r, err := s.Revision(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSyncBothWays(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	shared := a.addHistory(3, 2, "Shared")
	na, nb := startNode(t, a, nil), startNode(t, b, nil)
	connectNodes(t, nb, na)
	if _, err := nb.SyncPeer(context.Background(), na.ID()); err != nil {
		t.Fatal(err)
	}
	// Both edit while apart: new pages, and the same page concurrently.
	a.addHistory(4, 3, "OnlyA")
	b.addHistory(2, 2, "OnlyB")
	a.edit(shared[0], "a's version")
	b.edit(shared[0], "b's version")

	res, err := nb.SyncPeer(context.Background(), na.ID())
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 13 || res.Sent != 5 {
		t.Fatalf("received %d, sent %d; want 13, 5", res.Received, res.Sent)
	}
	if len(res.Conflicts) != 1 || !res.Conflicts[0].Equals(shared[0]) {
		t.Fatalf("conflicts %v, want the shared page", res.Conflicts)
	}
	if !sameHeads(a.heads(), b.heads()) {
		t.Fatal("heads differ after a two-way sync")
	}
	// One stream, one HELLO from the asker, then its push.
	if na.Stats().SyncsServed != 2 {
		t.Fatalf("answerer served %d syncs, want 2 (one per SyncPeer)", na.Stats().SyncsServed)
	}
}

func TestSyncOnConnectAndLateJoiner(t *testing.T) {
	a, b, c := newReplica(t), newReplica(t), newReplica(t)
	a.addHistory(20, 3, "A")
	b.addHistory(10, 2, "B")
	on := func(cfg *Config) { cfg.SyncOnConnect = true }
	na, nb := startNode(t, a, on), startNode(t, b, on)
	connectNodes(t, nb, na)
	waitFor(t, 10*time.Second, "a and b to converge", func() bool { return sameHeads(a.heads(), b.heads()) && len(a.heads()) == 30 })

	nc := startNode(t, c, on)
	connectNodes(t, nc, nb)
	waitFor(t, 10*time.Second, "the late joiner to catch up", func() bool { return sameHeads(c.heads(), a.heads()) })
	if c.revisions() != 80 {
		t.Fatalf("late joiner has %d revisions, want 80", c.revisions())
	}
}

// gossipNodes starts n replicas with gossip, sync on connect and a fast
// commit watcher, connected as the pairs in links say, and waits until
// they hold the same history and everyone has its topic peers.
func gossipNodes(t *testing.T, n int, links [][2]int, change ...func(*Config)) ([]*replica, []*Node, []cid.Cid) {
	t.Helper()
	var rs []*replica
	var nodes []*Node
	for range n {
		r := newReplica(t)
		rs = append(rs, r)
		nodes = append(nodes, startNode(t, r, func(cfg *Config) {
			cfg.Gossip, cfg.SyncOnConnect, cfg.WatchCommits = true, true, true
			cfg.PollInterval = 20 * time.Millisecond
			for _, f := range change {
				f(cfg)
			}
		}))
	}
	pages := rs[0].addHistory(5, 1, "Gossip")
	degree := make([]int, n)
	for _, l := range links {
		connectNodes(t, nodes[l[1]], nodes[l[0]])
		degree[l[0]]++
		degree[l[1]]++
	}
	waitFor(t, 10*time.Second, "initial sync", func() bool {
		for _, r := range rs[1:] {
			if !sameHeads(r.heads(), rs[0].heads()) {
				return false
			}
		}
		return true
	})
	waitFor(t, 10*time.Second, "topic peers", func() bool {
		for i, nd := range nodes {
			if len(nd.gossip.topic.ListPeers()) != degree[i] {
				return false
			}
		}
		return true
	})
	return rs, nodes, pages
}

func TestGossipCarriesEditsInOneHop(t *testing.T) {
	rs, nodes, pages := gossipNodes(t, 3, [][2]int{{0, 1}, {0, 2}, {1, 2}})
	// While a mesh may be forming, peers also relay what they receive by
	// CIDs (a line of peers needs it), and on a busy machine such a relay
	// can beat the publisher's own message and bring a sync: both are
	// right. Once the meshes stand, only the inline message travels.
	waitFor(t, 3*meshWindow, "gossip meshes to form", func() bool {
		for _, nd := range nodes {
			if nd.gossip.meshForming() {
				return false
			}
		}
		return true
	})
	events := []<-chan Event{nodes[1].Subscribe(), nodes[2].Subscribe()}
	for i := range 5 {
		c := rs[0].edit(pages[i], "gossiped edit")
		waitFor(t, 5*time.Second, "the edit to reach both peers", func() bool {
			ok1, _ := rs[1].Store.Has(context.Background(), c)
			ok2, _ := rs[2].Store.Has(context.Background(), c)
			return ok1 && ok2
		})
	}
	// The edits travelled inline in the publisher's messages, not by syncs.
	// A store commits before its event is sent, so wait for the events.
	for i, ch := range events {
		viaGossip, other := 0, 0
		deadline := time.After(5 * time.Second)
		for viaGossip+other < 5 {
			select {
			case e := <-ch:
				if e.Kind == EventReceived && e.Gossip {
					viaGossip += len(e.Revisions)
				} else if e.Kind == EventReceived {
					other += len(e.Revisions)
				}
			case <-deadline:
				t.Fatalf("peer %d: %d of the 5 edits reported received", i+1, viaGossip+other)
			}
		}
		if viaGossip != 5 {
			t.Fatalf("peer %d received %d of the 5 edits inline in gossip", i+1, viaGossip)
		}
	}
	// Their search rows were left for a moment later (off the edit's
	// way): the node writes them by itself, nobody searching.
	for i, r := range rs[1:] {
		waitFor(t, 5*time.Second, fmt.Sprintf("peer %d to index the edits for search", i+1), func() bool {
			n, err := r.Store.SearchPending(context.Background())
			return err == nil && n == 0
		})
		if hits, err := r.Store.Search(context.Background(), "gossiped", 10); err != nil || len(hits) != 5 {
			t.Fatalf("peer %d: a search finds %d of the 5 edited pages (%v)", i+1, len(hits), err)
		}
	}
}

func TestGossipCrossesALine(t *testing.T) {
	// 0 - 1 - 2, announced before any gossip mesh can form: node 1's relay
	// (or the mesh) tells node 2, which fetches what it lacks.
	rs, _, pages := gossipNodes(t, 3, [][2]int{{0, 1}, {1, 2}})
	for i := range 5 {
		c := rs[0].edit(pages[i], "gossiped edit")
		waitFor(t, 5*time.Second, "the edit to reach the far end", func() bool {
			ok, _ := rs[2].Store.Has(context.Background(), c)
			return ok
		})
	}
}

func TestTriggersCoalesce(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	a.addHistory(50, 2, "Page")
	na, nb := startNode(t, a, nil), startNode(t, b, nil)
	connectNodes(t, nb, na)
	for range 20 {
		nb.Trigger(na.ID())
	}
	waitFor(t, 10*time.Second, "the triggered syncs", func() bool {
		nb.mu.Lock()
		defer nb.mu.Unlock()
		t := nb.wanted[na.ID()]
		return t != nil && !t.running && sameHeads(a.heads(), b.heads())
	})
	// One sync, plus at most one more for all the requests made meanwhile.
	if n := nb.Stats().SyncsRun; n > 2 {
		t.Fatalf("20 triggers ran %d syncs", n)
	}
}

// What a sync brings a node (a one-shot `sync` or `join` pushing to it, a
// CI job, say) reaches the node's gossip peers at once: gossip never
// carried it, so the node announces it (by CIDs; a peer that lacks them
// syncs), rather than leaving it to the next periodic announcement.
func TestSyncedRevisionsReachGossipPeers(t *testing.T) {
	rs, nodes, _ := gossipNodes(t, 2, [][2]int{{0, 1}})
	waitFor(t, 3*meshWindow, "gossip meshes to form", func() bool {
		return !nodes[0].gossip.meshForming() && !nodes[1].gossip.meshForming()
	})
	ci := newReplica(t)
	page := ci.addHistory(1, 1, "CI report")[0]
	oneShot := startNode(t, ci, nil)
	if _, err := oneShot.SyncAll(context.Background(), []peer.AddrInfo{info(nodes[0].Host())}, 5*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	if ok, _ := rs[0].Store.Has(context.Background(), page); !ok {
		t.Fatal("the sync did not bring the page to the node")
	}
	waitFor(t, 5*time.Second, "the synced page to reach the node's gossip peer", func() bool {
		ok, _ := rs[1].Store.Has(context.Background(), page)
		return ok
	})
}

// A one-shot sync with two peers that do not know each other (the
// inviter, whom both joined, syncing from a script) leaves both with
// what the other had: the syncs run side by side, and what one brought
// is passed on to the other before the command ends.
func TestOneShotSyncPassesOnWhatEachPeerSent(t *testing.T) {
	ada, bob, carol := newReplica(t), newReplica(t), newReplica(t)
	bob.addHistory(1, 2, "Bob")
	carol.addHistory(1, 3, "Carol")
	nb, nc := startNode(t, bob, nil), startNode(t, carol, nil)
	na := startNode(t, ada, nil)
	outcomes, err := na.SyncAll(context.Background(), []peer.AddrInfo{info(nb.Host()), info(nc.Host())}, 5*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*replica{ada, bob, carol} {
		if r.revisions() != 5 || !sameHeads(r.heads(), ada.heads()) {
			t.Fatalf("after one sync: %d revisions (want 5), heads the same as Ada's: %v", r.revisions(), sameHeads(r.heads(), ada.heads()))
		}
	}
	for _, o := range outcomes {
		want := map[peer.ID][2]int{nb.ID(): {3, 2}, nc.ID(): {2, 3}}[o.Peer] // sent, received
		if o.Err != nil || o.Result.Sent != want[0] || o.Result.Received != want[1] {
			t.Fatalf("with %s: sent %d, received %d, err %v; want %v", o.Peer, o.Result.Sent, o.Result.Received, o.Err, want)
		}
	}
}
