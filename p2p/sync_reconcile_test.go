package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"peerwiki/history"
	"peerwiki/history/historytest"
	"peerwiki/reconcile"
)

// syncModes are the two modes of the sync protocol, as tests force them.
var syncModes = []struct {
	name      string
	listHeads int
}{
	{"list", maxListHeads},
	{"reconcile", 0},
}

// withListHeads sets listHeads for the test (no test of this package
// runs in parallel).
func withListHeads(t *testing.T, n int) {
	old := listHeads
	listHeads = n
	t.Cleanup(func() { listHeads = old })
}

// overhead is what a sync moved that was not blocks, both ways.
func overhead(w wireStats) int64 {
	return w.BytesIn + w.BytesOut - w.BlockBytesIn - w.BlockBytesOut
}

// sharedReplicas returns two replicas holding the same pages pages of one
// revision each: more heads than a HELLO lists, so their syncs reconcile.
func sharedReplicas(t *testing.T, pages int) (a, b *replica, ids []cid.Cid) {
	t.Helper()
	a, b = newReplica(t), newReplica(t)
	ids = a.addHistory(pages, 1, "Shared")
	synced(t, b, a)
	if !sameHeads(a.heads(), b.heads()) {
		t.Fatal("the replicas differ after the first sync")
	}
	return a, b, ids
}

// Replicas of 300 pages reconcile: equal ones in one round trip and a
// few dozen bytes; k edits on one side or both in bytes that grow with k,
// not with the 300 pages; each side receives exactly what it lacked.
func TestReconcileCostsWhatChanged(t *testing.T) {
	a, b, ids := sharedReplicas(t, 300)

	s := synced(t, b, a)
	if !s.asked.Equal || !s.answered.Equal {
		t.Fatalf("equal replicas: asker equal %v, answerer %v", s.asked.Equal, s.answered.Equal)
	}
	if s.asked.Wire.FramesOut != 1 || s.asked.Wire.FramesIn != 1 || overhead(s.asked.Wire) > 120 {
		t.Fatalf("equal replicas: %d frames out, %d in, %d bytes; want 1, 1 and under 120",
			s.asked.Wire.FramesOut, s.asked.Wire.FramesIn, overhead(s.asked.Wire))
	}
	t.Logf("equal: %d bytes", overhead(s.asked.Wire))

	edited := 0
	for _, k := range []int{1, 10} {
		for i := range k {
			a.edit(ids[edited+i], fmt.Sprintf("edit %d of %d\n", i, k))
		}
		edited += k
		s := synced(t, b, a)
		if s.asked.Received != k || s.asked.Sent != 0 || s.answered.Sent != k {
			t.Fatalf("%d edits on the answerer: asker received %d and sent %d, answerer sent %d", k, s.asked.Received, s.asked.Sent, s.answered.Sent)
		}
		if got, bound := overhead(s.asked.Wire), int64(600+900*k); got > bound {
			t.Fatalf("%d edits: %d bytes beyond the blocks, want at most %d", k, got, bound)
		}
		t.Logf("%d edits on the answerer: %d bytes beyond the blocks, %d frames", k, overhead(s.asked.Wire), s.asked.Wire.FramesIn+s.asked.Wire.FramesOut)
		if !sameHeads(a.heads(), b.heads()) {
			t.Fatalf("%d edits: heads differ after the sync", k)
		}
	}

	// Both sides: 3 edits on each, on other pages.
	for i := range 3 {
		a.edit(ids[100+i], "the answerer's\n")
		b.edit(ids[200+i], "the asker's\n")
	}
	// The answerer plans before it has the asker's edits: it cannot tell
	// that the asker holds the first revision of the pages it edited,
	// under heads it does not know, and sends those 3 again (as the list
	// mode does: TestSyncOverPipe, "forked on both sides"); they are not
	// new to the asker.
	s = synced(t, b, a)
	if s.asked.Received != 3 || s.asked.Sent != 3 || s.answered.Received != 3 || s.answered.Sent != 6 {
		t.Fatalf("3 edits each: asker %d/%d, answerer %d/%d (received/sent)", s.asked.Received, s.asked.Sent, s.answered.Received, s.answered.Sent)
	}
	if !sameHeads(a.heads(), b.heads()) || a.revisions() != b.revisions() {
		t.Fatal("heads differ after the sync both ways")
	}
	if again := synced(t, b, a); !again.asked.Equal {
		t.Fatal("a second sync was not equal")
	}
}

// One side holds a page with two heads (a conflict of its own making);
// the other side, which holds the page's first revision, receives both
// and no more, and the page is in conflict on it too.
func TestReconcileConflictOnOneSide(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) {
			withListHeads(t, mode.listHeads)
			a, b, ids := sharedReplicas(t, 10)
			first := a.heads()
			page := ids[3]
			var head cid.Cid
			for _, h := range first {
				if h.Equals(page) {
					head = h
				}
			}
			prev := mustRev(t, a.Store, head)
			a.Put(page, prev.Title, "one version\n", head)
			a.Put(page, prev.Title, "another version\n", head)
			s := synced(t, b, a)
			if s.asked.Received != 2 || s.answered.Sent != 2 || s.asked.Sent != 0 {
				t.Fatalf("asker received %d, answerer sent %d, asker sent %d; want 2, 2, 0", s.asked.Received, s.answered.Sent, s.asked.Sent)
			}
			if !sameHeads(s.asked.Conflicts, []cid.Cid{page}) {
				t.Fatalf("conflicts on the asker: %v, want the page", s.asked.Conflicts)
			}
			if !sameHeads(a.heads(), b.heads()) {
				t.Fatal("heads differ after the sync")
			}
			// The other way round, the two heads travel from the asker.
			c := newReplica(t)
			synced(t, c, b)
			b.edit(ids[5], "one more\n")
			s = synced(t, b, c)
			if s.asked.Sent != 1 || s.answered.Received != 1 {
				t.Fatalf("asker sent %d, answerer received %d; want 1", s.asked.Sent, s.answered.Received)
			}
		})
	}
}

// Revisions that the receiving store does not admit (history.Options.Admit:
// a member list that lacks their author) are deferred in either mode as
// they were: counted as deferred, not stored, offered again by the next
// sync, and nobody's error.
func TestReconcileKeepsMembershipGating(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) {
			withListHeads(t, mode.listHeads)
			var closed atomic.Bool
			admit := func(r *history.Revision) error {
				if closed.Load() {
					return fmt.Errorf("%w: not on the list here", history.ErrNotMember)
				}
				return nil
			}
			a := newReplica(t)
			b := &replica{historytest.NewBuilder(t, historytest.NewStore(t, history.Options{Admit: admit}))}
			ids := a.addHistory(300, 1, "Shared")
			synced(t, b, a)
			closed.Store(true)
			a.edit(ids[0], "from a stranger\n")
			a.edit(ids[1], "from a stranger too\n")
			for round := range 2 {
				s := synced(t, b, a)
				if s.asked.Received != 0 || s.asked.Deferred != 2 || s.asked.Equal {
					t.Fatalf("round %d: received %d, deferred %d, equal %v; want 0, 2, false", round, s.asked.Received, s.asked.Deferred, s.asked.Equal)
				}
			}
			closed.Store(false)
			if s := synced(t, b, a); s.asked.Received != 2 {
				t.Fatalf("once admitted: received %d, want 2", s.asked.Received)
			}
		})
	}
}

// A peer that keeps the reconciliation going (it defers every range, so
// the asker asks again and again) is cut off at the package's bound on
// messages, with a one-line error, and banned; the sync does not hang.
func TestReconcileNeverConvergingPeerIsCutOff(t *testing.T) {
	a, _, _ := sharedReplicas(t, 300)
	na := startNode(t, a, nil)
	hostile := newHostile(t)
	replies := make(chan int, 1)
	hostile.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		fc := newFrameConn(s, time.Now().Add(20*time.Second), nil)
		if _, _, err := fc.read(); err != nil {
			s.Reset()
			return
		}
		// The first reply: a set of 300 keys, the agreed frame, and the
		// whole space deferred; then deferrals for ever.
		msg := binaryUvarints(300, reconFrame)
		msg = append(msg, 4*33)
		n := 0
		for ; n < 1000; n++ {
			if fc.write(frameRecon, msg) != nil || fc.flush() != nil {
				break
			}
			if _, _, err := fc.read(); err != nil {
				break
			}
			msg = []byte{4 * 33}
		}
		replies <- n
	})
	if err := na.Connect(context.Background(), info(hostile)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := na.SyncPeer(context.Background(), hostile.ID())
	if err == nil || !strings.Contains(err.Error(), "too many rounds") || !errors.Is(err, errProtocol) {
		t.Fatalf("sync with a peer that never converges: %v; want too many rounds", err)
	}
	if n := <-replies; n > 40 {
		t.Fatalf("the peer had %d replies read", n)
	}
	if !na.bans.banned(hostile.ID()) {
		t.Fatal("the peer was not banned")
	}
	t.Logf("cut off after %v: %v", time.Since(start), err)
}

func binaryUvarints(vs ...uint64) []byte {
	var out []byte
	for _, v := range vs {
		for v >= 0x80 {
			out = append(out, byte(v)|0x80)
			v >>= 7
		}
		out = append(out, byte(v))
	}
	return out
}

// A peer slow enough to stay under the bound on messages but not under
// the reconciliation's time is cut off at reconTime.
func TestReconcileSlowPeerIsCutOffInTime(t *testing.T) {
	old := reconTime
	reconTime = 300 * time.Millisecond
	t.Cleanup(func() { reconTime = old })
	a, _, _ := sharedReplicas(t, 300)
	asker := pipeNode(a)
	ca, cb := net.Pipe()
	defer ca.Close()
	go func() {
		defer cb.Close()
		fc := frameOn(cb, a.ID.ID, time.Now().Add(10*time.Second), nil)
		if _, _, err := fc.read(); err != nil {
			return
		}
		msg := append(binaryUvarints(300, reconFrame), 4*33)
		for range 100 {
			time.Sleep(50 * time.Millisecond)
			if fc.write(frameRecon, msg) != nil || fc.flush() != nil {
				return
			}
			if _, _, err := fc.read(); err != nil {
				return
			}
			msg = []byte{4 * 33}
		}
	}()
	fc := frameOn(ca, a.ID.ID, time.Now().Add(10*time.Second), nil)
	start := time.Now()
	err := asker.ask(context.Background(), fc, a.ID.ID, &SyncResult{})
	if err == nil || !strings.Contains(err.Error(), "did not end within") {
		t.Fatalf("a slow reconciliation: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("cut off after %v", took)
	}
}

// A peer of an older sync version (here 5) answers this version's HELLO
// (either mode) with the one line it has always sent for another version; the asker reports
// it and bans nobody. (A version-5 HELLO is refused by this side with the
// same line: TestOtherSyncVersionOrWikiIsRefusedNotBanned.)
func TestReconcileOldPeerSaysSo(t *testing.T) {
	a, _, _ := sharedReplicas(t, 300)
	na := startNode(t, a, nil)
	old := newHostile(t)
	old.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		fc := newFrameConn(s, time.Now().Add(10*time.Second), nil)
		_, payload, err := fc.read()
		var v struct {
			V int `cbor:"v"`
		}
		if err != nil || versionDec.Unmarshal(payload, &v) != nil {
			s.Reset()
			return
		}
		fc.writeError(fmt.Sprintf("unsupported sync version %d (this node speaks 5)", v.V))
		s.Close()
	})
	if err := na.Connect(context.Background(), info(old)); err != nil {
		t.Fatal(err)
	}
	_, err := na.SyncPeer(context.Background(), old.ID())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("unsupported sync version %d (this node speaks 5)", protoVersion)) {
		t.Fatalf("sync with a version-5 peer: %v", err)
	}
	if na.bans.banned(old.ID()) || na.Stats().Rejected != 0 {
		t.Fatal("the old peer was banned")
	}
}

// Two nodes over libp2p on 127.0.0.1 with 300 pages each: equal, then
// one side empty of the other's changes, then disjoint new pages on both.
func TestReconcileOverLibp2p(t *testing.T) {
	a, b, ids := sharedReplicas(t, 300)
	na, nb := startNode(t, a, nil), startNode(t, b, nil)
	connectNodes(t, nb, na)
	res, err := nb.SyncPeer(context.Background(), na.ID())
	if err != nil || !res.Equal || overhead(res.Wire) > 120 {
		t.Fatalf("equal: %+v, %v", res, err)
	}
	for i := range 5 {
		a.edit(ids[i], "edited\n")
	}
	a.addHistory(4, 2, "New on a")
	b.addHistory(3, 1, "New on b")
	res, err = nb.SyncPeer(context.Background(), na.ID())
	if err != nil || res.Received != 5+8 || res.Sent != 3 {
		t.Fatalf("received %d, sent %d, %v; want 13 and 3", res.Received, res.Sent, err)
	}
	if !sameHeads(a.heads(), b.heads()) {
		t.Fatal("heads differ")
	}
	if res, err = nb.SyncPeer(context.Background(), na.ID()); err != nil || !res.Equal {
		t.Fatalf("after: %+v, %v", res, err)
	}
}

// The key set a node keeps follows its store: brought up to date after
// new revisions, and read whole when heads changed without one.
func TestKeySetFollowsTheStore(t *testing.T) {
	// Chunks of 4 keys, so that changes split, empty and add chunks.
	old := chunkKeys
	chunkKeys = 4
	t.Cleanup(func() { chunkKeys = old })
	a := newReplica(t)
	ids := a.addHistory(50, 2, "Page")
	n := pipeNode(a)
	ctx := context.Background()
	fresh := func() *keySet {
		ch, err := a.Store.HeadsSince(ctx, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		return newKeySet(ch, items(ch.Rows))
	}
	same := func(what string, x, y *keySet) {
		t.Helper()
		if x.Len() != y.Len() {
			t.Fatalf("%s: %d keys, want %d", what, x.Len(), y.Len())
		}
		for i := range x.Len() {
			xk, xe := x.at(i)
			yk, ye := y.at(i)
			if xk != yk || x.prefix(i+1) != y.prefix(i+1) || !xe.head.Equals(ye.head) {
				t.Fatalf("%s: key %d differs", what, i)
			}
			if got, _ := x.Search(xk); got != i {
				t.Fatalf("%s: key %d found at %d", what, i, got)
			}
			if s, _ := x.Sum(i, x.Len()); s != y.prefix(y.Len()).Sub(y.prefix(i)) {
				t.Fatalf("%s: the sum from %d differs", what, i)
			}
		}
		if ks, _ := x.Keys(nil, 0, x.Len()); len(ks) != x.Len() {
			t.Fatalf("%s: Keys gave %d of %d", what, len(ks), x.Len())
		}
	}
	ks, err := n.localKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same("first", ks, fresh())
	if again, _ := n.localKeys(ctx); again != ks {
		t.Fatal("an unchanged store built a new set")
	}
	a.edit(ids[0], "new\n")
	a.addHistory(2, 1, "More")
	up, _ := n.localKeys(ctx)
	same("after edits", up, fresh())
	// Many new pages land in one chunk's range, and split it.
	a.addHistory(40, 1, "Many more")
	for i := 1; i < 12; i++ {
		a.edit(ids[i], "newer\n")
	}
	up, _ = n.localKeys(ctx)
	same("after many", up, fresh())
	// A page's head replaced without a new revision (as a recount after
	// a change of members does): the summary no longer matches.
	var head, parent int64
	db := a.Store.DB()
	if err := db.QueryRow(`SELECT h.rev, p.parent FROM heads h JOIN parents p ON p.child = h.rev LIMIT 1`).Scan(&head, &parent); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE heads SET rev = ? WHERE rev = ?`, parent, head); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commits'`); err != nil {
		t.Fatal(err)
	}
	re, _ := n.localKeys(ctx)
	same("after a recount", re, fresh())
	// Its sorted list and hash are the store's.
	if hl := re.heads(); !sameHeads(hl.heads, a.heads()) || hl.sum != history.HeadsHash(a.heads()) {
		t.Fatal("the head list differs from the store's")
	}
	var _ reconcile.Set = re
}

// PlanSyncPages, fed with what a reconciliation finds, plans exactly what
// PlanSync plans from the peer's whole head set: the same revisions in
// the same order, and the same unknown heads.
func TestPlanFromTheDifferenceIsPlanSync(t *testing.T) {
	a, b, ids := sharedReplicas(t, 40)
	for i := range 6 {
		a.edit(ids[i], fmt.Sprintf("a's edit %d\n", i))
	}
	for i := 4; i < 10; i++ {
		b.edit(ids[i], fmt.Sprintf("b's edit %d\n", i))
	}
	// a ahead of b on a page, and b ahead of a on another.
	a.edit(ids[20], "a once\n")
	a.edit(ids[20], "a twice\n")
	b.edit(ids[21], "b once\n")
	// A fork on a, new pages on both.
	head := ids[30]
	prev := mustRev(t, a.Store, head)
	a.Put(head, prev.Title, "fork one\n", head)
	a.Put(head, prev.Title, "fork two\n", head)
	a.addHistory(3, 2, "Only a")
	b.addHistory(2, 1, "Only b")

	ctx := context.Background()
	ka, err := pipeNode(a).localKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := pipeNode(b).localKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inB := map[reconcile.Key]bool{}
	for i := range kb.Len() {
		k, _ := kb.at(i)
		inB[k] = true
	}
	inA := map[reconcile.Key]bool{}
	var have []reconcile.Key
	for i := range ka.Len() {
		k, _ := ka.at(i)
		inA[k] = true
		if !inB[k] {
			have = append(have, k)
		}
	}
	var extra []cid.Cid
	for i := range kb.Len() {
		if k, e := kb.at(i); !inA[k] {
			extra = append(extra, e.head)
		}
	}
	mine := ka.entries(have)
	diff, err := pipeNode(a).planDiff(ctx, b.ID.ID, ka, mine, extra)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := a.Store.PlanSync(ctx, b.heads())
	if err != nil {
		t.Fatal(err)
	}
	diffSends, err := a.Store.PlanCIDs(ctx, diff)
	if err != nil {
		t.Fatal(err)
	}
	wholeSends, err := a.Store.PlanCIDs(ctx, whole)
	if err != nil {
		t.Fatal(err)
	}
	if !sameHeads(diffSends, wholeSends) {
		t.Fatalf("from the difference: sends %v\nfrom the whole set: %v", diffSends, wholeSends)
	}
	history.SortCIDs(diff.Unknown)
	history.SortCIDs(whole.Unknown)
	if !sameHeads(diff.Unknown, whole.Unknown) || len(wholeSends) == 0 || len(whole.Unknown) == 0 {
		t.Fatalf("unknown: %v from the difference, %v from the whole set", diff.Unknown, whole.Unknown)
	}
}

// An asker whose DIFF does not match what its reconciliation said it
// holds (more heads, or fewer) is a protocol violation: refused in one
// line and banned.
func TestReconcileDiffMustMatch(t *testing.T) {
	for _, extra := range []int{1, -1} {
		honest := newReplica(t)
		honest.addHistory(3, 1, "Honest")
		nh := startNode(t, honest, nil)
		asker := newHostile(t)
		fc := syncStream(t, asker, nh, 10*time.Second)
		heads := syntheticHeads(300)
		have, _ := askWithKeys(t, fc, syntheticKeys(heads))
		if len(have) != 300 {
			t.Fatalf("the node lacks %d of 300", len(have))
		}
		sent := heads[1:]
		if extra > 0 {
			sent = append(append([]cid.Cid{}, heads...), syntheticHeads(1)...)
		}
		if err := fc.writeCBOR(frameDiff, diffMsg{Heads: encodeCIDs(sent)}); err != nil || fc.flush() != nil {
			t.Fatal(err)
		}
		// The one-line reason, unless the reset that follows it comes
		// first.
		if ft, payload, err := fc.read(); err == nil && (ft != frameError || !strings.Contains(string(payload), "DIFF of")) {
			t.Fatalf("a DIFF of %d heads for 300: frame %d %q", len(sent), ft, payload)
		}
		waitFor(t, 5*time.Second, "the ban", func() bool { return nh.bans.banned(asker.ID()) })
	}
}

// The same syncs with a key set in chunks of 5 keys, so that ranges and
// sums cross chunks and changes split them.
func TestReconcileInSmallChunks(t *testing.T) {
	old := chunkKeys
	chunkKeys = 5
	t.Cleanup(func() { chunkKeys = old })
	t.Run("costs", TestReconcileCostsWhatChanged)
	t.Run("plan", TestPlanFromTheDifferenceIsPlanSync)
	t.Run("conflict", TestReconcileConflictOnOneSide)
}
