package history

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// An edit's new body stays decoded in the block cache, so that the next
// edit of the page finds its delta base there instead of rebuilding it
// from a delta chain; a large batch (a clone) leaves the cache alone.
func TestWarmBodiesOfSmallBatches(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "db"), "w", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	revise := func(page *Link, parent *Revision, parentCID cid.Cid, title, body string) (*Revision, cid.Cid, Block) {
		t.Helper()
		bb := Block{Cid: SumCID(CodecRaw, []byte(body)), Data: []byte(body)}
		r := &Revision{Wiki: "w", Page: page, Title: title, Body: Link{Cid: bb.Cid}}
		var parents []*Revision
		if parent == nil {
			r.Nonce = []byte(title)
		} else {
			r.SetParents([]cid.Cid{parentCID})
			parents = append(parents, parent)
		}
		r.Stamp(parents, time.Now())
		if err := r.Sign(id.Key); err != nil {
			t.Fatal(err)
		}
		rb, err := r.Block()
		if err != nil {
			t.Fatal(err)
		}
		return r, rb.Cid, bb
	}
	put := func(blocks ...Block) {
		t.Helper()
		if _, err := s.PutSignedHere(ctx, blocks); err != nil {
			t.Fatal(err)
		}
	}
	blockOf := func(r *Revision) Block {
		b, err := r.Block()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	text := func(v int) string {
		s := ""
		for i := range 200 {
			s += fmt.Sprintf("line %d of the page, version %d\n", i, min(v, i%3))
		}
		return s
	}
	g, gc, gb := revise(nil, nil, cid.Undef, "Warm", text(0))
	put(blockOf(g), gb)
	e, _, eb := revise(&Link{Cid: gc}, g, gc, "Warm", text(1))
	put(blockOf(e), eb)
	if got, ok := s.cache.get(eb.Cid.KeyString()); !ok || string(got) != text(1) {
		t.Fatal("an edit's new body is not in the block cache")
	}

	var many []Block
	var bodies []cid.Cid
	for i := range warmBatch + 1 {
		r, _, b := revise(nil, nil, cid.Undef, fmt.Sprintf("Page %d", i), fmt.Sprintf("cold body %d\n", i))
		many = append(many, blockOf(r), b)
		bodies = append(bodies, b.Cid)
	}
	put(many...)
	for _, b := range bodies {
		if _, ok := s.cache.get(b.KeyString()); ok {
			t.Fatal("a large batch's body went into the block cache")
		}
	}
}
