package p2p

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// backgroundNice is how much less a node's background writer runs at
// than the node (atLowPriority).
const backgroundNice = 10

// atLowPriority runs f on a thread of its own, backgroundNice nicer than
// the process, and waits for it. A node's background writes (the search
// rows of live edits, a burst every 1-10 s while edits arrive: 145 pages,
// 10-20 ms of a core) ran at the priority of its network and its
// receiving writes, and on two cores an edit that arrived during one
// waited for the core (its validation 1.7 ms instead of 0.14; issue 14).
// Linux keeps a nice value a thread, and an unprivileged thread cannot
// take its old value back, so the thread is never given back to the Go
// runtime: it ends with f's goroutine (runtime.LockOSThread without
// Unlock), and its priority with it. Failing to lower it changes nothing
// but the timing.
func atLowPriority(f func()) {
	// The caller keeps its thread while it waits, so that f's goroutine
	// is not run on it (when it is the main thread: see below).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: see above
		tid := unix.Gettid()
		if tid == unix.Getpid() {
			// The main thread, which Go never ends (it would keep it
			// parked for good): f runs as it is.
			runtime.UnlockOSThread()
			f()
			return
		}
		if raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil {
			nice := 20 - raw // the raw syscall's value
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, min(nice+backgroundNice, 19))
		}
		f()
	}()
	<-done
}
