package history_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A batch that brings new pages whole indexes them from what its writer
// holds, in a few statements a table (index_fresh.go): the pages, search
// and links tables must come out as the one-page-at-a-time path makes
// them, for pages of one revision, of a long history, in conflict (their
// heads agreeing or not), deleted, and with a policy override, whatever
// batch their revisions arrive in.
func TestFreshPagesIndexAsOnePageAtATime(t *testing.T) {
	links := func(body string) []string {
		var out []string
		for _, w := range strings.Fields(body) {
			if strings.HasPrefix(w, "->") {
				out = append(out, w[2:])
			}
		}
		return out
	}
	opts := history.Options{Links: links}
	src := historytest.NewStore(t, opts)
	m := &revMaker{t: t, wiki: src.Wiki(), id: historytest.NewBuilder(t, src).ID, clock: 1_700_000_000_000, made: map[cid.Cid]*history.Revision{}}

	var all []history.Block
	add := func(page cid.Cid, title, body string, deleted bool, policy string, parents ...cid.Cid) cid.Cid {
		c, blocks := m.make(page, title, body, deleted, policy, parents...)
		all = append(all, blocks...)
		return c
	}
	for i := range 12 {
		g := add(cid.Undef, fmt.Sprintf("Page %d", i), fmt.Sprintf("first text of page %d ->Page%d ->Home", i, i+1), false, "")
		switch i % 6 {
		case 1: // a history
			r := add(g, fmt.Sprintf("Page %d", i), "second text ->Other", false, "", g)
			add(g, fmt.Sprintf("Page %d renamed", i), "third text ->Other ->More", false, "", r)
		case 2: // a conflict
			a := add(g, "Left", "left text ->L", false, "", g)
			add(g, "Right", "right text ->R", false, "", g)
			add(g, "Left", "left again", false, "", a)
		case 3: // heads that agree
			add(g, "Same", "same text", false, "", g)
			add(g, "Same", "same text", false, "", g)
		case 4: // deleted
			add(g, fmt.Sprintf("Page %d", i), "", true, "", g)
		case 5: // a policy override, then a merge of two heads
			p := add(g, "Policy", "with a policy", false, "theirs", g)
			q := add(g, "Policy", "another head", false, "", g)
			add(g, "Policy", "merged", false, "theirs", p, q)
		}
	}

	want := func(s *history.Store) []string {
		t.Helper()
		lines, err := history.IndexTables(s)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(lines)
		return lines
	}
	ctx := context.Background()

	// One revision a Put: every page after its first revision is
	// indexed by refreshPage.
	one := historytest.NewStore(t, opts)
	for i := 0; i < len(all); {
		j := i + 1
		for j <= len(all) && all[j-1].Cid.Prefix().Codec != history.CodecDagCBOR {
			j++ // a revision's body blocks come before it
		}
		if _, err := one.Put(ctx, all[i:j]); err != nil {
			t.Fatal(err)
		}
		i = j
	}
	base := want(one)
	if len(base) < 30 {
		t.Fatalf("only %d index rows: %q", len(base), base)
	}

	for _, size := range []int{len(all), 7, 3} {
		s := historytest.NewStore(t, opts)
		for i := 0; i < len(all); i += size {
			if _, err := s.Put(ctx, all[i:min(i+size, len(all))]); err != nil {
				t.Fatal(err)
			}
		}
		got := want(s)
		if !slices.Equal(got, base) {
			t.Fatalf("batches of %d blocks:\n%s\nwant\n%s", size, strings.Join(got, "\n"), strings.Join(base, "\n"))
		}
		// And as every page indexed again the old way.
		if err := history.Reindex(s); err != nil {
			t.Fatal(err)
		}
		if again := want(s); !slices.Equal(again, base) {
			t.Fatalf("batches of %d blocks, reindexed:\n%s\nwant\n%s", size, strings.Join(again, "\n"), strings.Join(base, "\n"))
		}
		if hits, err := s.Search(ctx, "text", 100); err != nil || len(hits) == 0 {
			t.Fatalf("search: %d hits, %v", len(hits), err)
		}
	}

	// Shallow: pages with a history come as their genesis's anchor and
	// their current version, in batches that split them or not.
	if _, err := src.Put(ctx, all); err != nil {
		t.Fatal(err)
	}
	plan, err := src.PlanShallow(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Anchors == 0 {
		t.Fatal("no page sent shallow")
	}
	var sent []history.Block
	if err := src.SendPlan(ctx, plan, func(b history.Block) error { sent = append(sent, b); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{len(sent), 5, 1} {
		s := historytest.NewStore(t, opts)
		for i := 0; i < len(sent); i += size {
			if _, err := putWith(ctx, s, sent[i:min(i+size, len(sent))], (*history.Checked).AllowShallow); err != nil {
				t.Fatal(err)
			}
		}
		got := want(s)
		if err := history.Reindex(s); err != nil {
			t.Fatal(err)
		}
		if again := want(s); !slices.Equal(got, again) {
			t.Fatalf("shallow, batches of %d blocks:\n%s\nwant\n%s", size, strings.Join(got, "\n"), strings.Join(again, "\n"))
		}
		if len(got) < 30 {
			t.Fatalf("shallow, batches of %d blocks: only %d index rows", size, len(got))
		}
	}

	// A page's genesis, a boundary (its parent left out) and a branch
	// from below the boundary in one batch: the branch is history, no
	// head (belowBoundary), which the fresh path must not count.
	g, gb := m.make(cid.Undef, "Below", "genesis", false, "")
	p, _ := m.make(g, "Below", "parent", false, "", g)
	_, bb := m.make(g, "Below", "boundary", false, "", p)
	_, xb := m.make(g, "Below", "a branch", false, "", g)
	s := historytest.NewStore(t, opts)
	if _, err := putWith(ctx, s, slices.Concat(gb, bb, xb), (*history.Checked).AllowShallow); err != nil {
		t.Fatal(err)
	}
	got := want(s)
	if err := history.Reindex(s); err != nil {
		t.Fatal(err)
	}
	if again := want(s); !slices.Equal(got, again) {
		t.Fatalf("a branch below a boundary:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(again, "\n"))
	}
}

// revMaker makes signed revisions with the fields historytest's Builder
// leaves out (deleted, a policy).
type revMaker struct {
	t     *testing.T
	wiki  string
	id    *history.Identity
	clock int64
	made  map[cid.Cid]*history.Revision
}

func (m *revMaker) make(page cid.Cid, title, body string, deleted bool, policy string, parents ...cid.Cid) (cid.Cid, []history.Block) {
	m.t.Helper()
	bodyBlocks, err := history.BodyBlocks(body)
	if err != nil {
		m.t.Fatal(err)
	}
	m.clock++
	r := &history.Revision{Wiki: m.wiki, Title: title, Body: history.Link{Cid: bodyBlocks[0].Cid}, Time: m.clock, Height: 1,
		Deleted: deleted, Policy: policy}
	if !page.Defined() {
		r.Nonce = []byte(fmt.Sprintf("nonce %d %s", m.clock, title))
	} else {
		r.Page = &history.Link{Cid: page}
		r.SetParents(parents)
		prs := make([]*history.Revision, len(parents))
		for i, p := range parents {
			prs[i] = m.made[p]
		}
		r.Stamp(prs, time.UnixMilli(m.clock))
	}
	if err := r.Sign(m.id.Key); err != nil {
		m.t.Fatal(err)
	}
	blk, err := r.Block()
	if err != nil {
		m.t.Fatal(err)
	}
	m.made[blk.Cid] = r
	return blk.Cid, append(bodyBlocks, blk)
}
