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

// TestBulkAllOrNothing: batches stored by a Bulk are there after Commit,
// and none of them after a later batch fails; either way the connection
// goes back to the pool with its settings.
func TestBulkAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	history.OneConnection(s)
	ckpt, temp, err := history.ConnSettings(s)
	if err != nil {
		t.Fatal(err)
	}
	b := historytest.NewBuilder(t, s)
	var batches [][]history.Block
	var pages, heads []cid.Cid
	for i := range 3 {
		page, blocks := b.Batch(cid.Undef, fmt.Sprintf("Page %d", i), "first\n")
		head, more := b.Batch(page, fmt.Sprintf("Page %d", i), "second\n", page)
		batches = append(batches, append(blocks, more...))
		pages, heads = append(pages, page), append(heads, head)
	}
	store := func(batches ...[]history.Block) (*history.BulkResult, error) {
		t.Helper()
		bulk, err := s.BeginBulk(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer bulk.Rollback()
		for _, blocks := range batches {
			c, err := s.Check(blocks)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bulk.Put(c); err != nil {
				return nil, err
			}
		}
		return bulk.Commit(ctx)
	}
	settings := func(when string) {
		t.Helper()
		if c, tm, err := history.ConnSettings(s); err != nil || c != ckpt || tm != temp {
			t.Fatalf("%s: the connection has wal_autocheckpoint %d, temp_store %d (want %d, %d; %v)", when, c, tm, ckpt, temp, err)
		}
	}

	res, err := store(batches[0], batches[1])
	if err != nil {
		t.Fatal(err)
	}
	if res.Revisions != 4 || len(res.Pages) != 2 {
		t.Fatalf("stored %+v, want 4 revisions of 2 pages", res)
	}
	settings("after a commit")
	before, err := s.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The third page, then a revision whose parent is in no batch.
	missing, _ := b.Batch(pages[2], "Page 2", "third\n", heads[2])
	_, orphan := b.Batch(pages[2], "Page 2", "fourth\n", missing)
	if _, err := store(batches[2], orphan); !errors.Is(err, history.ErrMissingParent) {
		t.Fatalf("a batch with a missing parent: %v", err)
	}
	if after, err := s.Totals(ctx); err != nil || after != before {
		t.Fatalf("a failed bulk changed the store from %+v to %+v (%v)", before, after, err)
	}
	settings("after a rollback")
}
