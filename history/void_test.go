package history_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// members stands in for the member list: everyone counts but the removed.
type members struct{ removed map[peer.ID]bool }

func (m *members) counts(c cid.Cid, r *history.Revision) bool { return !m.removed[r.AuthorID()] }

// voidEnv is a store whose Counts follows a member list, with a member
// and an outsider (removed) writing to it.
type voidEnv struct {
	t                *testing.T
	ctx              context.Context
	s                *history.Store
	members          *members
	member, outsider *historytest.Builder
}

func newVoidEnv(t *testing.T, opts history.Options) *voidEnv {
	t.Helper()
	m := &members{removed: map[peer.ID]bool{}}
	opts.Counts = m.counts
	if opts.VerifyAuto == nil {
		opts.VerifyAuto = acceptAuto
	}
	s := historytest.NewStore(t, opts)
	e := &voidEnv{s: s, members: m, member: historytest.NewBuilder(t, s), outsider: historytest.NewBuilder(t, s), ctx: context.Background(), t: t}
	m.removed[e.outsider.ID.ID] = true
	return e
}

// acceptAuto takes every automatic merge and unsigned genesis as valid:
// wiki/ recomputes them, which this package cannot import.
func acceptAuto(history.Reader, cid.Cid, *history.Revision) error { return nil }

// autoMerge stores the automatic merge of parents (policy "merge", body
// text) and returns its CID.
func (e *voidEnv) autoMerge(page cid.Cid, text string, parents ...cid.Cid) cid.Cid {
	e.t.Helper()
	bodies, err := history.BodyBlocks(text)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &history.Revision{Wiki: e.s.Wiki(), Page: &history.Link{Cid: page}, Title: "merged", Body: history.Link{Cid: bodies[0].Cid}, Policy: "merge"}
	r.SetParents(parents)
	var prs []*history.Revision
	for _, p := range parents {
		pr, err := e.s.Revision(e.ctx, p)
		if err != nil {
			e.t.Fatal(err)
		}
		prs = append(prs, pr)
	}
	r.StampMerge(prs)
	blk, err := r.Block()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Put(e.ctx, append(bodies, blk)); err != nil {
		e.t.Fatal(err)
	}
	return blk.Cid
}

// systemPage stores an unsigned genesis, as wiki/ makes the settings and
// members pages.
func systemPage(t *testing.T, s *history.Store, nonce string) cid.Cid {
	t.Helper()
	body := history.NewBlock(history.CodecRaw, nil)
	r := &history.Revision{Wiki: s.Wiki(), Nonce: []byte(nonce), Title: nonce, Body: history.Link{Cid: body.Cid}, Height: 1}
	blk, err := r.Block()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), []history.Block{body, blk}); err != nil {
		t.Fatal(err)
	}
	return blk.Cid
}

// checkPage compares a page's heads, as every reader of them sees them,
// with want (none: the page is absent).
func (e *voidEnv) checkPage(name string, page cid.Cid, want []cid.Cid) {
	e.t.Helper()
	ctx := e.ctx
	heads, err := e.s.Heads(ctx, page)
	if len(want) == 0 {
		if !errors.Is(err, history.ErrNotFound) {
			e.t.Errorf("%s: Heads = %v, %v; want the page absent", name, heads, err)
		}
		if _, err := e.s.Page(ctx, page); !errors.Is(err, history.ErrNotFound) {
			e.t.Errorf("%s: Page: %v, want ErrNotFound", name, err)
		}
	} else if err != nil || !sameCIDs(heads, want, true) {
		e.t.Errorf("%s: Heads = %v, %v; want %v", name, heads, err, want)
	}
	all, err := e.s.AllHeads(ctx)
	if err != nil || !sameCIDs(all[page], want, true) {
		e.t.Errorf("%s: AllHeads[page] = %v, %v; want %v", name, all[page], err, want)
	}
	set, err := e.s.HeadSet(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range want {
		if !slices.Contains(set, h) {
			e.t.Errorf("%s: HeadSet lacks %s", name, h)
		}
	}
	rows, err := e.s.Pages(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	listed := slices.ContainsFunc(rows, func(p history.PageRow) bool { return p.ID.Equals(page) })
	if listed != (len(want) > 0) {
		e.t.Errorf("%s: listed in Pages = %v, want %v", name, listed, len(want) > 0)
	}
	if probs, err := e.s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		e.t.Errorf("%s: fsck: %v %v", name, probs, err)
	}
}

// A page's heads are its counting revisions that no counting revision
// descends from; a page with none is absent.
func TestVoidHeads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(e *voidEnv) (page cid.Cid, heads, void []cid.Cid)
	}{
		{"a void head leaves its parent the head", func(e *voidEnv) (cid.Cid, []cid.Cid, []cid.Cid) {
			g := e.member.Put(cid.Undef, "P", "g\n")
			h := e.member.Put(g, "P", "h\n", g)
			v := e.outsider.Put(g, "P", "v\n", h)
			return g, []cid.Cid{h}, []cid.Cid{v}
		}},
		{"a counting child of a void revision is the head", func(e *voidEnv) (cid.Cid, []cid.Cid, []cid.Cid) {
			g := e.member.Put(cid.Undef, "P", "g\n")
			h := e.member.Put(g, "P", "h\n", g)
			v := e.outsider.Put(g, "P", "v\n", h)
			m := e.member.Put(g, "P", "m\n", v)
			return g, []cid.Cid{m}, []cid.Cid{v}
		}},
		{"a void branch beside a counting one", func(e *voidEnv) (cid.Cid, []cid.Cid, []cid.Cid) {
			g := e.member.Put(cid.Undef, "P", "g\n")
			h := e.member.Put(g, "P", "h\n", g)
			v1 := e.outsider.Put(g, "P", "v1\n", g)
			v2 := e.outsider.Put(g, "P", "v2\n", v1)
			return g, []cid.Cid{h}, []cid.Cid{v1, v2}
		}},
		{"a void genesis: the page is absent", func(e *voidEnv) (cid.Cid, []cid.Cid, []cid.Cid) {
			g := e.outsider.Put(cid.Undef, "Spam", "buy now\n")
			v := e.outsider.Put(g, "Spam", "buy now!\n", g)
			return g, nil, []cid.Cid{g, v}
		}},
		{"a void genesis built on by a member", func(e *voidEnv) (cid.Cid, []cid.Cid, []cid.Cid) {
			g := e.outsider.Put(cid.Undef, "Q", "q\n")
			m := e.member.Put(g, "Q", "kept\n", g)
			return g, []cid.Cid{m}, []cid.Cid{g}
		}},
		{"an automatic merge over a void parent is void", func(e *voidEnv) (cid.Cid, []cid.Cid, []cid.Cid) {
			g := e.member.Put(cid.Undef, "P", "g\n")
			h := e.member.Put(g, "P", "h\n", g)
			v := e.outsider.Put(g, "P", "v\n", g)
			a := e.autoMerge(g, "h and v\n", h, v)
			return g, []cid.Cid{h}, []cid.Cid{v, a}
		}},
		{"an automatic merge of counting parents counts", func(e *voidEnv) (cid.Cid, []cid.Cid, []cid.Cid) {
			g := e.member.Put(cid.Undef, "P", "g\n")
			h1 := e.member.Put(g, "P", "h1\n", g)
			h2 := e.member.Put(g, "P", "h2\n", g)
			v := e.outsider.Put(g, "P", "v\n", h1)
			a := e.autoMerge(g, "h1 and h2\n", h1, h2)
			return g, []cid.Cid{a}, []cid.Cid{v}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newVoidEnv(t, history.Options{})
			page, heads, void := tc.build(e)
			e.checkPage(tc.name, page, heads)
			for _, c := range void {
				if v, err := e.s.IsVoid(e.ctx, c); err != nil || !v {
					t.Errorf("IsVoid(%s) = %v, %v; want true", c, v, err)
				}
			}
			for _, h := range heads {
				if v, err := e.s.IsVoid(e.ctx, h); err != nil || v {
					t.Errorf("IsVoid(head %s) = %v, %v; want false", h, v, err)
				}
			}
			if n, err := e.s.VoidCount(e.ctx); err != nil || n != len(void) {
				t.Errorf("VoidCount = %d, %v; want %d", n, err, len(void))
			}
			if tot, err := e.s.Totals(e.ctx); err != nil || tot.Void != len(void) {
				t.Errorf("Totals.Void = %d, %v; want %d", tot.Void, err, len(void))
			}
			revs, _, err := e.s.RevisionsAfter(e.ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range revs {
				if r.Void != slices.Contains(void, r.Cid) {
					t.Errorf("RevisionsAfter: %s void = %v", r.Cid, r.Void)
				}
			}
		})
	}
}

// A void revision is never found by search, and a void genesis keeps its
// page out of search and links.
func TestVoidPageLeavesSearch(t *testing.T) {
	e := newVoidEnv(t, history.Options{Links: func(body string) []string { return []string{"target"} }})
	e.outsider.Put(cid.Undef, "Spam", "zanzibar\n")
	g := e.member.Put(cid.Undef, "P", "plain\n")
	e.outsider.Put(g, "P", "quixotic\n", g)
	for _, word := range []string{"zanzibar", "quixotic", "spam"} {
		if hits, err := e.s.Search(e.ctx, word, 10); err != nil || len(hits) != 0 {
			t.Errorf("search %q = %v, %v; want nothing", word, hits, err)
		}
	}
	if linked, err := e.s.LinkedFrom(e.ctx, "target"); err != nil || len(linked) != 1 || !linked[0].ID.Equals(g) {
		t.Errorf("LinkedFrom = %v, %v; want only P", linked, err)
	}
}

// Revoid takes back a removal and makes it again: a void genesis's page
// comes back and leaves, an automatic merge follows its parent, and the
// pages that changed are returned sorted.
func TestRevoid(t *testing.T) {
	e := newVoidEnv(t, history.Options{})
	ctx := e.ctx
	spam := e.outsider.Put(cid.Undef, "Outsider's page", "o\n")
	spam2 := e.outsider.Put(spam, "Outsider's page", "o2\n", spam)
	p := e.member.Put(cid.Undef, "P", "g\n")
	h := e.member.Put(p, "P", "h\n", p)
	v := e.outsider.Put(p, "P", "v\n", p)
	a := e.autoMerge(p, "h and v\n", h, v)
	untouched := e.member.Put(cid.Undef, "Untouched", "u\n")
	e.checkPage("before", spam, nil)
	e.checkPage("before", p, []cid.Cid{h})

	outsider := e.outsider.ID.ID.String()
	wantPages := []cid.Cid{spam, p}
	history.SortCIDs(wantPages)
	for _, step := range []struct {
		name    string
		removed bool
		spam, p []cid.Cid // heads after
		void    int
	}{
		{"readmitted", false, []cid.Cid{spam2}, []cid.Cid{a}, 0},
		{"removed again", true, nil, []cid.Cid{h}, 4},
	} {
		e.members.removed[e.outsider.ID.ID] = step.removed
		pages, err := e.s.Revoid(ctx, []string{outsider, "12D3KooWUnknownAuthorUnknownAuthorUnknownAuthor"})
		if err != nil {
			t.Fatal(err)
		}
		if !sameCIDs(pages, wantPages, false) {
			t.Errorf("%s: Revoid returned %v, want %v", step.name, pages, wantPages)
		}
		e.checkPage(step.name, spam, step.spam)
		e.checkPage(step.name, p, step.p)
		e.checkPage(step.name, untouched, []cid.Cid{untouched})
		if n, _ := e.s.VoidCount(ctx); n != step.void {
			t.Errorf("%s: %d void, want %d", step.name, n, step.void)
		}
	}
	// Nothing changed: nothing returned.
	if pages, err := e.s.Revoid(ctx, []string{outsider}); err != nil || len(pages) != 0 {
		t.Errorf("Revoid with nothing to change = %v, %v", pages, err)
	}
}

// sendAll is every block src would send a peer that has nothing.
func sendAll(t *testing.T, src *history.Store) []history.Block {
	t.Helper()
	ctx := context.Background()
	plan, err := src.PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []history.Block
	if err := src.SendPlan(ctx, plan, func(b history.Block) error { out = append(out, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// Admit defers a non-member's revision and its descendants (whoever wrote
// them), with an error that says so, and stores the rest of the batch;
// local writes are not asked about.
func TestAdmitDefersNonMembers(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	member, outsider := historytest.NewBuilder(t, src), historytest.NewBuilder(t, src)
	p := member.Put(cid.Undef, "P", "g\n")
	m1 := member.Put(p, "P", "m1\n", p)
	o1 := outsider.Put(p, "P", "o1\n", m1)
	m2 := member.Put(p, "P", "m2 on o1\n", o1)
	q := member.Put(cid.Undef, "Q", "q\n")
	own := outsider.Put(cid.Undef, "Outsider's", "o\n")

	dst := historytest.NewStore(t, history.Options{Admit: func(r *history.Revision) error {
		if r.AuthorID() == outsider.ID.ID {
			return errors.New("unknown peer")
		}
		return nil
	}})
	res, err := dst.Put(ctx, sendAll(t, src))
	if err != nil {
		t.Fatal(err)
	}
	var deferred []cid.Cid
	for _, d := range res.Deferred {
		deferred = append(deferred, d.Rev)
		var nm *history.NotMemberError
		if !errors.Is(d.Err, history.ErrNotMember) || !errors.As(d.Err, &nm) {
			t.Errorf("deferred %s for %v, want ErrNotMember", d.Rev, d.Err)
		}
	}
	if !sameCIDs(deferred, []cid.Cid{o1, m2, own}, true) {
		t.Errorf("deferred %v, want o1, m2 and the outsider's page", deferred)
	}
	if !sameCIDs(res.Revisions, []cid.Cid{p, m1, q}, true) {
		t.Errorf("stored %v, want p, m1, q", res.Revisions)
	}
	for _, c := range []cid.Cid{o1, m2, own} {
		if ok, _ := dst.Has(ctx, c); ok {
			t.Errorf("%s stored", c)
		}
	}
	if heads, err := dst.Heads(ctx, p); err != nil || !sameCIDs(heads, []cid.Cid{m1}, false) {
		t.Errorf("heads of P = %v, %v; want m1", heads, err)
	}
	// A child arriving in a later batch waits with its parent.
	child, bodies := member.Make(p, "P", "m3\n", m2)
	if res, err := dst.Put(ctx, append(bodies, child)); err != nil || len(res.Deferred) != 1 || !errors.Is(res.Deferred[0].Err, history.ErrNotMember) {
		t.Fatalf("child of a deferred revision: %+v, %v", res, err)
	}
	// A local write is the caller's to judge.
	local, lb := outsider.Make(q, "Q", "typed here\n", q)
	if res, err := dst.PutSignedHere(ctx, append(lb, local)); err != nil || len(res.Deferred) != 0 {
		t.Fatalf("local write: %+v, %v", res, err)
	}
}

// A sync sends void revisions only when a counting revision builds on
// them: a replica that knew of a removal first never receives what the
// removed member wrote afterwards.
func TestPlanSyncLeavesOutUnreachableVoids(t *testing.T) {
	e := newVoidEnv(t, history.Options{})
	g := e.member.Put(cid.Undef, "P", "g\n")
	h := e.member.Put(g, "P", "h\n", g)
	v1 := e.outsider.Put(g, "P", "v1\n", h)
	v2 := e.outsider.Put(g, "P", "v2\n", v1)
	e.outsider.Put(cid.Undef, "Outsider's", "o\n")
	plan, err := e.s.PlanSync(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameCIDs(planCIDs(t, e.s, plan), []cid.Cid{g, h}, false) {
		t.Errorf("sends %v, want g, h", planCIDs(t, e.s, plan))
	}
	m := e.member.Put(g, "P", "m\n", v2)
	for _, tc := range []struct {
		name   string
		theirs []cid.Cid
		sends  []cid.Cid
	}{
		{"a counting child carries the voids below it", nil, []cid.Cid{g, h, v1, v2, m}},
		{"a peer at h", []cid.Cid{h}, []cid.Cid{v1, v2, m}},
	} {
		plan, err := e.s.PlanSync(e.ctx, tc.theirs)
		if err != nil {
			t.Fatal(err)
		}
		if !sameCIDs(planCIDs(t, e.s, plan), tc.sends, false) {
			t.Errorf("%s: sends %v, want %v", tc.name, planCIDs(t, e.s, plan), tc.sends)
		}
	}
}

// A received batch that brings the member list with the revisions it
// governs is stored system pages first, so that Counts and Admit, which
// read the committed store, see the list.
func TestSystemPagesStoredFirst(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{VerifyAuto: acceptAuto})
	b := historytest.NewBuilder(t, src)
	p := b.Put(cid.Undef, "P", "g\n")
	b.Put(p, "P", "h\n", p)
	list := systemPage(t, src, "members")
	entry := b.Put(list, "members", "add someone\n", list)

	var dst *history.Store
	var sawList []bool
	counts := func(c cid.Cid, r *history.Revision) bool {
		if r.PageID(c).Equals(p) {
			ok, err := dst.Has(ctx, entry)
			if err != nil {
				t.Error(err)
			}
			sawList = append(sawList, ok)
		}
		return true
	}
	dst = historytest.NewStore(t, history.Options{VerifyAuto: acceptAuto, Counts: counts})
	res, err := dst.Put(ctx, sendAll(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Revisions) != 4 || !slices.Equal(sawList, []bool{true, true}) {
		t.Fatalf("stored %d revisions; Counts saw the member list %v, want it both times", len(res.Revisions), sawList)
	}
	if probs, err := dst.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck: %v %v", probs, err)
	}
}
