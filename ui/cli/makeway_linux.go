package cli

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// makeWayNice is the nice value a command takes once the node on its repo
// has its commit notice (makeWay).
const makeWayNice = 10

// makeWay lowers this command's scheduling priority once it has told the
// node on its repo of its commit: what the command still does (print,
// close the database, exit) is a few milliseconds that nobody waits on as
// much as on the node announcing the edit and the peers storing it, and
// on two cores the exiting command took a core from one of them (issue
// 14: an edit's trip to a replica, from the commit, had a median of 4.3-
// 5.5 ms and a p99 of 11-17 ms with the command at its normal priority;
// 3.4-3.5 and 8-9 ms with it out of the way). The command itself ends a
// moment later only when the machine is busy. A write that waits for
// confirmations makes way once it has them: until then the command's
// requests to the node are on the confirmation's way. Linux keeps a nice
// value a thread, so every thread of the process is set; threads started
// later inherit it. Failing changes nothing but the timing.
func makeWay() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, makeWayNice)
		}
	}
}
