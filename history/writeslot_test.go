package history_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A writer of the process that holds the database (here a Bulk, as a
// sync's group) waits for the store's write slot, which the holder hands
// on as it commits, not for SQLite's lock (which it polls, a millisecond
// and more apart): it is counted as waiting, so a holder by choice lets it
// in (WritersWaiting), and it never enters the waiting room that writers
// of other processes use.
func TestWriterOfTheSameProcessWaitsForTheSlot(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	_, first := b.Batch(cid.Undef, "Held", "by the bulk")
	bulk, err := s.BeginBulk(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checked, err := s.Check(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bulk.Put(checked); err != nil {
		t.Fatal(err)
	}
	_, second := b.Batch(cid.Undef, "Waiting", "for the slot")
	stored := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, second)
		stored <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.WritersInRoom() == 0 {
		select {
		case err := <-stored:
			t.Fatalf("the write went through while the bulk held the database: %v", err)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the second writer never waited")
		}
	}
	if !s.WritersWaiting() {
		t.Fatal("WritersWaiting says no one waits while a writer of this process does")
	}
	if _, err := os.Stat(s.WaitingRoom()); !os.IsNotExist(err) {
		t.Fatalf("a writer of the same process entered the waiting room (%v)", err)
	}
	if _, err := bulk.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-stored; err != nil {
		t.Fatalf("the write after the bulk's commit: %v", err)
	}
	if s.WritersInRoom() != 0 || s.WritersWaiting() {
		t.Fatal("a writer still counted as waiting after both wrote")
	}
	for _, title := range []string{"Held", "Waiting"} {
		if rows, err := s.PagesByTitle(ctx, title); err != nil || len(rows) != 1 {
			t.Errorf("%s: %d pages (%v)", title, len(rows), err)
		}
	}
}
