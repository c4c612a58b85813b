package history_test

import (
	"peerwiki/history"
	"peerwiki/history/historytest"
	"testing"
)

func TestAutoVacuumSetting(t *testing.T) {
	s := historytest.NewStore(t, history.Options{})
	var v int
	s.DB().QueryRow(`PRAGMA auto_vacuum`).Scan(&v)
	if v != 2 {
		t.Fatalf("auto_vacuum = %d, want 2 (incremental)", v)
	}
}
