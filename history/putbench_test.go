package history_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// BenchmarkPutSyncedHistory stores a whole repo's history in sync-sized
// batches, as a fresh replica does. Point PEERWIKI_BENCH_REPO at a repo
// (scripts/bench-local.py --keep DIR makes one at DIR/repo); without it
// the benchmark skips.
func BenchmarkPutSyncedHistory(b *testing.B) {
	from, wiki, plan := benchSource(b)
	ctx := context.Background()
	var blocks []history.Block
	if err := from.SendPlan(ctx, plan, func(bl history.Block) error { blocks = append(blocks, bl); return nil }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		// The wiki's settings genesis is unsigned; wiki/ recomputes such
		// blocks, which this package cannot import: accept them here.
		accept := func(history.Reader, cid.Cid, *history.Revision) error { return nil }
		to, err := history.Open(filepath.Join(b.TempDir(), "peerwiki.db"), wiki, history.Options{VerifyAuto: accept})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < len(blocks); i += 500 {
			if _, err := to.Put(ctx, blocks[i:min(i+500, len(blocks))]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		to.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(blocks)), "blocks")
}

// BenchmarkStorePackedHistory is the single writer's share of a fresh
// replica's sync: storing the batches of a packed stream that passed
// their checks (PEERWIKI_BENCH_REPO as above).
func BenchmarkStorePackedHistory(b *testing.B) {
	from, wiki, plan := benchSource(b)
	packed := sendPacked(b, from, plan)
	benchStore(b, wiki, packed, 0, func(to *history.Store) []*history.Checked {
		return checkPacked(b, to, packed, 500, 500, nil)
	})
}

// benchStore times storing the batches check makes of packed in an empty
// store, each batch a transaction, or with group > 0 in Bulk transactions
// of about group blocks.
func benchStore(b *testing.B, wiki string, packed []history.Packed, group int, check func(*history.Store) []*history.Checked) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		to := openEmpty(b, wiki)
		batches := check(to)
		b.StartTimer()
		if group > 0 {
			var bulk *history.Bulk
			var err error
			inBulk := 0
			for i, c := range batches {
				if bulk == nil {
					if bulk, err = to.BeginBulk(ctx); err != nil {
						b.Fatal(err)
					}
				}
				r, err := bulk.Put(c)
				if err != nil {
					b.Fatal(err)
				}
				if inBulk += r.Blocks; inBulk >= group || i == len(batches)-1 {
					if _, err := bulk.Commit(ctx); err != nil {
						b.Fatal(err)
					}
					bulk, inBulk = nil, 0
				}
			}
		} else {
			for _, c := range batches {
				if _, err := to.PutChecked(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		to.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(packed)), "blocks")
}

// benchSource opens the repo PEERWIKI_BENCH_REPO names and plans a full
// sync of it.
func benchSource(b *testing.B) (*history.Store, string, *history.SyncPlan) {
	from, wiki := benchRepo(b)
	plan, err := from.PlanSync(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return from, wiki, plan
}

// benchRepo opens the repo PEERWIKI_BENCH_REPO names.
func benchRepo(b *testing.B) (*history.Store, string) {
	src := os.Getenv("PEERWIKI_BENCH_REPO")
	if src == "" {
		b.Skip("PEERWIKI_BENCH_REPO is not set")
	}
	var cfg struct{ Wiki string }
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		b.Fatal(err)
	}
	from, err := history.Open(filepath.Join(src, "peerwiki.db"), cfg.Wiki, history.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { from.Close() })
	return from, cfg.Wiki
}

// BenchmarkStoreShallowPacked is the single writer's share of a shallow
// join (the current version of every page, with its anchor): the batches
// of a packed PlanShallow stream, sized as p2p's receiver sizes them,
// checked first and then stored (PEERWIKI_BENCH_REPO as above).
func BenchmarkStoreShallowPacked(b *testing.B) {
	from, wiki := benchRepo(b)
	ctx := context.Background()
	plan, err := from.PlanShallow(ctx, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	packed := sendPacked(b, from, plan)
	most := 2000
	if v, err := strconv.Atoi(os.Getenv("PEERWIKI_BENCH_BATCH")); err == nil && v > 0 {
		most = v // a transaction's size, to try others
	}
	group, _ := strconv.Atoi(os.Getenv("PEERWIKI_BENCH_GROUP")) // blocks a Bulk transaction, to try
	benchStore(b, wiki, packed, group, func(to *history.Store) []*history.Checked {
		return checkPacked(b, to, packed, 250, most, func(c *history.Checked) {
			c.AllowShallow()
			c.WaitForHistory()
		})
	})
}

// sendPacked is the packed stream of plan.
func sendPacked(tb testing.TB, from *history.Store, plan *history.SyncPlan) []history.Packed {
	tb.Helper()
	var packed []history.Packed
	if err := from.SendPlanPacked(context.Background(), plan, func(p history.Packed) error { packed = append(packed, p); return nil }); err != nil {
		tb.Fatal(err)
	}
	return packed
}

// wholePacked is the packed stream of all of from, as a full sync sends it.
func wholePacked(tb testing.TB, from *history.Store) []history.Packed {
	tb.Helper()
	plan, err := from.PlanSync(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return sendPacked(tb, from, plan)
}

// openEmpty opens an empty store of wiki that takes every automatic
// merge (the settings page's genesis is one; wiki/ verifies them).
func openEmpty(b *testing.B, wiki string) *history.Store {
	accept := func(history.Reader, cid.Cid, *history.Revision) error { return nil }
	to, err := history.Open(filepath.Join(b.TempDir(), "peerwiki.db"), wiki, history.Options{VerifyAuto: accept})
	if err != nil {
		b.Fatal(err)
	}
	return to
}

// checkPacked checks a packed stream in batches of first blocks, doubling
// up to most, as a sync's receiver does, and lets leave (if not nil) mark
// each batch.
func checkPacked(b *testing.B, to *history.Store, packed []history.Packed, first, most int, leave func(*history.Checked)) []*history.Checked {
	u := history.NewUnpacker()
	var batches []*history.Checked
	for i, n := 0, first; i < len(packed); i, n = i+n, min(2*n, most) {
		c, err := to.CheckPacked(u, packed[i:min(i+n, len(packed))])
		if err != nil {
			b.Fatal(err)
		}
		if leave != nil {
			leave(c)
		}
		batches = append(batches, c)
	}
	return batches
}
