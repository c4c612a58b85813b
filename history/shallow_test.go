package history_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// transfer sends a plan from src into dst in batches of per blocks, as a
// sync does, letting dst store a shallow history when shallow is set.
func transfer(t *testing.T, src, dst *history.Store, plan *history.SyncPlan, shallow bool, per int) error {
	t.Helper()
	ctx := context.Background()
	var blocks []history.Block
	if err := src.SendPlan(ctx, plan, func(b history.Block) error {
		blocks = append(blocks, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	leave := func(*history.Checked) {}
	if shallow {
		leave = (*history.Checked).AllowShallow
	}
	for from := 0; from < len(blocks); from += per {
		if _, err := putWith(ctx, dst, blocks[from:min(from+per, len(blocks))], leave); err != nil {
			return err
		}
	}
	return nil
}

// shallowCopy stores in dst what a shallow join from src brings (the
// current version of every page, PlanShallow), in batches of per blocks.
func shallowCopy(t *testing.T, src, dst *history.Store, per int) {
	t.Helper()
	plan, err := src.PlanShallow(context.Background(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := transfer(t, src, dst, plan, true, per); err != nil {
		t.Fatal(err)
	}
}

// putWith checks and stores blocks as one batch with the leave given
// ((*history.Checked).AllowShallow, as a shallow sync; WaitForHistory,
// as any sync).
func putWith(ctx context.Context, s *history.Store, blocks []history.Block, leave func(*history.Checked)) (*history.PutResult, error) {
	c, err := s.Check(blocks)
	if err != nil {
		return nil, err
	}
	leave(c)
	return s.PutChecked(ctx, c)
}

// putWaiting stores blocks as a sync does: a revision lacking its parent
// may wait.
func putWaiting(ctx context.Context, s *history.Store, blocks []history.Block) (*history.PutResult, error) {
	return putWith(ctx, s, blocks, (*history.Checked).WaitForHistory)
}

func problems(t *testing.T, s *history.Store) (bad, warnings []string) {
	t.Helper()
	found, err := s.Fsck(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range found {
		if p.Warning {
			warnings = append(warnings, p.String())
		} else {
			bad = append(bad, p.String())
		}
	}
	return bad, warnings
}

func logCIDs(t *testing.T, s *history.Store, page cid.Cid) []string {
	t.Helper()
	entries, err := s.Log(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Cid.String())
	}
	return out
}

func userVersion(t *testing.T, s *history.Store) int {
	t.Helper()
	var v int
	if err := s.DB().QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A replica joins with the current version of every page first: a page
// with a line of history comes as its anchor and its head, a page of one
// revision, a page in conflict and a page whose head is a resolution come
// whole. It is readable and writable at once, syncs both ways with the
// full replica, merges on the shallow page with the right base, and,
// once its history has come, is a full replica like the other.
func TestShallowJoinThenHistory(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	a0 := b.Put(cid.Undef, "A", "a0\n")
	a1 := b.Put(a0, "A", "a1\n", a0)
	a2 := b.Put(a0, "A", "a2\n", a1)
	a3 := b.Put(a0, "A renamed", "a3\n", a2)
	s0 := b.Put(cid.Undef, "S", "single\n")
	c0 := b.Put(cid.Undef, "C", "c0\n")
	c1 := b.Put(c0, "C", "left\n", c0)
	c2 := b.Put(c0, "C", "right\n", c0)
	m0 := b.Put(cid.Undef, "M", "m0\n")
	m1 := b.Put(m0, "M", "m1\n", m0)
	m2 := b.Put(m0, "M", "m2\n", m0)
	m3 := b.Put(m0, "M", "m1 and m2\n", m1, m2)

	// A small history goes whole when the asker lets it.
	if small, err := src.PlanShallow(ctx, nil, 100); err != nil || small.Anchors != 0 || small.Revisions() != 12 {
		t.Fatalf("a small history, shallow unless small: %d revisions, %d anchors, %v", small.Revisions(), small.Anchors, err)
	}
	plan, err := src.PlanShallow(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Anchors != 1 {
		t.Fatalf("%d pages sent shallow, want 1 (A)", plan.Anchors)
	}
	for _, c := range []cid.Cid{a0, a3, s0, c0, c1, c2, m0, m1, m2, m3} {
		if !slices.Contains(planCIDs(t, src, plan), c) {
			t.Errorf("the shallow plan leaves out %s", c)
		}
	}
	for _, c := range []cid.Cid{a1, a2} {
		if slices.Contains(planCIDs(t, src, plan), c) {
			t.Errorf("the shallow plan sends history %s", c)
		}
	}
	dst := historytest.NewStore(t, history.Options{})
	// Without leave, a revision whose parent is missing is refused.
	if err := transfer(t, src, dst, plan, false, 1000); !errors.Is(err, history.ErrMissingParent) && !errors.Is(err, history.ErrMissingBody) {
		t.Fatalf("a shallow plan stored without AllowShallow: %v", err)
	}
	dst = historytest.NewStore(t, history.Options{})
	// One block a batch: the anchor, the body and the head apart.
	if err := transfer(t, src, dst, plan, true, 1); err != nil {
		t.Fatal(err)
	}
	for _, page := range []cid.Cid{a0, s0, c0, m0} {
		want, _ := src.Heads(ctx, page)
		got, err := dst.Heads(ctx, page)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("page %s: heads %v, want %v (%v)", page, got, want, err)
		}
	}
	row, err := dst.Page(ctx, a0)
	if err != nil || row.Title != "A renamed" {
		t.Fatalf("shallow page: %+v, %v", row, err)
	}
	if shallow, _ := dst.PageShallow(ctx, a0); !shallow {
		t.Fatal("page A is not marked shallow")
	}
	if shallow, _ := dst.PageShallow(ctx, c0); shallow {
		t.Fatal("page C is marked shallow")
	}
	st, err := dst.Shallow(ctx)
	if err != nil || st.Pages != 1 || st.Revisions != 1 {
		t.Fatalf("shallow state %+v, %v", st, err)
	}
	if v := userVersion(t, dst); v != 7 {
		t.Fatalf("a shallow store's user_version is %d, want 7 (older binaries refuse it)", v)
	}
	bad, warnings := problems(t, dst)
	if len(bad) > 0 || len(warnings) != 1 {
		t.Fatalf("fsck of the shallow replica: %v; warnings %v", bad, warnings)
	}
	if got := logCIDs(t, dst, a0); !slices.Equal(got, []string{a3.String()}) {
		t.Fatalf("shallow log %v", got)
	}

	// A shallow replica answers a shallow join with what it has: the
	// anchor and its boundary. The history then comes from a full one.
	third := historytest.NewStore(t, history.Options{})
	shallowCopy(t, dst, third, 3)
	h1, _ := dst.HeadSet(ctx)
	h3, _ := third.HeadSet(ctx)
	if !slices.Equal(h1, h3) {
		t.Fatalf("joined from a shallow replica: heads %v, want %v", h3, h1)
	}
	if st, _ := third.Shallow(ctx); st.Pages != 1 {
		t.Fatalf("joined from a shallow replica: %+v", st)
	}
	if deep, err := dst.PlanDeepen(ctx, []cid.Cid{a2}); err != nil || deep.Revisions() != 0 {
		t.Fatalf("a shallow replica offers history it lacks: %v %v", planCIDs(t, dst, deep), err)
	}
	wants3, _ := third.ShallowWants(ctx, 10)
	deep3, err := src.PlanDeepen(ctx, wants3)
	if err != nil {
		t.Fatal(err)
	}
	if err := transfer(t, src, third, deep3, true, 1); err != nil {
		t.Fatal(err)
	}
	if bad, warnings := problems(t, third); len(bad)+len(warnings) > 0 {
		t.Fatalf("fsck after the history came from another replica: %v %v", bad, warnings)
	}

	// Writable: an edit on the shallow replica, and one on the full one.
	bd := historytest.NewBuilder(t, dst)
	bd.Clock = b.Clock + 10
	a4 := bd.Put(a0, "A renamed", "a4 from the shallow replica\n", a3)
	a5 := b.Put(a0, "A renamed", "a5 from the full replica\n", a3)
	srcHeads, _ := src.HeadSet(ctx)
	up, err := dst.PlanSync(ctx, srcHeads)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(planCIDs(t, dst, up), a4) {
		t.Fatalf("the shallow replica sends %v, want its edit", planCIDs(t, dst, up))
	}
	if err := transfer(t, dst, src, up, false, 1000); err != nil {
		t.Fatal(err)
	}
	dstHeads, _ := dst.HeadSet(ctx)
	down, err := src.PlanSync(ctx, dstHeads)
	if err != nil {
		t.Fatal(err)
	}
	if err := transfer(t, src, dst, down, false, 1000); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*history.Store{src, dst} {
		base, err := s.MergeBase(ctx, a4, a5)
		if err != nil || !base.Equals(a3) {
			t.Fatalf("merge base %s, %v; want %s", base, err, a3)
		}
	}

	// A branch from below the boundary (a member offline for long edits
	// an old revision) waits for the history instead of failing the sync.
	branch, branchBlocks := b.Batch(a0, "A", "an old branch\n", a1)
	if _, err := dst.Put(ctx, branchBlocks); !errors.Is(err, history.ErrMissingParent) {
		t.Fatalf("a branch from below the boundary, not from a sync: %v", err)
	}
	res, err := putWaiting(ctx, dst, branchBlocks)
	if err != nil || len(res.Deferred) != 1 || !errors.Is(res.Deferred[0].Err, history.ErrShallow) {
		t.Fatalf("a branch from below the boundary: %+v, %v", res, err)
	}

	// The history follows.
	wants, err := dst.ShallowWants(ctx, 100)
	if err != nil || !slices.Equal(wants, []cid.Cid{a2}) {
		t.Fatalf("wants %v, %v", wants, err)
	}
	deep, err := src.PlanDeepen(ctx, wants)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(planCIDs(t, src, deep), []cid.Cid{a0, a1, a2}) {
		t.Fatalf("deepening sends %v", planCIDs(t, src, deep))
	}
	if err := transfer(t, src, dst, deep, true, 2); err != nil {
		t.Fatal(err)
	}
	if st, _ := dst.Shallow(ctx); st.Revisions != 0 {
		t.Fatalf("still shallow: %+v", st)
	}
	if v := userVersion(t, dst); v != 6 {
		t.Fatalf("a whole store's user_version is %d, want 6", v)
	}
	for _, s := range []*history.Store{src, dst} {
		if bad, warnings := problems(t, s); len(bad)+len(warnings) > 0 {
			t.Fatalf("fsck: %v %v", bad, warnings)
		}
	}
	if res, err := dst.Put(ctx, branchBlocks); err != nil || len(res.Revisions) != 1 || !res.Revisions[0].Equals(branch) {
		t.Fatalf("the branch once the history came: %+v, %v", res, err)
	}
	if _, err := src.Put(ctx, branchBlocks); err != nil {
		t.Fatal(err)
	}
	if got, want := logCIDs(t, dst, a0), logCIDs(t, src, a0); !slices.Equal(got, want) {
		t.Fatalf("log after the history came: %v, want %v", got, want)
	}
	h1, _ = src.HeadSet(ctx)
	h2, _ := dst.HeadSet(ctx)
	if !slices.Equal(h1, h2) {
		t.Fatalf("heads differ: %v and %v", h1, h2)
	}
}

// What a peer may not pass off in a shallow sync: an automatic merge or
// a revision of two parents without its history, a page named by a block
// that is no genesis, and a boundary whose height its parent belies.
func TestShallowRefusesWhatItCannotCheck(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	p0 := b.Put(cid.Undef, "P", "p0\n")
	p1 := b.Put(p0, "P", "p1\n", p0)
	p2 := b.Put(p0, "P", "p2\n", p0)
	merged, mblocks := b.Batch(p0, "P", "both\n", p1, p2)

	put := func(dst *history.Store, blocks []history.Block) error {
		_, err := putWith(ctx, dst, blocks, (*history.Checked).AllowShallow)
		return err
	}
	anchor, err := src.Get(ctx, p0)
	if err != nil {
		t.Fatal(err)
	}
	dst := historytest.NewStore(t, history.Options{})
	if err := put(dst, []history.Block{{Cid: p0, Data: anchor}}); err != nil {
		t.Fatal(err)
	}
	if err := put(dst, mblocks); !errors.Is(err, history.ErrMissingParent) {
		t.Fatalf("a two-parent revision without its parents: %v", err)
	}
	if has, _ := dst.Has(ctx, merged); has {
		t.Fatal("stored")
	}

	// A child naming a body block as its page.
	other := historytest.NewStore(t, history.Options{})
	ob := historytest.NewBuilder(t, other)
	q0 := ob.Put(cid.Undef, "Q", "q0\n")
	q1 := ob.Put(q0, "Q", "q1\n", q0)
	rev, err := other.Revision(ctx, q1)
	if err != nil {
		t.Fatal(err)
	}
	bodyBlocks, _ := history.BodyBlocks("q0\n")
	dst2 := historytest.NewStore(t, history.Options{})
	if err := put(dst2, bodyBlocks); err != nil {
		t.Fatal(err)
	}
	forged := *rev
	forged.Page = &history.Link{Cid: bodyBlocks[0].Cid}
	if err := forged.Sign(ob.ID.Key); err != nil {
		t.Fatal(err)
	}
	fb, err := forged.Block()
	if err != nil {
		t.Fatal(err)
	}
	q1Body, _ := history.BodyBlocks("q1\n")
	if err := put(dst2, append(q1Body, fb)); err == nil {
		t.Fatal("a revision naming a body block as its page was stored")
	}

	// A boundary with a height its parent belies: stored shallow (it
	// cannot be checked yet), refused when the parent comes, and the
	// page stays readable.
	lie := *rev
	lie.Height = 7
	if err := lie.Sign(ob.ID.Key); err != nil {
		t.Fatal(err)
	}
	lb, err := lie.Block()
	if err != nil {
		t.Fatal(err)
	}
	g, err := other.Get(ctx, q0)
	if err != nil {
		t.Fatal(err)
	}
	deep, err := other.PlanDeepen(ctx, []cid.Cid{q0})
	if err != nil {
		t.Fatal(err)
	}
	history3 := sendPlanned(t, other, deep)
	// Alone, and in a batch large enough (with blocks of no revision)
	// for the writer to read the boundaries it links with the batch.
	var filler []history.Block
	for i := range 20 {
		bs, err := history.BodyBlocks(fmt.Sprintf("filler %d\n", i))
		if err != nil {
			t.Fatal(err)
		}
		filler = append(filler, bs...)
	}
	for _, batch := range [][]history.Block{history3, append(filler, history3...)} {
		dst3 := historytest.NewStore(t, history.Options{})
		if err := put(dst3, append([]history.Block{{Cid: q0, Data: g}}, append(q1Body, lb)...)); err != nil {
			t.Fatal(err)
		}
		// The sender of the history is not to blame: it is stored, the
		// lie stays unlinked, both are heads, fsck names the lie.
		if _, err := putWith(ctx, dst3, batch, (*history.Checked).AllowShallow); err != nil {
			t.Fatalf("the history below a false boundary (%d blocks): %v", len(batch), err)
		}
		if hs, _ := dst3.Heads(ctx, q0); len(hs) != 2 {
			t.Fatalf("%d blocks: heads %v, want the false boundary and the true line", len(batch), hs)
		}
		if bad, _ := problems(t, dst3); len(bad) != 1 || !strings.Contains(bad[0], lb.Cid.String()+": parents rows") {
			t.Fatalf("%d blocks: fsck: %v", len(batch), bad)
		}
		if wants, _ := dst3.ShallowWants(ctx, 10); len(wants) != 0 {
			t.Fatalf("%d blocks: still wants %v", len(batch), wants)
		}
	}
}

// History arriving over several batches never shows as a head: the top
// of a batch's part is no second head of the page while the rest is
// still to come (under an automatic policy, that "conflict" was merged).
func TestHistoryInPartsMakesNoHeads(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	p := []cid.Cid{b.Put(cid.Undef, "P", "p0\n")}
	for i := 1; i < 6; i++ {
		p = append(p, b.Put(p[0], "P", fmt.Sprintf("p%d\n", i), p[i-1]))
	}
	dst := historytest.NewStore(t, history.Options{})
	shallowCopy(t, src, dst, 100)
	wants, _ := dst.ShallowWants(ctx, 10)
	deep, err := src.PlanDeepen(ctx, wants)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []history.Block
	if err := src.SendPlan(ctx, deep, func(b history.Block) error { blocks = append(blocks, b); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, blk := range blocks {
		res, err := putWith(ctx, dst, []history.Block{blk}, (*history.Checked).AllowShallow)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Divergent) > 0 {
			t.Fatalf("block %d made the page divergent", i)
		}
		if hs, _ := dst.Heads(ctx, p[0]); len(hs) != 1 || !hs[0].Equals(p[5]) {
			t.Fatalf("after block %d of the history, heads %v", i, hs)
		}
	}
	if st, _ := dst.Shallow(ctx); st.Revisions != 0 {
		t.Fatalf("still shallow: %+v", st)
	}
	if bad, warnings := problems(t, dst); len(bad)+len(warnings) > 0 {
		t.Fatalf("fsck: %v %v", bad, warnings)
	}
}

// A deepening of more pages than PlanDeepen plans at a time is planned
// as it goes out: what is sent is the whole plan (PlanCIDs plans it all
// beforehand), each page parents first, and it completes the history.
func TestDeepenIsPlannedAsItIsSent(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	const pages = 600
	for i := range pages {
		g := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), fmt.Sprintf("first %d\n", i))
		r := b.Put(g, fmt.Sprintf("Page %d", i), fmt.Sprintf("second %d\n", i), g)
		b.Put(g, fmt.Sprintf("Page %d", i), fmt.Sprintf("third %d\n", i), r)
	}
	dst := historytest.NewStore(t, history.Options{})
	shallowCopy(t, src, dst, 500)
	wants, err := dst.ShallowWants(ctx, 2*pages)
	if err != nil || len(wants) != pages {
		t.Fatalf("%d wants, %v", len(wants), err)
	}
	whole, err := src.PlanDeepen(ctx, wants)
	if err != nil {
		t.Fatal(err)
	}
	want := planCIDs(t, src, whole)
	if len(want) != 2*pages {
		t.Fatalf("the plan holds %d revisions, want %d", len(want), 2*pages)
	}
	deep, err := src.PlanDeepen(ctx, wants)
	if err != nil {
		t.Fatal(err)
	}
	if deep.Revisions() >= 2*pages {
		t.Fatalf("all %d revisions planned before the first went out", deep.Revisions())
	}
	var sent []cid.Cid
	for _, blk := range sendPlanned(t, src, deep) {
		if _, err := history.DecodeRevision(blk.Data); err == nil && blk.Cid.Prefix().Codec == history.CodecDagCBOR {
			sent = append(sent, blk.Cid)
		}
	}
	if !slices.Equal(sent, want) || deep.Revisions() != 2*pages {
		t.Fatalf("sent %d revisions (%d counted), the plan holds %d; same order: %v", len(sent), deep.Revisions(), len(want), slices.Equal(sent, want))
	}
	if err := transfer(t, src, dst, whole, true, 500); err != nil {
		t.Fatal(err)
	}
	if st, _ := dst.Shallow(ctx); st.Revisions != 0 {
		t.Fatalf("still shallow: %+v", st)
	}
	if _, err := dst.IndexPending(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if bad, warnings := problems(t, dst); len(bad)+len(warnings) > 0 {
		t.Fatalf("fsck: %v %v", bad, warnings)
	}
}

// A branch from below a page's boundary stored while the page is shallow
// (its parent, the genesis, came first) is no head until the history is
// whole; then the page counts it: two heads, as on a whole replica. So
// too when the branch comes in the batch that completes the history; a
// history of one line there leaves the boundary the one head.
func TestABranchFromBelowTheBoundaryCountsOnceTheHistoryCame(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches [][]string // "g", "p1", "branch", "p": what each batch carries
	}{
		{"each alone", [][]string{{"g"}, {"p1"}, {"branch"}, {"p"}}},
		// Stored by height: the branch (2) before the boundary's parent (3).
		{"in one batch", [][]string{{"g", "p1", "branch", "p"}}},
		{"one line in one batch", [][]string{{"g", "p1", "p"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src := historytest.NewStore(t, history.Options{})
			b := historytest.NewBuilder(t, src)
			g := b.Put(cid.Undef, "A", "genesis\n")
			p1 := b.Put(g, "A", "first\n", g)
			p := b.Put(g, "A", "parent\n", p1)
			b.Put(g, "A", "boundary\n", p)
			dst := historytest.NewStore(t, history.Options{})
			shallowCopy(t, src, dst, 100)
			blocksOf := func(c cid.Cid) []history.Block {
				t.Helper()
				bs, err := src.RevisionBlocks(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				return bs
			}
			branch, branchBlocks := b.Batch(g, "A", "a branch from the genesis\n", g)
			parts := map[string][]history.Block{"g": blocksOf(g), "p1": blocksOf(p1), "p": blocksOf(p), "branch": branchBlocks}
			allow := func(c *history.Checked) { c.WaitForHistory(); c.AllowShallow() }
			withBranch := false
			for _, names := range tc.batches {
				var batch []history.Block
				for _, n := range names {
					batch = append(batch, parts[n]...)
					withBranch = withBranch || n == "branch"
				}
				if _, err := putWith(ctx, dst, batch, allow); err != nil {
					t.Fatalf("%v: %v", names, err)
				}
			}
			if shallow, err := dst.PageShallow(ctx, g); err != nil || shallow {
				t.Fatalf("the page is still shallow (%v)", err)
			}
			hs, err := dst.Heads(ctx, g)
			if want := map[bool]int{true: 2, false: 1}[withBranch]; err != nil || len(hs) != want || (withBranch && !slices.Contains(hs, branch)) {
				t.Fatalf("heads once the history came: %v, %v; want %d", hs, err, want)
			}
			if _, err := dst.IndexPending(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if bad, warnings := problems(t, dst); len(bad)+len(warnings) > 0 {
				t.Fatalf("fsck: %v %v", bad, warnings)
			}
		})
	}
}

// A shallow plan of more pages than it plans at a time is planned as it
// goes out, in parts: the wiki's own pages still go first (a receiver
// checks every other page's author against them), every other page goes
// once, as its anchor and its head, and the peer's heads are left out.
func TestShallowPlanInParts(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{VerifyAuto: acceptAuto})
	b := historytest.NewBuilder(t, src)
	const pages = 2500 // parts of 1,024 pages
	var known cid.Cid
	heads := map[cid.Cid]bool{}
	for i := range pages {
		title := fmt.Sprintf("P%d", i)
		g := b.Put(cid.Undef, title, "one\n")
		h := b.Put(g, title, "two\n", g)
		heads[h] = true
		if i == pages/2 {
			known = h
		}
	}
	sys := systemPage(t, src, "settings") // after every other page
	plan, err := src.PlanShallow(ctx, []cid.Cid{known}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Revisions() >= 2*pages {
		t.Fatalf("the plan was whole before it went out (%d blocks)", plan.Revisions())
	}
	got := planCIDs(t, src, plan)
	if len(got) == 0 || got[0] != sys {
		t.Fatalf("the wiki's own page does not go first")
	}
	seen := map[cid.Cid]bool{}
	for _, c := range got {
		if seen[c] {
			t.Fatalf("%s goes twice", c)
		}
		seen[c] = true
		delete(heads, c)
	}
	if len(got) != 1+2*(pages-1) || plan.Anchors != pages-1 || len(heads) != 1 || !heads[known] {
		t.Fatalf("%d blocks, %d anchors, %d heads left out; want %d, %d and the peer's one", len(got), plan.Anchors, len(heads), 1+2*(pages-1), pages-1)
	}
}

// A page edited while a shallow plan goes out, in a part planned after
// the edit, goes out with its new head: the part is read in a read
// transaction begun after it was planned (one begun before could not
// find the new head, and the whole send failed).
func TestShallowPlanInPartsWhileEdited(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	const pages = 1200
	var late, lateHead cid.Cid
	for i := range pages {
		title := fmt.Sprintf("P%d", i)
		g := b.Put(cid.Undef, title, "one\n")
		h := b.Put(g, title, "two\n", g)
		if i == pages-10 {
			late, lateHead = g, h
		}
	}
	plan, err := src.PlanShallow(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var edit cid.Cid
	// Block 2,010: past the read transaction begun at 2,000 blocks,
	// before the second part (from block 2,048) is planned.
	sent, err := history.SendPlanDuring(src, plan, 2010, func() {
		edit = b.Put(late, "P late", "three\n", lateHead)
	})
	if err != nil {
		t.Fatalf("the send failed: %v", err)
	}
	found := false
	for _, p := range sent {
		found = found || p.Cid == edit
	}
	if !found {
		t.Fatal("the page edited during the send went out without its new head")
	}
}
