package wiki_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/wiki"
)

// copyAll stores every block of from in to, as a sync would.
func copyAll(t *testing.T, from, to *wiki.Repo) {
	t.Helper()
	ctx := context.Background()
	plan, err := from.Store.PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []history.Block
	if err := from.Store.SendPlan(ctx, plan, func(b history.Block) error { blocks = append(blocks, b); return nil }); err != nil {
		t.Fatal(err)
	}
	res, err := to.Store.Put(ctx, blocks)
	if err != nil {
		t.Fatal(err)
	}
	if err := to.AfterReceive(ctx, res.Divergent); err != nil {
		t.Fatal(err)
	}
}

// Two replicas that resolve the same conflict to the same content, each
// with its own signed revision, converge on one automatic merge of the
// two: nothing differs, so nothing is left for a person.
func TestIdenticalResolutionsConverge(t *testing.T) {
	ctx := context.Background()
	a := newRepo(t)
	key, _ := a.Key()
	b, err := wiki.Create(filepath.Join(t.TempDir(), "b"), "bob", a.Config.Wiki, key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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
	ha, _ := a.Store.Heads(ctx, page)
	hb, _ := b.Store.Heads(ctx, page)
	if len(ha) != 1 || len(hb) != 1 || !ha[0].Equals(hb[0]) {
		t.Fatalf("heads: a %v, b %v", ha, hb)
	}
	m, _ := a.Store.Revision(ctx, ha[0])
	if !m.IsAuto() || m.Policy != "same" || len(m.Parents) != 2 {
		t.Fatalf("merge revision = %+v", m)
	}
	parents := map[cid.Cid]bool{m.Parents[0].Cid: true, m.Parents[1].Cid: true}
	if !parents[ra] || !parents[rb] {
		t.Fatal("the merge does not keep both resolutions as parents")
	}
	for _, r := range []*wiki.Repo{a, b} {
		if probs, err := r.Store.Fsck(ctx, nil); err != nil || len(probs) != 0 {
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
	key, _ := a.Key()
	b, err := wiki.Create(filepath.Join(t.TempDir(), "b"), "bob", a.Config.Wiki, key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.SetWikiPolicy(ctx, "lww"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetWikiPolicy(ctx, "merge"); err != nil { // b has not heard of a's change
		t.Fatal(err)
	}
	page, _ := divergedCarrying(t, a, "=lww") // written under a's default
	copyAll(t, a, b)                          // b merges what it received
	if err := a.AfterReceive(ctx, []cid.Cid{page}); err != nil {
		t.Fatal(err)
	}
	ha, _ := a.Store.Heads(ctx, page)
	hb, _ := b.Store.Heads(ctx, page)
	if len(ha) != 1 || len(hb) != 1 || !ha[0].Equals(hb[0]) {
		t.Fatalf("the replicas merged differently: a %v, b %v", ha, hb)
	}
	m, _ := b.Store.Revision(ctx, hb[0])
	if m.Policy != "lww" {
		t.Fatalf("b merged by %q, want the carried lww", m.Policy)
	}
}
