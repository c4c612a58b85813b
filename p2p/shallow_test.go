package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A replica with nothing syncs with one of a wiki whose history is large:
// the current versions first, then, in the same SyncPeer, the history in
// deepening rounds; the two end with the same heads and revisions. With
// the history under the threshold, it comes whole in one exchange.
func TestShallowSyncThenDeepen(t *testing.T) {
	for _, tc := range []struct {
		name    string
		whole   int
		history bool
	}{{"shallow first", 10, true}, {"small enough to go whole", 1000, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			full, fresh := newReplica(t), newReplica(t)
			full.addHistory(20, 4, "Page")
			na := startNode(t, full, func(c *Config) { c.shallowWhole = tc.whole })
			nb := startNode(t, fresh, func(c *Config) { c.Shallow = true })
			if err := nb.Connect(ctx, info(na.Host())); err != nil {
				t.Fatal(err)
			}
			res, err := nb.SyncPeer(ctx, full.ID.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.History > 0; got != tc.history {
				t.Fatalf("received %d and %d of history", res.Received, res.History)
			}
			if st, _ := fresh.Store.Shallow(ctx); st.Revisions != 0 {
				t.Fatalf("history still missing: %+v", st)
			}
			sameReplicas(t, full, fresh)
			if probs, err := fresh.Store.Fsck(ctx, nil); err != nil || len(probs) != 0 {
				t.Fatalf("fsck: %v %v", probs, err)
			}
		})
	}
}

// A replica joining a wiki of many pages of two revisions (their
// boundaries' missing parents are the pages' anchors) gets every page,
// then its history, and the search index: at the sync's end, or, for
// join --shallow (LeaveSearchIndex), with the first search.
func TestJoinOfManyPagesIndexesAndCompletes(t *testing.T) {
	ctx := context.Background()
	full := newReplica(t)
	full.addHistory(400, 2, "Page")
	na := startNode(t, full, func(c *Config) { c.shallowWhole = 10 })
	for _, leave := range []bool{false, true} {
		fresh := newReplica(t)
		nb := startNode(t, fresh, func(c *Config) { c.Shallow, c.LeaveSearchIndex = true, leave })
		if err := nb.Connect(ctx, info(na.Host())); err != nil {
			t.Fatal(err)
		}
		res, err := nb.SyncPeer(ctx, full.ID.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res.History == 0 {
			st, _ := fresh.Store.Shallow(ctx)
			t.Fatalf("leave %v: no history fetched (%d received; %+v)", leave, res.Received, st)
		}
		if st, _ := fresh.Store.Shallow(ctx); st.Revisions != 0 {
			t.Fatalf("leave %v: history still missing: %+v", leave, st)
		}
		pending, err := fresh.Store.SearchPending(ctx)
		if err != nil || (pending > 0) != leave {
			t.Fatalf("leave %v: %d pages wait for the search index (%v)", leave, pending, err)
		}
		if leave {
			if _, err := fresh.Store.IndexPending(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		if hits, err := fresh.Store.Search(ctx, "Revision", 500); err != nil || len(hits) != 400 {
			t.Fatalf("leave %v: %d hits (%v)", leave, len(hits), err)
		}
		if probs, err := fresh.Store.Fsck(ctx, nil); err != nil || len(probs) != 0 {
			t.Fatalf("leave %v: fsck: %v %v", leave, probs, err)
		}
	}
}

// A replica's first one-shot sync (a plain join) leaves the search rows
// of the pages it brings for later and still returns with the whole
// history; the first search finds every page. A later one-shot sync of
// the same replica writes what it leaves, as any sync does.
func TestJoinLeavesTheSearchIndexForTheFirstSearch(t *testing.T) {
	ctx := context.Background()
	full := newReplica(t)
	ids := full.addHistory(300, 2, "Page")
	na := startNode(t, full, func(c *Config) { c.shallowWhole = 10 })
	fresh := newReplica(t)
	req := SyncRequest{Peers: []peer.AddrInfo{info(na.Host())}, Timeout: 10 * time.Second}
	cfg := Config{Store: fresh.Store, Identity: fresh.ID, Shallow: true}
	rep, err := SyncOnce(ctx, cfg, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Peers) != 1 || rep.Peers[0].Err != "" || rep.Peers[0].History == 0 {
		t.Fatalf("join: %+v", rep.Peers)
	}
	if st, _ := fresh.Store.Shallow(ctx); st.Revisions != 0 {
		t.Fatalf("history still missing: %+v", st)
	}
	// (A first batch of fewer than 100 new pages is indexed as it is
	// stored.)
	if pending, err := fresh.Store.SearchPending(ctx); err != nil || pending < 100 {
		t.Fatalf("%d pages wait for the search index after the join (%v)", pending, err)
	}
	if _, err := fresh.Store.IndexPending(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if hits, err := fresh.Store.Search(ctx, "Revision", 500); err != nil || len(hits) != 300 {
		t.Fatalf("the first search finds %d of 300 pages (%v)", len(hits), err)
	}
	// A later sync brings a page's edit and indexes it at its end.
	full.edit(ids[0], "# Page 0\n\nAn edit about zeppelins.")
	if _, err := SyncOnce(ctx, cfg, req); err != nil {
		t.Fatal(err)
	}
	if hits, err := fresh.Store.Search(ctx, "zeppelins", 10); err != nil || len(hits) != 1 {
		t.Fatalf("after a later sync a search finds %d pages (%v)", len(hits), err)
	}
	if probs, err := fresh.Store.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck: %v %v", probs, err)
	}
}
