package drafts

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLeftBehind(t *testing.T) {
	repo := t.TempDir()
	// A draft this process holds: not left behind, whatever it holds.
	held, err := New(repo, "bafypage", "Plan", "start\n")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(held.Path, []byte("typed\n"), 0o600)
	if l := LeftBehind(repo); len(l) != 0 {
		t.Fatalf("a held draft was listed: %v", l)
	}
	// Let go of the lock as a process's end would, without removing it.
	let := func(d *Draft) { d.lock.Close() }
	let(held)
	// One never changed, one damaged (its description gone), one being
	// set up, and a folder that is not a draft.
	same, _ := New(repo, "", "New page", "")
	let(same)
	broken, _ := New(repo, "bafyother", "Other", "x\n")
	os.WriteFile(broken.Path, []byte("y\n"), 0o600)
	os.Remove(filepath.Join(broken.dir, infoName))
	let(broken)
	os.Mkdir(filepath.Join(Dir(repo), "new-123"), 0o700)
	// And one whose process ended while setting it up, long ago.
	stale := filepath.Join(Dir(repo), "new-456")
	os.Mkdir(stale, 0o700)
	os.WriteFile(filepath.Join(stale, lockName), nil, 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	os.Mkdir(filepath.Join(Dir(repo), "edit-not-ours"), 0o700)

	l := LeftBehind(repo)
	if len(l) != 1 || l[0].Path != held.Path || l[0].Page != "bafypage" || l[0].Title != "Plan" || l[0].Began.IsZero() {
		t.Fatalf("left behind: %+v", l)
	}
	for _, gone := range []string{same.dir, broken.dir, stale} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Fatalf("%s is still there (%v)", gone, err)
		}
	}
	for _, kept := range []string{"new-123", "edit-not-ours"} {
		if _, err := os.Stat(filepath.Join(Dir(repo), kept)); err != nil {
			t.Fatalf("%s was touched: %v", kept, err)
		}
	}

	// Saved with --file: its folder goes; other paths are left alone.
	outside := filepath.Join(t.TempDir(), "plan.md")
	os.WriteFile(outside, []byte("z\n"), 0o600)
	DropSaved(repo, outside)
	DropSaved(repo, held.Path)
	if _, err := os.Stat(held.dir); !os.IsNotExist(err) {
		t.Fatalf("a saved draft's folder is still there (%v)", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("a file outside the drafts was touched: %v", err)
	}
}
