package history_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// EachPage read in two halves, merged, lists the pages in the order one
// sorted query does: titles by their natural order (digit runs by value,
// case folded), then by title bytes, then pages of one title by id; pages
// with several heads with all of them. And a walk that fn stops ends,
// with fn's error, leaving nothing running.
func TestEachPageInHalvesIsOneSortedList(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	rng := rand.New(rand.NewPCG(4, 2))
	words := []string{"Note", "note", "NOTE", "Ärger", "ärger", "Zebra", "alpha", "Alpha", "10", "2", "02", "007", "7", "é", "日本"}
	var conflicted []cid.Cid
	for i := range 300 {
		var title []string
		for range 1 + rng.IntN(3) {
			title = append(title, words[rng.IntN(len(words))])
		}
		g := b.Put(cid.Undef, strings.Join(title, " "), fmt.Sprintf("page %d\n", i))
		if i%25 == 0 { // two heads
			b.Put(g, "Edited "+strings.Join(title, ""), "one\n", g)
			b.Put(g, "Edited "+strings.Join(title, ""), "two\n", g)
			conflicted = append(conflicted, g)
		}
	}
	type listed struct {
		id    cid.Cid
		title string
		heads int
	}
	walk := func(split int64) []listed {
		defer history.SetSplitPagesAt(split)()
		var out []listed
		err := s.EachPage(ctx, func(p history.PageRow, heads []cid.Cid) error {
			if len(heads) != p.Heads {
				t.Fatalf("page %q: %d heads, the row says %d", p.Title, len(heads), p.Heads)
			}
			out = append(out, listed{p.ID, p.Title, len(heads)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	whole, halves := walk(1<<40), walk(1)
	if len(whole) != 300 || len(halves) != 300 {
		t.Fatalf("listed %d and %d pages, want 300", len(whole), len(halves))
	}
	if !slices.Equal(whole, halves) {
		t.Fatalf("in halves:\n%v\nwhole:\n%v", halves, whole)
	}
	sorted := slices.Clone(whole)
	slices.SortFunc(sorted, func(a, b listed) int {
		if c := history.CompareTitles(a.title, b.title); c != 0 {
			return c
		}
		return bytes.Compare(a.id.Bytes(), b.id.Bytes())
	})
	if !slices.Equal(whole, sorted) {
		t.Fatalf("not in title order:\n%v", whole)
	}
	for _, c := range conflicted {
		if i := slices.IndexFunc(halves, func(l listed) bool { return l.id.Equals(c) }); i < 0 || halves[i].heads != 2 {
			t.Fatalf("conflicted page %s listed with %+v", c, halves[i])
		}
	}

	// Stopped by fn, early and late: its error, and no half left running.
	defer history.SetSplitPagesAt(1)()
	before := runtime.NumGoroutine()
	stop := errors.New("stop")
	for _, after := range []int{0, 1, 150, 299} {
		n := 0
		err := s.EachPage(ctx, func(history.PageRow, []cid.Cid) error {
			if n == after {
				return stop
			}
			n++
			return nil
		})
		if !errors.Is(err, stop) || n != after {
			t.Fatalf("stopped after %d: %v after %d pages", after, err, n)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the stopped walks, %d before", n, before)
	}
}
