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

// TestCrashSafetyOfSyncs kills `peerwiki sync` with SIGKILL at random
// points while it receives history from a running serve (a quarter of
// PEERWIKI_CRASH_ITERS rounds; every other round the receiver starts empty
// again, so that most kills land mid-transfer; should none have, up to ten
// more rounds run until one does). After every kill fsck must
// pass and the receiver must hold at least what it held before; a sync
// that exits 0 must have brought everything; the last sync completes.
func TestCrashSafetyOfSyncs(t *testing.T) {
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("PEERWIKI_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (PEERWIKI_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	a := InitRepo(t, "source")
	pages := a.ImportHistory(100, 4, 2000)
	sa := a.StartServe()
	code := a.OK("invite", "--uses", "1000")
	iters := max(crashIterations()/4, 10)
	// How much a whole transfer grows a receiver's write-ahead log: kill
	// points are drawn below that.
	walSize := func(r *Repo) int64 {
		fi, err := os.Stat(filepath.Join(r.Dir, "peerwiki.db-wal"))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	probe := NewRepo(t)
	probe.OK("join", code, "--no-sync")
	w0, peak := walSize(probe), int64(0)
	cmd := probe.Command("sync", "--peer", sa.Addr(), "--timeout", "20s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	probeDone := make(chan error, 1)
	go func() { probeDone <- cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Microsecond) {
		peak = max(peak, walSize(probe))
		if len(probeDone) > 0 {
			break
		}
	}
	if err := <-probeDone; err != nil {
		t.Fatalf("the first sync failed: %v", err)
	}
	whole := max(peak-w0, 1)
	var b *Repo
	held, killed, midway := 0, 0, 0
	for i := 0; i < iters || (midway == 0 && i < iters+10); i++ {
		if i%2 == 0 {
			b = NewRepo(t)
			b.OK("join", code, "--no-sync")
			held = 0
		}
		if rng.Intn(2) == 0 { // new work at the source
			a.OK("edit", pages[rng.Intn(len(pages))], "--body", fmt.Sprintf("round %d\n%s", i, strings.Repeat("y\n", rng.Intn(100))))
		}
		// The kill point is where the receiver's write-ahead log has grown
		// by a random amount (a child process per poll would be too slow
		// to place a kill inside a transfer of a few hundred ms).
		size := func() int64 { return walSize(b) }
		before, at := size(), whole/10+rng.Int63n(whole*8/10+1) // 10-90% of the way
		cmd := b.Command("sync", "--peer", sa.Addr(), "--timeout", "20s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		deadline := time.Now().Add(30 * time.Second)
	wait:
		for {
			select {
			case err = <-done:
				break wait
			default:
			}
			if size() > before+at || time.Now().After(deadline) {
				cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		if err == nil {
			if b.HeadsState() != a.HeadsState() {
				t.Fatalf("round %d (seed %d): sync exited 0 without bringing everything", i, seed)
			}
		} else {
			killed++
		}
		if res := b.Run("fsck"); res.Code != 0 {
			t.Fatalf("round %d (seed %d, sync killed after %d bytes of WAL): fsck failed:\n%s%s", i, seed, at, res.Stdout, res.Stderr)
		}
		n := revisions(b)
		if n < held {
			t.Fatalf("round %d (seed %d): the receiver went from %d revisions to %d", i, seed, held, n)
		}
		if err != nil && n > held && b.HeadsState() != a.HeadsState() {
			midway++ // killed after storing part of what it was receiving
		}
		held = n
	}
	b.syncWith(sa.Addr())
	if b.HeadsState() != a.HeadsState() {
		t.Fatal("the last sync did not bring the receiver level with the source")
	}
	b.OK("fsck")
	t.Logf("%d rounds, %d syncs killed, %d of them midway through a transfer (a whole one grows the WAL by %d bytes)", iters, killed, midway, whole)
	if midway == 0 {
		t.Fatal("no sync was ever killed midway through a transfer: the test proved nothing")
	}
}
