package p2p

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"peerwiki/history"
)

// TestKeySetCostOnARepo times, on the repo PEERWIKI_BENCH_REPO names
// (opened read-only in effect: nothing is written), what a node pays for
// its reconciliation key set: a build from every head, and the check
// that finds nothing changed after the commit counter moved (the summary
// of the heads table and the pages with new revisions). It logs; it
// asserts nothing about time.
func TestKeySetCostOnARepo(t *testing.T) {
	src := os.Getenv("PEERWIKI_BENCH_REPO")
	if src == "" {
		t.Skip("PEERWIKI_BENCH_REPO is not set")
	}
	var cfg struct{ Wiki string }
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	st, err := history.Open(filepath.Join(src, "peerwiki.db"), cfg.Wiki, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	n := &Node{store: st, log: slog.New(slog.DiscardHandler)}
	for range 3 {
		start := time.Now()
		ch, err := st.HeadsSince(ctx, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		read := time.Since(start)
		start = time.Now()
		ch, its, err := n.readItems(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		ks := newKeySet(ch, its)
		built := time.Since(start)
		start = time.Now()
		ch2, its2, err := n.readItems(ctx, ks.lastRev)
		if err != nil {
			t.Fatal(err)
		}
		sql := time.Since(start)
		up := ks.updated(ch2, its2)
		if !up.matches(ch2) || up.Len() != ks.Len() {
			t.Fatalf("the update of an unchanged store does not match")
		}
		check := time.Since(start)
		// One page changed: its heads read again and merged in.
		start = time.Now()
		ch3, its3, err := n.readItems(ctx, ks.lastRev-1)
		if err != nil {
			t.Fatal(err)
		}
		sql1 := time.Since(start)
		start = time.Now()
		up1 := ks.updated(ch3, its3)
		if !up1.matches(ch3) || len(ch3.Pages) != 1 {
			t.Fatalf("the update of one page: %d pages, matches %v", len(ch3.Pages), up1.matches(ch3))
		}
		t.Logf("one page: read %v, merged in %v", sql1, time.Since(start))
		start = time.Now()
		hl := ks.heads()
		list := time.Since(start)
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		t.Logf("%d heads: read %v; read and hashed at once %v; unchanged check %v and copy %v; sorted list and hash %v (%d); heap %d MB",
			ks.Len(), read, built, sql, check-sql, list, len(hl.heads), m.HeapAlloc>>20)
	}
}
