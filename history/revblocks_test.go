package history_test

import (
	"context"
	"errors"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// RevisionBlocks gives back exactly the blocks a revision was stored with:
// a body stored whole, one stored as a delta of its parent's, and a
// chunked body (its chunks before their list), the revision block last.
func TestRevisionBlocksAreWhatWasStored(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	rng := rand.New(rand.NewSource(3))
	words := make([]string, 0, 80_000)
	for range cap(words) {
		words = append(words, string(rune('a'+rng.Intn(26)))+string(rune('a'+rng.Intn(26)))+string(rune('a'+rng.Intn(26))))
	}
	big := strings.Join(words, " ") // over ChunkThreshold
	if len(big) <= history.ChunkThreshold {
		t.Fatalf("the big body is %d bytes", len(big))
	}
	check := func(what string, c cid.Cid, stored []history.Block) {
		t.Helper()
		got, err := s.RevisionBlocks(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(got) == 0 || got[len(got)-1].Cid != c {
			t.Fatalf("%s: the revision block is not last", what)
		}
		key := func(bs []history.Block) []string {
			var out []string
			for _, bl := range bs {
				if err := bl.Verify(); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				out = append(out, bl.Cid.String())
			}
			slices.Sort(out)
			return slices.Compact(out)
		}
		if g, w := key(got), key(stored); !slices.Equal(g, w) {
			t.Fatalf("%s: blocks\n%v\nwant\n%v", what, g, w)
		}
		// A chunked body's list comes after its chunks.
		for i, bl := range got {
			if bl.Cid.Prefix().Codec == history.CodecDagCBOR && i < len(got)-1 {
				for _, later := range got[i+1 : len(got)-1] {
					if later.Cid.Prefix().Codec == history.CodecRaw {
						t.Fatalf("%s: a chunk after the chunk list", what)
					}
				}
			}
		}
	}
	g, gb := b.Batch(cid.Undef, "Notes", "first text\n")
	if _, err := s.Put(ctx, gb); err != nil {
		t.Fatal(err)
	}
	check("a genesis", g, gb)
	head := g
	for i, body := range []string{"first text\nand a second line\n", big, big + " and a tail"} {
		c, blocks := b.Batch(g, "Notes", body, head)
		if _, err := s.Put(ctx, blocks); err != nil {
			t.Fatal(err)
		}
		check([]string{"a delta", "a chunked body", "a chunked body edited"}[i], c, blocks)
		head = c
	}
	for _, bl := range gb {
		if bl.Cid == g {
			continue
		}
		if _, err := s.RevisionBlocks(ctx, bl.Cid); !errors.Is(err, history.ErrNotFound) {
			t.Fatalf("the blocks of a body block as a revision: %v", err)
		}
	}
}
