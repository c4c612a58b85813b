package history_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// HeadsSince reads every (page, head) pair the page index holds, whether
// it scans the index of CIDs (few blocks a head: one-revision pages) or
// looks each head up (long histories), and only the changed pages' after
// a revision.
func TestHeadsSince(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	check := func(what string) {
		t.Helper()
		ch, err := s.HeadsSince(ctx, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.AllHeads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for page, heads := range all {
			for _, h := range heads {
				want[page.KeyString()+h.KeyString()] = true
			}
		}
		if !ch.Full || len(ch.Rows) != len(want) || ch.Count != int64(len(want)) {
			t.Fatalf("%s: %d rows (full %v, count %d), want %d", what, len(ch.Rows), ch.Full, ch.Count, len(want))
		}
		for _, r := range ch.Rows {
			if !want[r.PageCID.KeyString()+r.Head.KeyString()] {
				t.Fatalf("%s: a head %s of page %s that is none", what, r.Head, r.PageCID)
			}
		}
	}
	var pages []cid.Cid
	for i := range 20 {
		pages = append(pages, b.Put(cid.Undef, fmt.Sprintf("Page %d", i), "first\n"))
	}
	check("one revision a page")
	last := pages[0]
	for v := range 12 {
		last = b.Put(pages[0], "Page 0", fmt.Sprintf("version %d\n", v), last)
	}
	b.Put(pages[1], "Page 1", "one side\n", pages[1])
	b.Put(pages[1], "Page 1", "other side\n", pages[1])
	for i := 2; i < 20; i++ {
		prev := pages[i]
		for v := range 6 {
			prev = b.Put(pages[i], fmt.Sprintf("Page %d", i), fmt.Sprintf("version %d of %d\n", v, i), prev)
		}
	}
	check("long histories")

	ch, err := s.HeadsSince(ctx, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(pages[3], "Page 3", "later\n", mustHead(t, s, pages[3]))
	since, err := s.HeadsSince(ctx, ch.LastRev, 100)
	if err != nil {
		t.Fatal(err)
	}
	if since.Full || len(since.Pages) != 1 || len(since.Rows) != 1 || !since.Rows[0].PageCID.Equals(pages[3]) || since.Count != ch.Count {
		t.Fatalf("after one edit: full %v, %d pages, %d rows", since.Full, len(since.Pages), len(since.Rows))
	}
}

func mustHead(t *testing.T, s *history.Store, page cid.Cid) cid.Cid {
	t.Helper()
	hs, err := s.Heads(context.Background(), page)
	if err != nil || len(hs) != 1 {
		t.Fatalf("heads of %s: %v, %v", page, hs, err)
	}
	return hs[0]
}
