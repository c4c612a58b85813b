package test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rssKB reads a process's resident set size.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

// A member sends three valid bodies of 35 MB each (within the 64 MiB
// limit): the receiving serve once grew to 4 GB resident and stayed
// there, and its local writes stalled for half a minute. Its resident
// size, sampled through the sync, now stays within a bound, and it
// serves a local write meanwhile.
func TestServeMemoryBoundedByLargeBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 105 MB")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to sample resident memory")
	}
	ada := InitRepo(t, "ada")
	ada.OK("new", "Home", "--body", "start\n")
	sa := ada.StartServe()
	bob := NewRepo(t)
	bob.OK("join", ada.OK("invite"), "--name", "bob")
	rng := rand.New(rand.NewSource(7))
	dir := t.TempDir()
	for i := range 3 {
		var sb strings.Builder
		for sb.Len() < 35<<20 {
			fmt.Fprintf(&sb, "line %d of large page %d: %d\n", rng.Intn(1<<30), i, rng.Intn(1<<30))
		}
		f := filepath.Join(dir, fmt.Sprintf("big%d.md", i))
		if err := os.WriteFile(f, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		bob.OK("new", fmt.Sprintf("Big %d", i), "--file", f)
	}

	pid := sa.cmd.Process.Pid
	base := rssKB(pid)
	var peak atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			peak.Store(max(peak.Load(), rssKB(pid)))
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
		}
	}()
	syncDone := make(chan Result, 1)
	go func() { syncDone <- bob.Run("sync", "--peer", sa.Addr(), "--timeout", "180s") }()
	// Ada writes while the bodies arrive.
	ada.OK("new", "Written meanwhile", "--body", "local work goes on\n")
	res := <-syncDone
	close(stop)
	<-done
	if res.Code != 0 {
		t.Fatalf("sync of three 35 MB pages: %+v\n%s", res, sa.Log())
	}
	Eventually(t, 30*time.Second, "ada to hold the three pages", func() bool {
		n := 0
		for _, p := range ada.List() {
			if strings.HasPrefix(p.Title, "Big ") {
				n++
			}
		}
		return n == 3
	})
	grew := (peak.Load() - base) / 1024
	t.Logf("serve's resident memory: %d MB before, peak %d MB (+%d MB) receiving 105 MB of bodies", base/1024, peak.Load()/1024, grew)
	if grew > 1536 {
		t.Fatalf("serve grew by %d MB receiving three 35 MB bodies", grew)
	}
}
