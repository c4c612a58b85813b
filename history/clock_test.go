package history_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// signedAt builds a signed revision of page on parents with an exact time,
// as a member's custom client could.
func signedAt(t *testing.T, b *historytest.Builder, page cid.Cid, title string, at int64, parents ...cid.Cid) (history.Block, []history.Block) {
	t.Helper()
	ctx := context.Background()
	bodies, err := history.BodyBlocks(title + " body")
	if err != nil {
		t.Fatal(err)
	}
	r := &history.Revision{Wiki: b.Store.Wiki(), Title: title, Body: history.Link{Cid: bodies[0].Cid}, Time: at, Height: 1}
	if !page.Defined() {
		r.Nonce = []byte(title)
	} else {
		r.Page = &history.Link{Cid: page}
		r.SetParents(parents)
		for _, p := range parents {
			pr, err := b.Store.Revision(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			r.Height = max(r.Height, pr.Height+1)
		}
	}
	if err := r.Sign(b.ID.Key); err != nil {
		t.Fatal(err)
	}
	blk, err := r.Block()
	if err != nil {
		t.Fatal(err)
	}
	return blk, bodies
}

func TestNextTime(t *testing.T) {
	now := time.UnixMilli(1_000)
	for _, tc := range []struct {
		name       string
		parentsMax int64
		hasParents bool
		want       int64
	}{
		{"genesis", 5_000, false, 1_000},
		{"parents in the past", 10, true, 1_000},
		{"parent in the future", 5_000, true, 5_001},
		{"parent at the end of time", math.MaxInt64, true, math.MaxInt64},
		{"parent one before the end", math.MaxInt64 - 1, true, math.MaxInt64},
	} {
		if got := history.NextTime(now, tc.parentsMax, tc.hasParents); got != tc.want {
			t.Errorf("%s: NextTime = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// A peer's revision dated past the drift is deferred with its
// descendants, nothing else of the batch is lost, and it is taken once
// the receiver's clock has caught up.
func TestFarFutureRevisionIsDeferred(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := now
	s := historytest.NewStore(t, history.Options{Now: func() time.Time { return clock }})
	b := historytest.NewBuilder(t, s)
	b.Clock = now.UnixMilli()
	page := b.Put(cid.Undef, "Note", "v1")
	other := b.Put(cid.Undef, "Other", "o1")

	ahead := now.Add(2 * time.Hour).UnixMilli()
	fut, futBodies := signedAt(t, b, page, "Note", ahead, page)
	// Its child is stored nowhere yet: build it by hand on fut's fields.
	var batch []history.Block
	batch = append(batch, futBodies...)
	batch = append(batch, fut)
	okBlk, okBodies := b.Make(other, "Other", "o2", other)
	batch = append(batch, okBodies...)
	batch = append(batch, okBlk)

	res, err := s.Put(ctx, batch)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if len(res.Deferred) != 1 || !res.Deferred[0].Rev.Equals(fut.Cid) {
		t.Fatalf("deferred = %v, want the future revision", res.Deferred)
	}
	var fe *history.FutureError
	if !errors.As(res.Deferred[0].Err, &fe) || !strings.Contains(fe.Error(), "ahead of this machine's clock") {
		t.Fatalf("deferral reason = %v", res.Deferred[0].Err)
	}
	if has, _ := s.Has(ctx, fut.Cid); has {
		t.Fatal("the future revision was stored")
	}
	if has, _ := s.Has(ctx, okBlk.Cid); !has {
		t.Fatal("the honest revision of the same batch was not stored")
	}

	// Three hours later it is within the drift, and stored.
	clock = now.Add(3 * time.Hour)
	res, err = s.Put(ctx, append(futBodies, fut))
	if err != nil || len(res.Deferred) != 0 || len(res.Revisions) != 1 {
		t.Fatalf("later put: res %+v err %v", res, err)
	}
}

// A descendant in the same batch waits with its deferred ancestor.
func TestDescendantOfDeferredIsDeferred(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := historytest.NewStore(t, history.Options{Now: func() time.Time { return now }})
	b := historytest.NewBuilder(t, s)
	b.Clock = now.UnixMilli()
	fut, futBodies := signedAt(t, b, cid.Undef, "Genesis from the future", now.Add(48*time.Hour).UnixMilli())

	// A second store accepts it (its clock is later) and builds on it.
	s2 := historytest.NewStore(t, history.Options{Now: func() time.Time { return now.Add(72 * time.Hour) }})
	if _, err := s2.Put(ctx, append(futBodies, fut)); err != nil {
		t.Fatal(err)
	}
	b2 := historytest.NewBuilder(t, s2)
	b2.ID = b.ID
	b2.Clock = now.UnixMilli()
	child, childBodies := b2.Make(fut.Cid, "Genesis from the future", "edit", fut.Cid)

	batch := append(append(append([]history.Block{}, futBodies...), fut), append(childBodies, child)...)
	res, err := s.Put(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deferred) != 2 || len(res.Revisions) != 0 {
		t.Fatalf("deferred %v stored %v, want both deferred", res.Deferred, res.Revisions)
	}
}

func TestRevisionWithinDriftIsStored(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := historytest.NewStore(t, history.Options{Now: func() time.Time { return now }})
	b := historytest.NewBuilder(t, s)
	b.Clock = now.UnixMilli()
	page := b.Put(cid.Undef, "Note", "v1")
	blk, bodies := signedAt(t, b, page, "Note", now.Add(30*time.Minute).UnixMilli(), page)
	res, err := s.Put(ctx, append(bodies, blk))
	if err != nil || len(res.Deferred) != 0 || len(res.Revisions) != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
}

// A revision that slipped in before the drift rule (stored here as a
// local write would be) does not freeze its page: children get times,
// peers' children that only carry its clock are taken, and fsck names it.
func TestPageSurvivesLegacyFutureParent(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, at := range []int64{math.MaxInt64, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()} {
		s := historytest.NewStore(t, history.Options{Now: func() time.Time { return now }})
		b := historytest.NewBuilder(t, s)
		b.Clock = now.UnixMilli()
		page := b.Put(cid.Undef, "Note", "v1")
		legacy, bodies := signedAt(t, b, page, "Note", at, page)
		if _, err := s.PutSignedHere(ctx, append(bodies, legacy)); err != nil {
			t.Fatalf("legacy put at %d: %v", at, err)
		}
		// A member's edit on it, made by the clock rule, from the network.
		child, childBodies := b.Make(page, "Note", "v3", legacy.Cid)
		res, err := s.Put(ctx, append(childBodies, child))
		if err != nil || len(res.Revisions) != 1 {
			t.Fatalf("child of a revision at %d: res %+v err %v", at, res, err)
		}
		rev, err := s.Revision(ctx, child.Cid)
		if err != nil {
			t.Fatal(err)
		}
		if want := history.NextTime(now, at, true); rev.Time != want {
			t.Fatalf("child time %d, want %d", rev.Time, want)
		}
		// A peer may not push the clock further on its own.
		if at != math.MaxInt64 {
			further, fb := signedAt(t, b, page, "Note", at+10_000, child.Cid)
			res, err := s.Put(ctx, append(fb, further))
			if err != nil || len(res.Deferred) != 1 {
				t.Fatalf("a further push: res %+v err %v", res, err)
			}
		}
		probs, err := s.Fsck(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var warned []string
		for _, p := range probs {
			if !p.Warning {
				t.Errorf("fsck problem: %v", p)
				continue
			}
			warned = append(warned, p.Object)
		}
		if len(warned) != 1 || warned[0] != legacy.Cid.String() {
			t.Fatalf("fsck warnings name %v, want only the legacy revision %s", warned, legacy.Cid)
		}
	}
}

// A child of a revision at the end of time must carry the end of time;
// any other time is malformed, as a time before the parents' is.
func TestTimeRuleAtTheEndOfTime(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "Note", "v1")
	legacy, bodies := signedAt(t, b, page, "Note", math.MaxInt64, page)
	if _, err := s.PutSignedHere(ctx, append(bodies, legacy)); err != nil {
		t.Fatal(err)
	}
	bad, badBodies := signedAt(t, b, page, "Note", math.MaxInt64-1, legacy.Cid)
	if _, err := s.Put(ctx, append(badBodies, bad)); !errors.Is(err, history.ErrMalformed) {
		t.Fatalf("child dated before its parent: err %v, want ErrMalformed", err)
	}
}
