package history_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	_ "github.com/mattn/go-sqlite3"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// writeProbe writes to the store's file from a connection of its own, as
// another peerwiki process would, giving up after 200 ms of "busy".
func writeProbe(t *testing.T, s *history.Store) error {
	t.Helper()
	var seq int
	var name, path string
	if err := s.DB().QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=200")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`INSERT OR REPLACE INTO meta(key, value) VALUES('probe', '1')`)
	return err
}

// Serving a sync and checking the repo read in transactions of their own,
// without the write lock: a local edit made meanwhile does not wait.
func TestReadersDoNotBlockWriters(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	for p := range 5 {
		page := b.Put(cid.Undef, fmt.Sprintf("Page %d", p), "body")
		b.Put(page, fmt.Sprintf("Page %d", p), "body, edited", page)
	}
	plan, err := s.PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	probed := false
	err = s.SendPlanPacked(ctx, plan, func(history.Packed) error {
		if !probed {
			probed = true
			if err := writeProbe(t, s); err != nil {
				t.Errorf("a write while a sync is being sent: %v", err)
			}
		}
		return nil
	})
	if err != nil || !probed {
		t.Fatalf("send: %v (probed %v)", err, probed)
	}
	probed = false
	probs, err := s.Fsck(ctx, func(done, total int) {
		if !probed {
			probed = true
			if err := writeProbe(t, s); err != nil {
				t.Errorf("a write while fsck runs: %v", err)
			}
		}
	})
	if err != nil || len(probs) > 0 || !probed {
		t.Fatalf("fsck: %v %v (probed %v)", probs, err, probed)
	}
}
