package history_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

func TestAutoVacuumSetting(t *testing.T) {
	s := historytest.NewStore(t, history.Options{})
	var v int
	s.DB().QueryRow(`PRAGMA auto_vacuum`).Scan(&v)
	if v != 2 {
		t.Fatalf("auto_vacuum = %d, want 2 (incremental)", v)
	}
}

// Free pages past the margin go back a step at a time, a step a write
// at most once a second: not all in the first write after they were
// freed (the 30,000 an import of 100,000 pages leaves took 1.4 s of a
// joiner's redemption), and all of them in the end.
func TestFreePagesGoBackInSteps(t *testing.T) {
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	db := s.DB()
	if _, err := db.Exec(`CREATE TABLE junk(x BLOB)`); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := db.Exec(`INSERT INTO junk SELECT zeroblob(3000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 500) SELECT i FROM n)`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`DROP TABLE junk`); err != nil {
		t.Fatal(err)
	}
	free := func() int {
		var n int
		if err := db.QueryRow(`PRAGMA freelist_count`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := free()
	if before < 2500 {
		t.Fatalf("%d free pages: the test wants over two steps", before)
	}
	b.Put(cid.Undef, "First", "a write after the drop\n")
	first := free()
	if first < before-1100 || first >= before {
		t.Fatalf("free pages %d -> %d after one write: want one step of about 1,024", before, first)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; free() > 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d free pages left after 20 s of writes", free())
		}
		time.Sleep(300 * time.Millisecond)
		b.Put(cid.Undef, fmt.Sprintf("Page %d", i), "another write\n")
	}
}
