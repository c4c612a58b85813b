package wiki_test

import (
	"context"
	"math"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// putLegacyRevision stores, as a replica could before MaxClockDrift
// existed, a signed revision of page on its current head dated at.
func putLegacyRevision(t *testing.T, r *wiki.Repo, page cid.Cid, at int64) cid.Cid {
	t.Helper()
	ctx := context.Background()
	heads, err := wikitest.Store(r).Heads(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	head, err := wikitest.Store(r).Revision(ctx, heads[0])
	if err != nil {
		t.Fatal(err)
	}
	rev := *head
	rev.Page = &history.Link{Cid: page}
	rev.Nonce = nil
	rev.SetParents(heads[:1])
	rev.Height = head.Height + 1
	rev.Time = at
	rev.Msg = "from the end of time"
	if err := rev.Sign(r.ID.Key); err != nil {
		t.Fatal(err)
	}
	blk, err := rev.Block()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wikitest.Store(r).PutSignedHere(ctx, []history.Block{blk}); err != nil {
		t.Fatal(err)
	}
	return blk.Cid
}

// A page whose head is dated at the end of time still takes every kind
// of write: edit, rename, policy, delete, restore, a divergence, resolve.
func TestPageDatedAtTheEndOfTimeStaysWritable(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	id, err := r.Create(ctx, "Frozen?", "base\n", "")
	if err != nil {
		t.Fatal(err)
	}
	legacy := putLegacyRevision(t, r, id, math.MaxInt64)
	steps := []struct {
		name string
		do   func() error
	}{
		{"edit", func() error { _, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("edited\n")}); return err }},
		{"rename", func() error { _, err := r.Edit(ctx, id, wiki.Edit{Title: ptr("Not frozen")}); return err }},
		{"policy", func() error { _, err := r.SetPagePolicy(ctx, id, "merge"); return err }},
		{"rm", func() error { _, err := r.Delete(ctx, id, ""); return err }},
		{"restore", func() error { _, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("back\n")}); return err }},
		{"diverge", func() error {
			_, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("other\n"), Parent: legacy})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	heads, err := wikitest.Store(r).Heads(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) > 1 {
		if _, err := r.Resolve(ctx, id, wiki.Resolution{Take: heads[0]}); err != nil {
			t.Fatalf("resolve: %v", err)
		}
	}
	if probs, err := wikitest.Store(r).Fsck(ctx, nil); err != nil {
		t.Fatal(err)
	} else {
		for _, p := range probs {
			if !p.Warning {
				t.Errorf("fsck: %v", p)
			}
		}
	}
}
