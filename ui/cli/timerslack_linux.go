package cli

import (
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nodeTimerSlack is the timer slack a node's process runs with (see
// calmTimers).
const nodeTimerSlack = time.Millisecond

// slackedEnv marks a process that calmTimers started again: it does not
// start itself again, whatever its timer slack says.
const slackedEnv = "PEERWIKI_TIMER_SLACKED"

// calmTimers starts a node's process (serve, the terminal UI) again with
// a timer slack of nodeTimerSlack instead of Linux's 50 us, as systemd's
// TimerSlackNSec= does for a service. Go's monitor thread (sysmon) sleeps
// 20 us at a time for 50 rounds whenever a system call or a cgo call
// (every SQLite call) returns while it sleeps long, and a node makes
// such calls for every edit that reaches it: with 50 us of slack it woke
// about every 100 us for the next 5 ms, each time taking the core from
// the thread storing or announcing the edit when the other core was busy
// (perf sched: a replica's write preempted 30 times in 3.5 ms; issue 14).
// With 1 ms the rounds are about a millisecond apart: a serve spends
// 1.8-2.0 ms of CPU an edit instead of 2.6-2.7 at the origin, 1.7-2.0
// instead of 2.1-2.4 at the replica (scripts/bench-edit-path.py). The
// price: a node's timers fire up to 1 ms late, which none of its
// timeouts and intervals notice, and so does the Go scheduler's 3 us
// pause before it takes another processor's next goroutine (5 us of
// slack: more wakes, and an edit's trip was slower). The slack is a
// thread's own, and every thread the Go runtime starts takes its
// creator's, so it is set before the runtime starts its threads: in a
// new image of the process (exec keeps the PID, the arguments, the
// environment and the open files; nothing has been opened or printed
// yet). A larger slack the process was started with is kept. Failing
// changes nothing but the timing.
func calmTimers() {
	if !asProgram {
		return
	}
	if os.Getenv(slackedEnv) != "" {
		os.Unsetenv(slackedEnv) // not for what this process starts
		return
	}
	if cur, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err != nil || cur >= int(nodeTimerSlack) {
		return
	}
	// The program's own path, not /proc/self/exe: the kernel names a
	// process after the file it runs (ps and top would say "exe").
	exe, err := os.Executable()
	if err != nil {
		return
	}
	runtime.LockOSThread() // the thread whose slack is set is the one that execs
	defer runtime.UnlockOSThread()
	if unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(nodeTimerSlack), 0, 0, 0) != nil {
		return
	}
	env := append(os.Environ(), slackedEnv+"=1")
	_ = syscall.Exec(exe, os.Args, env)
	// Still here: the exec failed (the program was replaced or removed
	// since it started); this process goes on as it is.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // 0: the thread's default again
}
