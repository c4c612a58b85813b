package p2p

import (
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// atLowPriority runs f on a thread backgroundNice nicer than the process,
// and that thread ends with it: it is not left at the lower priority for
// the Go runtime to run other goroutines on. (Only that thread is looked
// at: a node of another test may be writing its own search rows.)
func TestAtLowPriorityLeavesNoNiceThread(t *testing.T) {
	niceOf := func(tid int) int {
		raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil {
			t.Fatal(err)
		}
		return 20 - raw
	}
	base := niceOf(unix.Getpid())
	if base+backgroundNice > 19 {
		t.Skipf("the test runs at nice %d already", base)
	}
	var inside, tid int
	// Go may run f's goroutine on the main thread, which it never ends:
	// then f runs at the process's priority. Not every time.
	for range 20 {
		atLowPriority(func() {
			tid = unix.Gettid()
			inside = niceOf(tid)
		})
		if tid != unix.Getpid() {
			break
		}
		if inside != base {
			t.Fatalf("f ran on the main thread at nice %d, want the process's %d", inside, base)
		}
	}
	if tid == unix.Getpid() {
		t.Fatal("f ran on the main thread 20 times out of 20")
	}
	if inside != base+backgroundNice {
		t.Fatalf("f ran at nice %d, want %d", inside, base+backgroundNice)
	}
	// The thread ends with f's goroutine, a moment after it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d (nice %d) still runs 5 s after f", tid, niceOf(tid))
		}
	}
}
