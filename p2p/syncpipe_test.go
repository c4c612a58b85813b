package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// pipeNode is what the sync protocol's steps (ask, answer) use of a node:
// its store, caches and work budget, and no host.
func pipeNode(r *replica) *Node {
	return &Node{cfg: Config{Store: r.Store, Identity: r.ID}, store: r.Store, wiki: r.Store.Wiki(),
		log: slog.New(slog.DiscardHandler), work: newWorkBudget(defaultWorkShare),
		fromNet: map[cid.Cid]bool{}, wake: make(chan struct{}, 1)}
}

// pipeSync is what one sync over net.Pipe did on each side.
type pipeSync struct {
	asked, answered   SyncResult
	askErr, answerErr error
}

// runPipeSync syncs asker with answerer over net.Pipe, without libp2p:
// each side closes its end when its step returns, as a node closes its
// stream.
func runPipeSync(t *testing.T, asker, answerer *replica) pipeSync {
	t.Helper()
	return runPipeSyncOf(t, asker, answerer, pipeNode(asker), pipeNode(answerer))
}

// runPipeSyncOf is runPipeSync with the nodes given.
func runPipeSyncOf(t *testing.T, asker, answerer *replica, askerNode, answerNode *Node) pipeSync {
	t.Helper()
	var s pipeSync
	ca, cb := net.Pipe()
	deadline := time.Now().Add(30 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cb.Close()
		p := asker.ID.ID
		fc := frameOn(cb, p, deadline, nil)
		fc.heads = &answerNode.peerHeads
		defer fc.release()
		s.answered.Peer = p
		s.answerErr = answerNode.answer(ctx, fc, p, &s.answered)
		s.answered.Wire = *fc.stats
	}()
	p := answerer.ID.ID
	fc := frameOn(ca, p, deadline, nil)
	fc.heads = &askerNode.peerHeads
	s.asked.Peer = p
	s.askErr = askerNode.ask(ctx, fc, p, &s.asked)
	s.asked.Wire = *fc.stats
	fc.release()
	ca.Close()
	<-done
	return s
}

// synced syncs asker with answerer over a pipe and fails the test unless
// both sides succeeded.
func synced(t *testing.T, asker, answerer *replica) pipeSync {
	t.Helper()
	s := runPipeSync(t, asker, answerer)
	if s.askErr != nil || s.answerErr != nil {
		t.Fatalf("sync: asker %v, answerer %v", s.askErr, s.answerErr)
	}
	return s
}

// Both sides of the sync protocol, run over net.Pipe: what each sends and
// receives for head sets that are equal, empty on one side, disjoint, or
// forked, in either mode of the protocol (the sets are small: the
// reconciliation is forced by setting listHeads to 0).
func TestSyncOverPipe(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) {
			withListHeads(t, mode.listHeads)
			testSyncOverPipe(t)
		})
	}
}

func testSyncOverPipe(t *testing.T) {
	cases := []struct {
		name string
		// setup fills the stores; it returns the pages expected in conflict
		// after the sync.
		setup func(t *testing.T, asker, answerer *replica) []cid.Cid
		// asked and answered are the revisions each side received (new
		// ones) and sent.
		asked, answered [2]int
		equal           bool
	}{
		{name: "both empty", equal: true,
			setup: func(*testing.T, *replica, *replica) []cid.Cid { return nil }},
		{name: "equal heads", equal: true,
			setup: func(t *testing.T, asker, answerer *replica) []cid.Cid {
				asker.addHistory(3, 2, "Shared")
				answerer.addHistory(2, 1, "Theirs")
				synced(t, asker, answerer)
				return nil
			}},
		{name: "asker empty", asked: [2]int{6, 0}, answered: [2]int{0, 6},
			setup: func(t *testing.T, _, answerer *replica) []cid.Cid {
				answerer.addHistory(3, 2, "Theirs")
				return nil
			}},
		{name: "answerer empty", asked: [2]int{0, 6}, answered: [2]int{6, 0},
			setup: func(t *testing.T, asker, _ *replica) []cid.Cid {
				asker.addHistory(3, 2, "Ours")
				return nil
			}},
		{name: "disjoint pages", asked: [2]int{4, 12}, answered: [2]int{12, 4},
			setup: func(t *testing.T, asker, answerer *replica) []cid.Cid {
				asker.addHistory(4, 3, "Ours")
				answerer.addHistory(2, 2, "Theirs")
				return nil
			}},
		// The answerer plans before it has the asker's revisions: it
		// cannot tell that the asker has the forked page's first
		// revision, under a head it does not know, and sends it again.
		// The asker plans after, knowing all of the answerer's heads.
		{name: "forked on both sides", asked: [2]int{1 + 2, 1 + 3}, answered: [2]int{1 + 3, 1 + 1 + 2},
			setup: func(t *testing.T, asker, answerer *replica) []cid.Cid {
				shared := asker.addHistory(2, 1, "Shared")
				synced(t, asker, answerer)
				asker.edit(shared[0], "the asker's version\n")
				answerer.edit(shared[0], "the answerer's version\n")
				asker.addHistory(1, 3, "Ours")
				answerer.addHistory(1, 2, "Theirs")
				return shared[:1]
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asker, answerer := newReplica(t), newReplica(t)
			conflicts := tc.setup(t, asker, answerer)
			s := synced(t, asker, answerer)
			if s.asked.Equal != tc.equal || s.answered.Equal != tc.equal {
				t.Fatalf("equal: asker %v, answerer %v; want %v", s.asked.Equal, s.answered.Equal, tc.equal)
			}
			if got := [2]int{s.asked.Received, s.asked.Sent}; got != tc.asked {
				t.Fatalf("asker received and sent %v, want %v", got, tc.asked)
			}
			if got := [2]int{s.answered.Received, s.answered.Sent}; got != tc.answered {
				t.Fatalf("answerer received and sent %v, want %v", got, tc.answered)
			}
			if !sameHeads(asker.heads(), answerer.heads()) || asker.revisions() != answerer.revisions() {
				t.Fatalf("after the sync: %d and %d revisions, heads %v and %v", asker.revisions(), answerer.revisions(), asker.heads(), answerer.heads())
			}
			for side, got := range map[string][]cid.Cid{"asker": s.asked.Conflicts, "answerer": s.answered.Conflicts} {
				if !sameHeads(got, conflicts) {
					t.Fatalf("%s's conflicts %v, want %v", side, got, conflicts)
				}
			}
			// The next sync finds the heads equal.
			if again := synced(t, asker, answerer); !again.asked.Equal {
				t.Fatalf("a second sync was not equal: %+v", again.asked)
			}
		})
	}
}

// A batch the receiving store refuses as bad data (here a forged
// automatic merge) fails the sync with an error badData knows, whichever
// side sent it, and nothing of the batch is stored.
func TestSyncOverPipeRefusesBadData(t *testing.T) {
	forged := func(history.Reader, cid.Cid, *history.Revision) error {
		return fmt.Errorf("%w: does not recompute", history.ErrForgedMerge)
	}
	cases := []struct {
		name string
		// liarAsks: the replica holding the forged merge is the asker
		// (it pushes), else the answerer.
		liarAsks bool
	}{
		{name: "from the answerer"},
		{name: "from the asker", liarAsks: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			liar, honest := newReplica(t), newReplica(t)
			// The liar's store takes any automatic merge; the honest one
			// finds every one forged, as wiki's would one that does not
			// recompute.
			liar.Store = historytest.NewStore(t, history.Options{VerifyAuto: func(history.Reader, cid.Cid, *history.Revision) error { return nil }})
			honest.Store = historytest.NewStore(t, history.Options{VerifyAuto: forged})
			merge := forgedMerge(t, liar)
			var s pipeSync
			var errOfHonest error
			if tc.liarAsks {
				s = runPipeSync(t, liar, honest)
				errOfHonest = s.answerErr
				if s.askErr == nil || !strings.Contains(s.askErr.Error(), "refused") {
					t.Fatalf("the liar's push: %v, want the honest side's refusal", s.askErr)
				}
			} else {
				s = runPipeSync(t, honest, liar)
				errOfHonest = s.askErr
			}
			if !errors.Is(errOfHonest, history.ErrForgedMerge) || !badData(errOfHonest) {
				t.Fatalf("the honest side's error: %v, want bad data (a forged merge)", errOfHonest)
			}
			if ok, _ := honest.Store.Has(context.Background(), merge); ok || honest.revisions() != 0 {
				t.Fatalf("stored %d revisions of a bad batch (the merge: %v)", honest.revisions(), ok)
			}
		})
	}
}

// forgedMerge stores on r a page of two heads and an automatic merge of
// them, and returns the merge.
func forgedMerge(t *testing.T, r *replica) cid.Cid {
	t.Helper()
	page := r.Put(cid.Undef, "Merged", "base\n")
	a := r.Put(page, "Merged", "ours\n", page)
	b := r.Put(page, "Merged", "theirs\n", page)
	ctx := context.Background()
	var parents []*history.Revision
	for _, c := range []cid.Cid{a, b} {
		rev, err := r.Store.Revision(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		parents = append(parents, rev)
	}
	bodies, err := history.BodyBlocks("forged merge\n")
	if err != nil {
		t.Fatal(err)
	}
	m := &history.Revision{Wiki: r.Store.Wiki(), Page: &history.Link{Cid: page}, Title: "Merged", Body: history.Link{Cid: bodies[0].Cid}, Policy: "merge"}
	m.SetParents([]cid.Cid{a, b})
	m.StampMerge(parents)
	mb, err := m.Block()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Store.Put(ctx, append(bodies, mb)); err != nil {
		t.Fatal(err)
	}
	return mb.Cid
}

// A new replica is answered without our heads as keys: it lists a few
// heads (a join lists its wiki's system pages, which we hold older
// revisions of), none of which we lack, so nothing of ours is compared
// with them nor sent back, and reading them whole kept a node that had
// just started from sending a join its first block for seconds. A sync
// whose list could equal our heads, or names a head we lack, reads them.
func TestNewReplicaIsAnsweredWithoutKeys(t *testing.T) {
	asker, answerer := newReplica(t), newReplica(t)
	shared := answerer.addHistory(1, 1, "Shared")
	synced(t, asker, answerer) // the asker holds the page's first revision
	answerer.edit(shared[0], "a later version\n")
	answerer.addHistory(3, 2, "Theirs")
	node := pipeNode(answerer)
	s := runPipeSyncOf(t, asker, answerer, pipeNode(asker), node)
	if s.askErr != nil || s.answerErr != nil {
		t.Fatalf("sync: asker %v, answerer %v", s.askErr, s.answerErr)
	}
	if s.asked.Received != 7 || s.answered.Equal {
		t.Fatalf("asker received %d revisions (equal %v), want 7", s.asked.Received, s.answered.Equal)
	}
	if node.heads.keys != nil {
		t.Fatal("the answerer read its heads as keys for a list that could not equal them")
	}
	s = runPipeSyncOf(t, asker, answerer, pipeNode(asker), node)
	if s.askErr != nil || s.answerErr != nil || !s.answered.Equal {
		t.Fatalf("second sync: asker %v, answerer %v, equal %v", s.askErr, s.answerErr, s.answered.Equal)
	}
	if node.heads.keys == nil {
		t.Fatal("the answerer told equal heads without reading its own")
	}
	// A head the answerer lacks: its heads go back in END.
	asker.addHistory(1, 1, "Ours")
	node = pipeNode(answerer)
	s = runPipeSyncOf(t, asker, answerer, pipeNode(asker), node)
	if s.askErr != nil || s.answerErr != nil || s.answered.Received != 1 || s.asked.Received != 0 {
		t.Fatalf("third sync: asker %v, answerer %v; answerer received %d, asker %d", s.askErr, s.answerErr, s.answered.Received, s.asked.Received)
	}
	if !sameHeads(asker.heads(), answerer.heads()) {
		t.Fatal("heads differ after the third sync")
	}
}
