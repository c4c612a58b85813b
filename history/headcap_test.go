package history_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A page takes at most MaxPageHeads concurrent heads from elsewhere; what
// would pass it waits (deferred, nobody refused), a batch that merges
// brings its heads along, and a local write past the cap is refused.
func TestPageHeadCap(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "Signup", "names\n")
	heads := []cid.Cid{}
	for i := range history.MaxPageHeads {
		heads = append(heads, b.Put(page, "Signup", fmt.Sprintf("name %d\n", i), page))
	}
	if hs, _ := s.Heads(ctx, page); len(hs) != history.MaxPageHeads {
		t.Fatalf("%d heads, want %d", len(hs), history.MaxPageHeads)
	}

	// One more head from a peer: deferred, with its child in a later batch.
	extra, eb := b.Make(page, "Signup", "one too many\n", page)
	res, err := s.Put(ctx, append(eb, extra))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deferred) != 1 || !errors.Is(res.Deferred[0].Err, history.ErrTooManyHeads) {
		t.Fatalf("deferred %v, want the extra head for the cap", res.Deferred)
	}
	if has, _ := s.Has(ctx, extra.Cid); has {
		t.Fatal("the head past the cap was stored")
	}
	// Its child comes in the next batch of the same sync: deferred too,
	// not refused as an orphan.
	aux := historytest.NewStore(t, history.Options{})
	if _, err := aux.Put(ctx, append(append(mustBlocks(t, s, ctx, page), eb...), extra)); err != nil {
		t.Fatal(err)
	}
	bAux := historytest.NewBuilder(t, aux)
	bAux.ID = b.ID
	child, cb := bAux.Make(page, "Signup", "one too many, edited\n", extra.Cid)
	if res, err := s.Put(ctx, append(cb, child)); err != nil || len(res.Deferred) != 1 {
		t.Fatalf("child of a deferred head: res %+v err %v", res, err)
	}

	// A local edit that would add a head is refused.
	local, lb := b.Make(page, "Signup", "typed here\n", page)
	if _, err := s.PutSignedHere(ctx, append(lb, local)); !errors.Is(err, history.ErrTooManyHeads) {
		t.Fatalf("local write past the cap: err %v, want ErrTooManyHeads", err)
	}

	// A member's resolution that comes with new heads it merges: taken.
	var batch []history.Block
	parents := append([]cid.Cid{}, heads...)
	var latest int64
	for i := range 5 {
		blk, bodies := b.Make(page, "Signup", fmt.Sprintf("late %d\n", i), page)
		batch = append(batch, bodies...)
		batch = append(batch, blk)
		parents = append(parents, blk.Cid)
		r, err := history.DecodeRevision(blk.Data)
		if err != nil {
			t.Fatal(err)
		}
		latest = max(latest, r.Time)
	}
	res, err = s.Put(ctx, append(batch, resolutionOf(t, b, page, parents, latest+1)...))
	if err != nil || len(res.Deferred) != 0 {
		t.Fatalf("resolution with its heads: res deferred %v err %v", res.Deferred, err)
	}
	if hs, _ := s.Heads(ctx, page); len(hs) != 1 {
		t.Fatalf("%d heads after the resolution, want 1", len(hs))
	}
}

// resolutionOf builds a signed revision of page at height 3 whose parents
// are heads (all at height 2).
func resolutionOf(t *testing.T, b *historytest.Builder, page cid.Cid, heads []cid.Cid, at int64) []history.Block {
	t.Helper()
	bodies, err := history.BodyBlocks("everyone\n")
	if err != nil {
		t.Fatal(err)
	}
	r := &history.Revision{Wiki: b.Store.Wiki(), Page: &history.Link{Cid: page}, Title: "Signup", Body: history.Link{Cid: bodies[0].Cid}, Time: at, Height: 3}
	r.SetParents(heads)
	if err := r.Sign(b.ID.Key); err != nil {
		t.Fatal(err)
	}
	blk, err := r.Block()
	if err != nil {
		t.Fatal(err)
	}
	return append(bodies, blk)
}

// A page that took thousands of heads before the cap: reading it costs
// what the cap allows, it takes no new head, and resolutions bring it down.
func TestPageWithHeadsFromBeforeTheCap(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "Flooded", "x\n")
	const n = 1000
	var batch []history.Block
	for i := range n {
		blk, bodies := b.Make(page, "Flooded", fmt.Sprintf("spam %d\n", i), page)
		batch = append(append(batch, bodies...), blk)
	}
	if _, err := history.PutAsBefore(s, batch); err != nil {
		t.Fatal(err)
	}
	row, err := s.Page(ctx, page)
	if err != nil || row.Heads != n {
		t.Fatalf("page row %+v err %v, want %d heads counted", row, err, n)
	}
	heads, err := s.Heads(ctx, page)
	if err != nil || len(heads) != history.MaxPageHeads {
		t.Fatalf("Heads gave %d (err %v), want the latest %d", len(heads), err, history.MaxPageHeads)
	}
	extra, eb := b.Make(page, "Flooded", "more\n", page)
	if res, err := s.Put(ctx, append(eb, extra)); err != nil || len(res.Deferred) != 1 {
		t.Fatalf("a new head on a flooded page: res %+v err %v", res, err)
	}
	blocks := resolutionOf(t, b, page, heads, b.Clock+10_000)
	if res, err := s.Put(ctx, blocks); err != nil || len(res.Deferred) != 0 {
		t.Fatalf("resolving the %d heads Heads gives: res %+v err %v", len(heads), res, err)
	}
	if row, _ := s.Page(ctx, page); row.Heads != n-history.MaxPageHeads+1 {
		t.Fatalf("%d heads after one resolution, want %d", row.Heads, n-history.MaxPageHeads+1)
	}
}
