package history_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A body of hundreds of chunks, sent in batches as a sync stream does
// (250 blocks first, then more): a batch that ended between a chunk list
// and its last chunks could not be stored, and its honest sender was
// banned for a missing body block.
func TestLargeBodySyncsAcrossBatches(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	dst := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	rng := rand.New(rand.NewSource(7))
	for i := range 1 {
		var sb strings.Builder
		for sb.Len() < 24<<20 {
			fmt.Fprintf(&sb, "line %d of large page %d: %d\n", rng.Intn(1<<30), i, rng.Intn(1<<30))
		}
		g := b.Put(cid.Undef, fmt.Sprintf("Big %d", i), "x")
		blk, bodies := b.Make(g, fmt.Sprintf("Big %d", i), sb.String(), g)
		if _, err := src.PutSignedHere(ctx, append(bodies, blk)); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := src.PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := history.NewUnpacker()
	var batch []history.Packed
	size, limit := 0, 250
	flush := func() {
		c, err := dst.CheckPacked(u, batch)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dst.PutChecked(ctx, c); err != nil {
			t.Fatalf("batch of %d: %v", len(batch), err)
		}
		batch, size = nil, 0
		limit = min(2*limit, 2000)
	}
	n := 0
	err = src.SendPlanPacked(ctx, plan, func(p history.Packed) error {
		n++
		batch = append(batch, p)
		size += len(p.Data)
		if len(batch) >= limit || size >= 8<<20 {
			flush()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) > 0 {
		flush()
	}
	if n < 300 {
		t.Fatalf("only %d blocks: the body must span batches", n)
	}
	want, _ := src.HeadSet(ctx)
	got, _ := dst.HeadSet(ctx)
	if len(got) != len(want) || len(got) != 1 || !got[0].Equals(want[0]) {
		t.Fatalf("heads %v after the sync, want %v", got, want)
	}
}
