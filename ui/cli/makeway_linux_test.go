package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// After makeWay every thread of the process runs at makeWayNice (run in a
// child process: the test binary keeps its own priority).
func TestMakeWayLowersEveryThread(t *testing.T) {
	if os.Getenv("PEERWIKI_MAKEWAY_CHILD") == "1" {
		makeWay()
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			var tid int
			fmt.Sscan(task.Name(), &tid)
			prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
			if err != nil {
				t.Fatal(err)
			}
			// The raw syscall returns 20 - nice.
			fmt.Printf("thread %d nice %d\n", tid, 20-prio)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMakeWayLowersEveryThread$")
	cmd.Env = append(os.Environ(), "PEERWIKI_MAKEWAY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	threads := 0
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "thread ") {
			continue
		}
		threads++
		if !strings.HasSuffix(l, fmt.Sprintf(" nice %d", makeWayNice)) {
			t.Fatalf("after makeWay: %s\n%s", l, out)
		}
	}
	if threads < 2 {
		t.Fatalf("%d threads reported:\n%s", threads, out)
	}
}
