package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashIterations is how many kill -9 rounds the crash test runs:
// PEERWIKI_CRASH_ITERS, else a short run for CI.
func crashIterations() int {
	if n, err := strconv.Atoi(os.Getenv("PEERWIKI_CRASH_ITERS")); err == nil && n > 0 {
		return n
	}
	return 40
}

// TestCrashSafetyOfLocalCommits kills peerwiki with SIGKILL at random
// moments while it commits (new, edit, import), hundreds of times with
// PEERWIKI_CRASH_ITERS. After every kill, fsck must pass and every commit
// that returned success must be there. The seed is printed; set
// PEERWIKI_CRASH_SEED to replay a run.
func TestCrashSafetyOfLocalCommits(t *testing.T) {
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("PEERWIKI_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (PEERWIKI_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	r := InitRepo(t, "crash")
	page := r.OK("new", "Crash test", "--body", "start\n")
	committed := map[string]bool{} // revisions whose command exited 0
	importDir := t.TempDir()
	for i := 0; i < 30; i++ {
		os.WriteFile(filepath.Join(importDir, fmt.Sprintf("p%02d.md", i)), []byte(fmt.Sprintf("# Imported %d\n\n%s\n", i, strings.Repeat("text ", 400))), 0o644)
	}
	iters := crashIterations()
	killed := 0
	for i := 0; i < iters; i++ {
		var args []string
		switch rng.Intn(4) {
		case 0:
			args = []string{"new", fmt.Sprintf("Page %d", i), "--body", strings.Repeat(fmt.Sprintf("line %d\n", i), 1+rng.Intn(200))}
		case 1, 2:
			args = []string{"edit", page, "--body", fmt.Sprintf("edit %d\n%s", i, strings.Repeat("x\n", rng.Intn(300)))}
		default:
			// Re-import with one file changed, so every import has work to do.
			os.WriteFile(filepath.Join(importDir, "changing.md"), []byte(fmt.Sprintf("# Changing\n\nround %d\n", i)), 0o644)
			args = []string{"import", importDir, "--json"}
		}
		cmd := r.Command(args...)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(rng.Intn(25000)) * time.Microsecond
		var err error
		select {
		case err = <-done:
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-done
		}
		if err == nil {
			if args[0] == "import" {
				var res struct {
					Files []struct{ Rev, Action string }
				}
				if err := json.Unmarshal(out.Bytes(), &res); err != nil {
					t.Fatalf("import output: %v: %s", err, out.String())
				}
				for _, f := range res.Files {
					if f.Action != "unchanged" {
						committed[f.Rev] = true
					}
				}
			} else {
				committed[strings.TrimSpace(out.String())] = true
			}
		} else {
			killed++
		}
		if res := r.Run("fsck"); res.Code != 0 {
			t.Fatalf("iteration %d (seed %d, %v killed after %s): fsck failed:\n%s%s", i, seed, args[0], delay, res.Stdout, res.Stderr)
		}
	}
	// Every revision whose command reported success is present.
	var pages []Page
	r.JSON(&pages, "list", "--all", "--json")
	present := map[string]bool{}
	for _, p := range pages {
		var log []struct{ Rev string }
		r.JSON(&log, "log", p.ID, "--json")
		present[p.ID] = true
		for _, e := range log {
			present[e.Rev] = true
		}
	}
	lost := 0
	for rev := range committed {
		if !present[rev] {
			lost++
			t.Errorf("revision %s was reported committed but is missing", rev)
		}
	}
	if lost == 0 {
		t.Logf("%d rounds, %d killed mid-command, %d commits all present", iters, killed, len(committed))
	}
	if killed == 0 {
		t.Fatal("no command was ever killed mid-way: the test proved nothing")
	}
}
