// Package wikitest makes wiki repos for tests of wiki and of the packages
// above it.
package wikitest

import (
	"path/filepath"
	"testing"
	"time"

	"peerwiki/history"
	"peerwiki/wiki"
)

// NewRepo makes a new wiki in a temporary directory, its identity named
// name; the test's cleanup closes it.
func NewRepo(t testing.TB, name string) *wiki.Repo {
	t.Helper()
	r, err := wiki.Init(filepath.Join(t.TempDir(), "repo"), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// StepClock makes r's clock start at start and move one minute each time
// it is read, so that times in output are the same every run.
func StepClock(r *wiki.Repo, start time.Time) {
	clock := start
	r.Now = func() time.Time {
		clock = clock.Add(time.Minute)
		return clock
	}
}

// Store is the history store behind r, for tests that look beneath the
// wiki at what is stored, or store what no honest replica would make.
func Store(r *wiki.Repo) *history.Store { return r.ReplicationStore() }
