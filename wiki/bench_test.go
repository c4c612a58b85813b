package wiki_test

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// benchWords builds Markdown-like text of about n bytes.
func benchText(rng *rand.Rand, n int) string {
	words := strings.Fields("replica peer sync merge page note wiki graph node edge hash commit revision history branch conflict offline the a of to and in")
	var b strings.Builder
	for b.Len() < n {
		for i := 0; i < 8+rng.Intn(8); i++ {
			b.WriteString(words[rng.Intn(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// benchRepo makes a repo of pages with 3 KB bodies, imported in one batch.
func benchRepo(b *testing.B, pages int) (*wiki.Repo, []cid.Cid) {
	b.Helper()
	ctx := context.Background()
	r, err := wiki.Init(filepath.Join(b.TempDir(), "repo"), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	rng := rand.New(rand.NewSource(42))
	ids := make([]cid.Cid, pages)
	for i := range ids {
		if ids[i], err = r.Create(ctx, fmt.Sprintf("Page %d", i), benchText(rng, 3000), ""); err != nil {
			b.Fatal(err)
		}
	}
	return r, ids
}

func BenchmarkEdit(b *testing.B) {
	ctx := context.Background()
	r, ids := benchRepo(b, 200)
	rng := rand.New(rand.NewSource(1))
	bodies := make([]string, 64)
	for i := range bodies {
		bodies[i] = benchText(rng, 3000)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		body := bodies[i%len(bodies)]
		if _, err := r.Edit(ctx, ids[i%len(ids)], wiki.Edit{Body: &body}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList1000(b *testing.B) {
	ctx := context.Background()
	r, _ := benchRepo(b, 1000)
	b.ResetTimer()
	for b.Loop() {
		if ps, err := r.List(ctx, false, false); err != nil || len(ps) != 1000 {
			b.Fatal(err, len(ps))
		}
	}
}

func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	r, _ := benchRepo(b, 1000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := wikitest.Store(r).Search(ctx, "conflict offline", 50); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkView(b *testing.B) {
	ctx := context.Background()
	r, ids := benchRepo(b, 200)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p, err := wikitest.Store(r).Page(ctx, ids[i%len(ids)])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.View(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}
