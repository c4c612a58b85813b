package history_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// The sync plan as a plain value: for a given store and a peer's head
// set, which revisions go out (by page, parents first) and which of the
// peer's heads are unknown here.
func TestPlanSync(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	// Page A: a1 <- a2 <- a3. Page B: b1 <- b2, and b1 <- b2x (a fork).
	a1 := b.Put(cid.Undef, "A", "a1")
	a2 := b.Put(a1, "A", "a2", a1)
	a3 := b.Put(a1, "A", "a3", a2)
	b1 := b.Put(cid.Undef, "B", "b1")
	b2 := b.Put(b1, "B", "b2", b1)
	b2x := b.Put(b1, "B", "b2x", b1)
	// A revision this store never saw (another replica's).
	other := historytest.NewStore(t, history.Options{})
	ob := historytest.NewBuilder(t, other)
	unknown := ob.Put(cid.Undef, "C", "c1")

	all := []cid.Cid{a1, a2, a3, b1, b2, b2x}
	for _, tc := range []struct {
		name        string
		theirs      []cid.Cid
		sends       []cid.Cid // in order, or nil for none
		anyOrderOfB bool      // b2 and b2x are of one height: either order
		unknown     []cid.Cid
	}{
		{name: "an empty peer gets everything, parents first", theirs: nil, sends: all, anyOrderOfB: true},
		{name: "equal head sets send nothing", theirs: []cid.Cid{a3, b2, b2x}},
		{name: "overlapping: the peer is behind on A only", theirs: []cid.Cid{a1, b2, b2x}, sends: []cid.Cid{a2, a3}},
		{name: "forked: the peer holds one side of B's fork", theirs: []cid.Cid{a3, b2}, sends: []cid.Cid{b2x}},
		{name: "superset: the peer has a head unknown here", theirs: []cid.Cid{a3, b2, b2x, unknown}, unknown: []cid.Cid{unknown}},
		{name: "unknown heads alone: everything goes", theirs: []cid.Cid{unknown}, sends: all, anyOrderOfB: true, unknown: []cid.Cid{unknown}},
		{name: "an old head of a page known by a newer one", theirs: []cid.Cid{a2, a3, b1}, sends: []cid.Cid{b2, b2x}, anyOrderOfB: true},
	} {
		plan, err := s.PlanSync(ctx, tc.theirs)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !sameCIDs(planCIDs(t, s, plan), tc.sends, tc.anyOrderOfB) {
			t.Errorf("%s: sends %v, want %v", tc.name, planCIDs(t, s, plan), tc.sends)
		}
		sent := map[cid.Cid]bool{}
		for _, c := range planCIDs(t, s, plan) {
			r, err := s.Revision(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range r.ParentCIDs() {
				if !sent[p] && slices.Contains(planCIDs(t, s, plan), p) {
					t.Errorf("%s: %s goes before its parent %s", tc.name, c, p)
				}
			}
			sent[c] = true
		}
		if plan.Revisions() != len(planCIDs(t, s, plan)) {
			t.Errorf("%s: Revisions() = %d, %d sent", tc.name, plan.Revisions(), len(planCIDs(t, s, plan)))
		}
		if !sameCIDs(plan.Unknown, tc.unknown, false) {
			t.Errorf("%s: unknown %v, want %v", tc.name, plan.Unknown, tc.unknown)
		}
	}
}

// planCIDs is what plan sends, by CID.
func planCIDs(t *testing.T, s *history.Store, plan *history.SyncPlan) []cid.Cid {
	t.Helper()
	cs, err := s.PlanCIDs(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// sameCIDs compares CID lists; loose allows any order (the plan orders
// one page's revisions of one height by row id; the test checks parents
// first separately).
func sameCIDs(got, want []cid.Cid, loose bool) bool {
	if len(got) != len(want) {
		return false
	}
	if loose {
		count := map[cid.Cid]int{}
		for _, c := range got {
			count[c]++
		}
		for _, c := range want {
			count[c]--
		}
		for _, n := range count {
			if n != 0 {
				return false
			}
		}
		return true
	}
	for i := range got {
		if !got[i].Equals(want[i]) {
			return false
		}
	}
	return true
}

// The wiki's own pages (an unsigned genesis: settings, members) go out
// before every other page, so that a receiver holds the member list
// before the revisions it governs; each page's revisions stay parents
// first.
func TestPlanSyncSendsSystemPagesFirst(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{VerifyAuto: acceptAuto})
	b := historytest.NewBuilder(t, s)
	a1 := b.Put(cid.Undef, "A", "a1")
	a2 := b.Put(a1, "A", "a2", a1)
	settings := systemPage(t, s, "settings")
	s1 := b.Put(settings, "settings", "policy = merge\n", settings)
	members := systemPage(t, s, "members")
	m1 := b.Put(members, "members", "add\n", members)
	c1 := b.Put(cid.Undef, "C", "c1")
	for _, tc := range []struct {
		name   string
		theirs []cid.Cid
		sends  []cid.Cid
	}{
		{"an empty peer", nil, []cid.Cid{settings, s1, members, m1, a1, a2, c1}},
		{"a peer behind on A and on the members", []cid.Cid{a1, s1, members, c1}, []cid.Cid{m1, a2}},
	} {
		plan, err := s.PlanSync(ctx, tc.theirs)
		if err != nil {
			t.Fatal(err)
		}
		if !sameCIDs(planCIDs(t, s, plan), tc.sends, false) {
			t.Errorf("%s: sends %v, want %v", tc.name, planCIDs(t, s, plan), tc.sends)
		}
	}
}
