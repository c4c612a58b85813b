package history_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A sync's groups follow one another with the write lock held, so the
// log could never start again: a 100,000-page join's grew to 0.7-1.5 GB.
// Past the bound, the group that crosses it checkpoints the log and the
// next one starts it again; what was stored is all there.
func TestGroupsBoundTheLog(t *testing.T) {
	defer history.SetGroupLogBytes(1 << 20)()
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	rng := rand.New(rand.NewPCG(1, 2))
	const pages = 600
	for i := range pages {
		body := make([]byte, 6000) // text zstd cannot shrink much
		for j := range body {
			body[j] = byte('a' + rng.IntN(26))
		}
		b.Put(cid.Undef, fmt.Sprintf("P%d", i), string(body)+"\n")
	}
	packed := wholePacked(t, src)
	dst := historytest.NewStore(t, history.Options{})
	u := history.NewUnpacker()
	largest := int64(0)
	for from := 0; from < len(packed); from += 300 { // a group of 300 blocks, about 1 MB
		c, err := dst.CheckPacked(u, packed[from:min(from+300, len(packed))])
		if err != nil {
			t.Fatal(err)
		}
		g, err := dst.BeginGroup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Put(c); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(dst.Path() + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, st.Size())
	}
	if largest > 3<<20 {
		t.Fatalf("the log reached %d bytes over groups of about 1 MB, bound 1 MB", largest)
	}
	got, err := dst.AllHeads(ctx)
	if err != nil || len(got) != pages {
		t.Fatalf("%d pages stored (%v), want %d", len(got), err, pages)
	}
	t.Logf("log at most %d bytes", largest)
}
