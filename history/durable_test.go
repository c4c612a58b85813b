package history_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A batch received from a peer commits without waiting for the disk and
// is made durable by SyncReceived (an acknowledgement calls it); the
// connection it used goes back to the pool as it was, so a local commit
// on it still waits for the disk.
func TestReceivedBatchesSyncLater(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	if history.ReceivedPending(s) {
		t.Fatal("a new store has nothing waiting for the disk")
	}
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "P", "one\n")
	b.Put(page, "P", "two\n", page)
	if !history.ReceivedPending(s) {
		t.Fatal("a received batch should wait for SyncReceived")
	}
	// Every connection of the pool is back to synchronous=FULL (2).
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var mode int
		if err := c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil || mode != 2 {
			t.Fatalf("a pooled connection has synchronous = %d (%v), want 2 (FULL)", mode, err)
		}
	}
	if err := s.SyncReceived(); err != nil {
		t.Fatal(err)
	}
	if history.ReceivedPending(s) {
		t.Fatal("SyncReceived left the batch pending")
	}
	if err := s.SyncReceived(); err != nil {
		t.Fatal("a second SyncReceived with nothing pending:", err)
	}
}
