package wiki_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// newReplica makes another replica of a's wiki (its own identity, the same
// wiki id), added to the member list by a (an admin), closed when the test
// ends.
func newReplica(t *testing.T, a *wiki.Repo, name string) *wiki.Repo {
	t.Helper()
	r, err := wiki.InitReplica(filepath.Join(t.TempDir(), name), name, a.Config.Wiki, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := a.AddMember(context.Background(), r.ID.ID, name, wiki.RoleMember); err != nil {
		t.Fatal(err)
	}
	return r
}

// copyAll stores every block of from in to, as a sync would.
func copyAll(t *testing.T, from, to *wiki.Repo) {
	t.Helper()
	ctx := context.Background()
	plan, err := wikitest.Store(from).PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []history.Block
	if err := wikitest.Store(from).SendPlan(ctx, plan, func(b history.Block) error { blocks = append(blocks, b); return nil }); err != nil {
		t.Fatal(err)
	}
	res, err := wikitest.Store(to).Put(ctx, blocks)
	if err != nil {
		t.Fatal(err)
	}
	to.ObserveReceived(ctx, res)
	if err := to.ApplyPolicies(ctx, res.Divergent); err != nil {
		t.Fatal(err)
	}
}

// Two replicas that resolve the same conflict to the same content, each
// with its own signed revision, converge on both revisions as heads: they
// agree, so the page is not in conflict and no replica merges them (every
// replica merging the agreeing heads it held made merge storms: chaos
// seed 35); the next edit joins them.
func TestIdenticalResolutionsConverge(t *testing.T) {
	ctx := context.Background()
	a := newRepo(t)
	b := newReplica(t, a, "bob")
	page, _ := divergedPage(t, a)
	copyAll(t, a, b)
	body := "agreed\n"
	ra, err := a.Resolve(ctx, page, wiki.Resolution{Body: &body})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Resolve(ctx, page, wiki.Resolution{Body: &body})
	if err != nil {
		t.Fatal(err)
	}
	if ra.Equals(rb) {
		t.Fatal("the two resolutions should be distinct revisions (different authors)")
	}
	copyAll(t, a, b)
	copyAll(t, b, a)
	ha, _ := wikitest.Store(a).Heads(ctx, page)
	hb, _ := wikitest.Store(b).Heads(ctx, page)
	if len(ha) != 2 || len(hb) != 2 || !ha[0].Equals(hb[0]) || !ha[1].Equals(hb[1]) {
		t.Fatalf("heads: a %v, b %v", ha, hb)
	}
	for _, r := range []*wiki.Repo{a, b} {
		if cs, err := r.Conflicts(ctx); err != nil || len(cs) != 0 {
			t.Fatalf("conflicts = %v, %v; want none", cs, err)
		}
		row, err := r.FindPage(ctx, page.String())
		if err != nil {
			t.Fatal(err)
		}
		if info, err := r.Info(ctx, row); err != nil || info.Conflict {
			t.Fatalf("info = %+v, %v; want no conflict", info, err)
		}
		if m, err := r.AutoMerge(ctx, page); err != nil || m.Defined() {
			t.Fatalf("AutoMerge = %v, %v; want nothing to merge", m, err)
		}
	}
	// A plain edit builds on both.
	edited := "agreed, then edited\n"
	e, err := a.Edit(ctx, page, wiki.Edit{Body: &edited})
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := wikitest.Store(a).Revision(ctx, e)
	parents := map[cid.Cid]bool{}
	for _, p := range rev.Parents {
		parents[p.Cid] = true
	}
	if len(parents) != 2 || !parents[ra] || !parents[rb] {
		t.Fatalf("the edit's parents are %v, want both resolutions", rev.Parents)
	}
	copyAll(t, a, b)
	for _, r := range []*wiki.Repo{a, b} {
		if probs, err := wikitest.Store(r).Fsck(ctx, nil); err != nil || len(probs) != 0 {
			t.Fatalf("fsck: %v %v", probs, err)
		}
	}
}

// Found by the chaos harness, seed 22: two replicas that held different
// wiki defaults (a change in flight) merged the same heads twice, each
// under its own default. Heads now carry the policy they were written
// under, and both replicas merge them the same way.
func TestRegressionChaosSeed22(t *testing.T) {
	ctx := context.Background()
	a := newRepo(t)
	b := newReplica(t, a, "bob")
	if _, err := a.SetWikiPolicy(ctx, "lww"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetWikiPolicy(ctx, "merge"); err != nil { // b has not heard of a's change
		t.Fatal(err)
	}
	page, _ := divergedCarrying(t, a, "=lww") // written under a's default
	copyAll(t, a, b)                          // b merges what it received
	if err := a.ApplyPolicies(ctx, []cid.Cid{page}); err != nil {
		t.Fatal(err)
	}
	ha, _ := wikitest.Store(a).Heads(ctx, page)
	hb, _ := wikitest.Store(b).Heads(ctx, page)
	if len(ha) != 1 || len(hb) != 1 || !ha[0].Equals(hb[0]) {
		t.Fatalf("the replicas merged differently: a %v, b %v", ha, hb)
	}
	m, _ := wikitest.Store(b).Revision(ctx, hb[0])
	if m.Policy != "lww" {
		t.Fatalf("b merged by %q, want the carried lww", m.Policy)
	}
}

// Repos written by earlier versions hold "same" merges of agreeing heads;
// they still verify, and a "same" merge of heads that differ is refused.
func TestSameMergesOfEarlierVersionsVerify(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	page, err := r.Create(ctx, "P", "base\n", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"one", "two"} { // the same version, two revisions
		if _, err := r.Edit(ctx, page, wiki.Edit{Body: ptr("x\n"), Parent: page, Msg: msg}); err != nil {
			t.Fatal(err)
		}
	}
	heads, _ := wikitest.Store(r).Heads(ctx, page)
	if len(heads) != 2 {
		t.Fatalf("%d heads, want 2 that agree", len(heads))
	}
	sort.Slice(heads, func(i, j int) bool { return bytes.Compare(heads[i].Bytes(), heads[j].Bytes()) < 0 })
	if _, err := wikitest.Store(r).Put(ctx, forgedAuto(t, r, page, heads, "same", "y\n")); err == nil {
		t.Fatal(`a "same" merge with another body was accepted`)
	}
	if _, err := wikitest.Store(r).Put(ctx, forgedAuto(t, r, page, heads, "same", "x\n")); err != nil {
		t.Fatalf(`the "same" merge an earlier version made was refused: %v`, err)
	}
	if now, _ := wikitest.Store(r).Heads(ctx, page); len(now) != 1 {
		t.Fatalf("%d heads after the merge, want 1", len(now))
	}
}

// Found by the chaos harness, seed 35: three replicas make the same edit
// and receive each other's in different orders. Each used to merge the
// agreeing heads it held, each merge was a new head for the others, and
// the merges fed on each other (1,085 revisions of one page, never
// converging). Now no replica merges them: every replica ends with the
// same three heads, one version, no conflict, no revision made.
func TestRegressionChaosSeed35(t *testing.T) {
	ctx := context.Background()
	a := newRepo(t)
	replicas := []*wiki.Repo{a, newReplica(t, a, "b"), newReplica(t, a, "c")}
	page, err := a.Create(ctx, "P", "base\n", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas[1:] {
		copyAll(t, a, r)
	}
	for _, r := range replicas {
		if _, err := r.Edit(ctx, page, wiki.Edit{Body: ptr("the same fix\n")}); err != nil {
			t.Fatal(err)
		}
	}
	// Partial views first: a hears b, b hears c, c hears a; then everything.
	for i, r := range replicas {
		copyAll(t, replicas[(i+1)%3], r)
	}
	for range 2 {
		for _, from := range replicas {
			for _, to := range replicas {
				if from != to {
					copyAll(t, from, to)
				}
			}
		}
	}
	for i, r := range replicas {
		heads, _ := wikitest.Store(r).Heads(ctx, page)
		st, _ := wikitest.Store(r).Stats(ctx)
		if len(heads) != 3 || st.Revisions != 4 || len(st.Conflicts) != 0 {
			t.Fatalf("replica %d: %d heads, %d revisions, conflicts %v; want 3 heads of the edit, no merge, no conflict",
				i, len(heads), st.Revisions, st.Conflicts)
		}
	}
}

// An edit built on one of several agreeing heads (as the terminal UI's
// editor does: it opens on a head) joins them all.
func TestEditOnAnAgreeingHeadJoinsThem(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	page, err := r.Create(ctx, "P", "base\n", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"one", "two"} {
		if _, err := r.Edit(ctx, page, wiki.Edit{Body: ptr("x\n"), Parent: page, Msg: msg}); err != nil {
			t.Fatal(err)
		}
	}
	heads, _ := wikitest.Store(r).Heads(ctx, page)
	if len(heads) != 2 {
		t.Fatalf("%d heads, want 2 that agree", len(heads))
	}
	e, err := r.Edit(ctx, page, wiki.Edit{Body: ptr("y\n"), Parent: heads[1]})
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := wikitest.Store(r).Heads(ctx, page); len(now) != 1 || !now[0].Equals(e) {
		t.Fatalf("heads after the edit = %v, want only %s", now, e)
	}
	rev, _ := wikitest.Store(r).Revision(ctx, e)
	if len(rev.Parents) != 2 || !(rev.Parents[0].Cid.Equals(heads[0]) || rev.Parents[1].Cid.Equals(heads[0])) {
		t.Fatalf("parents = %v, want both heads %v", rev.Parents, heads)
	}
	// A parent that is not a head still forks, as --parent always did.
	f, err := r.Edit(ctx, page, wiki.Edit{Body: ptr("z\n"), Parent: page})
	if err != nil {
		t.Fatal(err)
	}
	if rev, _ := wikitest.Store(r).Revision(ctx, f); len(rev.Parents) != 1 {
		t.Fatalf("an edit on an old revision has parents %v, want just that revision", rev.Parents)
	}
}
