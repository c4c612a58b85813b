package wiki_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/merge"
	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// divergedPage makes a page with two heads that lww can settle.
func divergedPage(t *testing.T, r *wiki.Repo) (page cid.Cid, heads []cid.Cid) {
	t.Helper()
	ctx := context.Background()
	page, err := r.Create(ctx, "P", "base\n", "")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := wikitest.Store(r).Heads(ctx, page)
	if _, err := r.Edit(ctx, page, wiki.Edit{Body: ptr("one\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Edit(ctx, page, wiki.Edit{Body: ptr("two\n"), Parent: g[0]}); err != nil {
		t.Fatal(err)
	}
	heads, _ = wikitest.Store(r).Heads(ctx, page)
	if len(heads) != 2 {
		t.Fatalf("%d heads, want 2", len(heads))
	}
	return page, heads
}

// forgedAuto builds an unsigned "automatic merge" of heads with content of
// our choosing, as a malicious or buggy peer might send it.
func forgedAuto(t *testing.T, r *wiki.Repo, page cid.Cid, heads []cid.Cid, policy, body string) []history.Block {
	t.Helper()
	ctx := context.Background()
	bodies, _ := history.BodyBlocks(body)
	rev := &history.Revision{Wiki: r.Config.Wiki, Page: &history.Link{Cid: page}, Title: "P",
		Body: history.Link{Cid: bodies[0].Cid}, Policy: policy}
	rev.SetParents(heads)
	for _, h := range heads {
		hr, _ := wikitest.Store(r).Revision(ctx, h)
		rev.Time = max(rev.Time, hr.Time)
		rev.Height = max(rev.Height, hr.Height+1)
	}
	blk, err := rev.Block()
	if err != nil {
		t.Fatal(err)
	}
	return append(bodies, blk)
}

// divergedCarrying makes a page with two heads that carry policy, stored
// directly so that nothing merges them yet (as when they arrive from two
// peers in one batch).
func divergedCarrying(t *testing.T, r *wiki.Repo, policy string) (cid.Cid, []cid.Cid) {
	t.Helper()
	ctx := context.Background()
	page, err := r.Create(ctx, "P", "base\n", "")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := wikitest.Store(r).Revision(ctx, page)
	var batch []history.Block
	var heads []cid.Cid
	for i, body := range []string{"one\n", "two\n"} {
		bodies, _ := history.BodyBlocks(body)
		rev := &history.Revision{Wiki: r.Config.Wiki, Page: &history.Link{Cid: page}, Title: "P",
			Body: history.Link{Cid: bodies[0].Cid}, Policy: policy, Time: g.Time + 1 + int64(i), Height: 2}
		rev.SetParents([]cid.Cid{page})
		if err := rev.Sign(r.ID.Key); err != nil {
			t.Fatal(err)
		}
		blk, _ := rev.Block()
		batch = append(batch, append(bodies, blk)...)
		heads = append(heads, blk.Cid)
	}
	if _, err := wikitest.Store(r).Put(ctx, batch); err != nil {
		t.Fatal(err)
	}
	return page, heads
}

func TestForgedAutoMergeIsRejected(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	page, heads := divergedCarrying(t, r, "lww")
	for _, tc := range []struct{ policy, body, why string }{
		{"lww", "something else entirely\n", "does not recompute"},
		{"merge", "two\n", "carry lww"},
		{"manual", "one\n", "no automatic policy"},
		{"sometimes", "one\n", "no automatic policy"},
	} {
		_, err := wikitest.Store(r).Put(ctx, forgedAuto(t, r, page, heads, tc.policy, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("policy %q body %q: err = %v, want %q", tc.policy, tc.body, err, tc.why)
		}
	}
	if hs, _ := wikitest.Store(r).Heads(ctx, page); len(hs) != 2 {
		t.Fatalf("a rejected merge changed the heads: %v", hs)
	}
	// The honest one, computed elsewhere, is accepted as the same block:
	// lww takes the later head, "two".
	honest := forgedAuto(t, r, page, heads, "lww", "two\n")
	if _, err := wikitest.Store(r).Put(ctx, honest); err != nil {
		t.Fatalf("a correct lww merge was rejected: %v", err)
	}
	if hs, _ := wikitest.Store(r).Heads(ctx, page); len(hs) != 1 || !hs[0].Equals(honest[len(honest)-1].Cid) {
		t.Fatalf("heads after the honest merge: %v", hs)
	}
	if probs, err := wikitest.Store(r).Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck: %v %v", probs, err)
	}
}

func TestAutoMergeRespectsThePagesOverride(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	page, heads := divergedPage(t, r)
	if _, err := r.SetWikiPolicy(ctx, merge.PolicyLWW); err != nil {
		t.Fatal(err)
	}
	// The wiki's lww settled it.
	if hs, _ := wikitest.Store(r).Heads(ctx, page); len(hs) != 1 {
		t.Fatalf("wiki policy lww left %d heads", len(hs))
	}
	// A page that carries "manual" is left alone even under a wiki lww.
	page2, _ := r.Create(ctx, "Q", "base\n", "")
	if _, err := r.SetPagePolicy(ctx, page2, "manual"); err != nil {
		t.Fatal(err)
	}
	g, _ := wikitest.Store(r).Heads(ctx, page2)
	r.Edit(ctx, page2, wiki.Edit{Body: ptr("x\n")})
	r.Edit(ctx, page2, wiki.Edit{Body: ptr("y\n"), Parent: g[0]})
	hs, _ := wikitest.Store(r).Heads(ctx, page2)
	if len(hs) != 2 {
		t.Fatalf("manual override was merged: %d heads", len(hs))
	}
	// And an automatic merge claiming lww for heads that carry manual is refused,
	// whatever this replica's wiki default is.
	sorted := append([]cid.Cid(nil), hs...)
	if strings.Compare(string(sorted[0].Bytes()), string(sorted[1].Bytes())) > 0 {
		sorted[0], sorted[1] = sorted[1], sorted[0]
	}
	if _, err := wikitest.Store(r).Put(ctx, forgedAuto(t, r, page2, sorted, "lww", "y\n")); err == nil || !strings.Contains(err.Error(), "carry manual") {
		t.Fatalf("lww merge of manual heads: %v", err)
	}
	_ = heads
}

// Found by the multi-site simulation: after a partition, both sides merged
// the other side's edits as they trickled in, in different orders, so the
// final heads had two lowest common ancestors. Merged against either one,
// the side's older edits look new and conflict; against the merge of the
// two (git's recursive strategy) the heads merge cleanly.
func TestCrissCrossMergesAgainstAVirtualBase(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	body := func(a, c int) string { return fmt.Sprintf("A: r%d\n1\n2\n3\nC: r%d\n", a, c) }
	page, err := r.Create(ctx, "P", body(0, 0), "")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := wikitest.Store(r).Revision(ctx, page)
	clock := g.Time
	put := func(text string, parents ...cid.Cid) cid.Cid {
		t.Helper()
		clock++
		bodies, _ := history.BodyBlocks(text)
		rev := &history.Revision{Wiki: r.Config.Wiki, Page: &history.Link{Cid: page}, Title: "P",
			Body: history.Link{Cid: bodies[0].Cid}, Policy: "merge", Time: clock}
		rev.SetParents(parents)
		for _, p := range parents {
			pr, _ := wikitest.Store(r).Revision(ctx, p)
			rev.Height = max(rev.Height, pr.Height+1)
		}
		if err := rev.Sign(r.ID.Key); err != nil {
			t.Fatal(err)
		}
		blk, _ := rev.Block()
		// Put alone runs no policy: the DAG is exactly what is written here.
		if _, err := wikitest.Store(r).Put(ctx, append(bodies, blk)); err != nil {
			t.Fatal(err)
		}
		return blk.Cid
	}
	a1 := put(body(1, 0), page)
	a2 := put(body(2, 0), a1)
	c1 := put(body(0, 1), page)
	c2 := put(body(0, 2), c1)
	x := put(body(2, 1), a2, c1) // one side merged c1 after a2
	y := put(body(1, 2), a1, c2) // the other merged a1 after c2
	// The merge screen and resolvers fold against the same base.
	base, err := r.FoldBase(ctx, page, []cid.Cid{x}, y)
	if err != nil {
		t.Fatal(err)
	}
	if base.Rev.Defined() || base.Body != body(1, 1) {
		t.Fatalf("FoldBase = %s %q, want the merge of a1 and c1 (no revision)", base.Rev, base.Body)
	}
	m, err := r.AutoMerge(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Defined() {
		t.Fatal("the criss-cross was left as a conflict")
	}
	v, _, err := r.RevisionVersion(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if v.Body != body(2, 2) {
		t.Fatalf("merged body = %q, want both sides' latest lines %q", v.Body, body(2, 2))
	}
	if probs, err := wikitest.Store(r).Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck (recomputes the merge): %v %v", probs, err)
	}
}

// Settings are read from the settings page once per set of its heads: a
// change, made here or by another process on the same repo, is a new head
// and is seen at the next read.
func TestSettingsFollowTheirHeads(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	if n := r.ConfirmDefault(ctx); n != 0 {
		t.Fatalf("confirm default = %d, want 0", n)
	}
	if err := r.SetConfirmDefault(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := r.ConfirmDefault(ctx); n != 2 {
		t.Fatalf("after setting 2 here: %d", n)
	}
	other, err := wiki.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetConfirmDefault(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := r.ConfirmDefault(ctx); n != 3 {
		t.Fatalf("after another process set 3: %d", n)
	}
	if _, err := r.SetWikiPolicy(ctx, merge.PolicyUnion); err != nil {
		t.Fatal(err)
	}
	if p, err := other.WikiPolicy(ctx); err != nil || p != merge.PolicyUnion {
		t.Fatalf("the other's wiki policy = %q, %v; want union", p, err)
	}
}
