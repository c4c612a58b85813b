package p2p

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A running node of a wiki too large to be sent whole keeps whole copies
// of its current versions, follows them as pages are edited, and answers
// a shallow join from them: the joiner ends with the same heads and
// blocks, and both replicas pass fsck (which checks every copy).
func TestNodeKeepsWholeCopiesAndAJoinUsesThem(t *testing.T) {
	ctx := context.Background()
	full, fresh := newReplica(t), newReplica(t)
	pages := full.addHistory(300, 3, "Page")
	na := startNode(t, full, func(c *Config) {
		c.shallowWhole, c.WatchCommits = 10, true
		c.wholeCopyFirst, c.wholeCopyEvery = 10*time.Millisecond, 20*time.Millisecond
	})
	copies := func() (n int) {
		if err := full.Store.DB().QueryRow(`SELECT count(*) FROM wholecopy`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, 10*time.Second, "a copy of every current version", func() bool { return copies() == len(pages) })

	// An edit: the page's new current version gets its copy, the old one
	// loses its.
	full.edit(pages[0], "# Page 0\n\nRevision 3 of page 0.\n"+strings.Repeat("Some text of the page. ", 12))
	var newBody int64
	if err := full.Store.DB().QueryRow(`SELECT r.body FROM heads h JOIN revisions r ON r.id = h.rev WHERE h.page =
		(SELECT id FROM blocks WHERE cid = ?)`, pages[0].Bytes()).Scan(&newBody); err != nil {
		t.Fatal(err)
	}
	var depth int
	if err := full.Store.DB().QueryRow(`SELECT depth FROM blocks WHERE id = ?`, newBody).Scan(&depth); err != nil || depth == 0 {
		t.Fatalf("the edit's body is stored at depth %d (%v), not as a delta", depth, err)
	}
	waitFor(t, 10*time.Second, "the edited page's copy", func() bool {
		var n int
		full.Store.DB().QueryRow(`SELECT count(*) FROM wholecopy WHERE id = ?`, newBody).Scan(&n)
		return n == 1 && copies() <= len(pages)
	})

	nb := startNode(t, fresh, func(c *Config) { c.Shallow = true })
	if err := nb.Connect(ctx, info(na.Host())); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.SyncPeer(ctx, full.ID.ID); err != nil {
		t.Fatal(err)
	}
	sameReplicas(t, full, fresh)
	for name, r := range map[string]*replica{"answering": full, "joined": fresh} {
		probs, err := r.Store.Fsck(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range probs {
			if !p.Warning { // the search rows addHistory left for later
				t.Fatalf("fsck of the %s replica: %v", name, p)
			}
		}
	}
}
