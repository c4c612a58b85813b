package history_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// BenchmarkPutSyncedHistory stores a whole repo's history in sync-sized
// batches, as a fresh replica does. Point PEERWIKI_BENCH_REPO at a repo
// (scripts/bench-local.py --keep DIR makes one at DIR/repo); without it
// the benchmark skips.
func BenchmarkPutSyncedHistory(b *testing.B) {
	src := os.Getenv("PEERWIKI_BENCH_REPO")
	if src == "" {
		b.Skip("PEERWIKI_BENCH_REPO is not set")
	}
	ctx := context.Background()
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
	defer from.Close()
	plan, err := from.PlanSync(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
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
		to, err := history.Open(filepath.Join(b.TempDir(), "peerwiki.db"), cfg.Wiki, history.Options{VerifyAuto: accept})
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
