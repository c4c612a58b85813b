package test

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// timerSlack is the timer slack of process pid's main thread, in ns.
func timerSlack(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/timerslack_ns")
	if err != nil {
		t.Skipf("this kernel does not show a process's timer slack: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A node's process runs with a timer slack of 1 ms (ui/cli calmTimers:
// it starts itself again with it, keeping its PID and its name), and
// still does its work: an edit made next to Ada's serve reaches Bob's. A
// larger slack that the process was started with is kept.
func TestServeRunsWithTimerSlack(t *testing.T) {
	a := InitRepo(t, "ada")
	page := a.OK("new", "Slack", "--body", "0\n")
	sa := a.StartServe()
	if got := timerSlack(t, sa.cmd.Process.Pid); got != 1_000_000 {
		t.Fatalf("serve's timer slack: %d ns, want 1 ms", got)
	}
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(sa.cmd.Process.Pid) + "/cmdline")
	if !strings.Contains(string(cmdline), "serve") {
		t.Fatalf("the started PID is not the serve any more: %q", cmdline)
	}
	// Named after its program still (ps, top), not "exe".
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(sa.cmd.Process.Pid) + "/comm")
	if want := filepath.Base(binary); strings.TrimSpace(string(comm)) != want[:min(len(want), 15)] {
		t.Fatalf("serve's process is named %q, want %q", comm, want)
	}
	repos, _ := inviteAndServe(t, a, "bob")
	a.OK("edit", page, "--body", "1\n", "--confirm", "1", "--confirm-timeout", "10s")
	if got := repos[0].OK("show", page); !strings.Contains(got, "1") {
		t.Fatalf("bob's copy after the confirmed edit: %q", got)
	}

	// Started with 5 ms by its parent: kept.
	c := InitRepo(t, "carol")
	runtime.LockOSThread() // the thread that starts the serve passes its slack on
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Skipf("prctl: %v", err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 5_000_000, 0, 0, 0); err != nil {
		t.Skipf("prctl: %v", err)
	}
	sc := c.StartServe()
	unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
	if got := timerSlack(t, sc.cmd.Process.Pid); got != 5_000_000 {
		t.Fatalf("serve started with 5 ms of timer slack runs with %d ns", got)
	}
}
