package history_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// newPages makes batches of n new pages of one revision each.
func newPages(b *historytest.Builder) func(prefix string, n int) []history.Block {
	return func(prefix string, n int) []history.Block {
		var all []history.Block
		for i := range n {
			_, blocks := b.Batch(cid.Undef, fmt.Sprintf("%s %d", prefix, i), fmt.Sprintf("text of %s %d\n", prefix, i))
			all = append(all, blocks...)
		}
		return all
	}
}

// A fresh store's writer answers "is this block stored" from its filter
// while its own commits are the only ones: batches that repeat blocks
// already stored (by this process, or by another since) store each block
// once and fail nothing. Another process's commit is seen through the
// commit counter; without that check the last batch here failed on the
// blocks' unique CIDs.
func TestBlockFilterStoresEachBlockOnce(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	batch := newPages(historytest.NewBuilder(t, s))
	count := func() (n int) {
		if err := s.DB().QueryRow(`SELECT count(*) FROM blocks`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := batch("First", 50)
	if _, err := s.Put(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := batch("Second", 50)
	// The first batch again, with new blocks: the filter may hold the
	// old ones (the database is asked), not the new ones.
	if _, err := s.Put(ctx, append(append([]history.Block(nil), first...), second...)); err != nil {
		t.Fatalf("a batch repeating stored blocks: %v", err)
	}
	if got, want := count(), len(first)+len(second); got != want {
		t.Fatalf("%d blocks stored, want %d", got, want)
	}

	// Another process stores a batch of its own.
	third := batch("Third", 50)
	putAsAnotherProcess(t, s, third)
	// This one then receives the same, and more.
	fourth := batch("Fourth", 50)
	if _, err := s.Put(ctx, append(append([]history.Block(nil), third...), fourth...)); err != nil {
		t.Fatalf("a batch repeating what another process stored: %v", err)
	}
	if got, want := count(), len(first)+len(second)+len(third)+len(fourth); got != want {
		t.Fatalf("%d blocks stored, want %d", got, want)
	}
	if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck: %v %v", probs, err)
	}
}

// A small write of this process between another process's commit and
// its next large batch (a live edit, which does not ask the filter) does
// not make the filter valid again.
func TestBlockFilterSeesACommitBeforeASmallWrite(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	batch := newPages(historytest.NewBuilder(t, s))
	if _, err := s.Put(ctx, batch("First", 50)); err != nil {
		t.Fatal(err)
	}
	theirs := batch("Theirs", 50)
	putAsAnotherProcess(t, s, theirs)
	if _, err := s.Put(ctx, batch("Small", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, append(append([]history.Block(nil), theirs...), batch("Last", 50)...)); err != nil {
		t.Fatalf("a batch repeating what another process stored: %v", err)
	}
}

// putAsAnotherProcess stores blocks through a store of its own on s's
// file, as another process would (its commits are not s's).
func putAsAnotherProcess(t *testing.T, s *history.Store, blocks []history.Block) {
	t.Helper()
	other, err := history.Open(s.Path(), historytest.WikiID, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Put(context.Background(), blocks); err != nil {
		t.Fatal(err)
	}
}
