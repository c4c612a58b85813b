package cli

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// userTunedGC reports whether the user set GOGC or GOMEMLIMIT: then
// what they set wins over every setting below.
func userTunedGC() bool { return os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" }

// shortLivedGC tunes the garbage collector for a command that runs for
// milliseconds: collection is deferred until the heap nears a generous
// limit (256 MiB), so a one-shot command spends its time on its work, not on
// collecting garbage that process exit frees anyway (merge-file of a 1 MB
// page ran 25% faster). A GOGC or GOMEMLIMIT the user set wins.
func shortLivedGC() {
	if userTunedGC() {
		return
	}
	debug.SetMemoryLimit(256 << 20)
	debug.SetGCPercent(-1)
}

// onePageWrite tunes the runtime for a command that writes one page
// (new, edit, rm, resolve): its work is sequential, and with one P the Go
// runtime keeps it on one thread instead of waking others for every
// goroutine hand-off (the notice's dial, a cgo call's return). Next to a
// running node that matters twice: the command is done sooner (an edit
// 20-21 ms against 23), and what it still does after telling the node of
// its commit (its exit: fewer threads to end) takes less of the cores the
// node needs to announce the edit at that moment (its CPU then, 0.8
// against 1.0-1.1 ms at the median; an edit's trip to a replica, p99 of
// 400 in turn with the build before, 5.0 against 5.8 ms: issue 14). A
// GOMAXPROCS the user set wins.
func onePageWrite() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(1)
}

// keepRunning prepares a command that keeps running (serve, sync, join,
// the terminal UI): the default collector, and the repo opened for a
// long-lived process.
func (a *app) keepRunning() {
	a.longLived = true
	if userTunedGC() {
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}

// nodeHeapFloor is the smallest heap a node's process collects at
// (nodeGC).
const nodeHeapFloor = 16 << 20

var nodeGCOnce sync.Once

// nodeGC keeps a node's collector (serve, the terminal UI) from running
// at a small heap's pace: at the default GOGC of 100 a serve with 2 MB
// live collected every 2 MB, once every 30 edits received, and a
// collection is 2-5 ms of a core and pauses that, on two cores, fell on
// the trips of the edits around it (GODEBUG=gctrace=1 on a pair of
// serves, 200 edits: 7 collections at the replica, 4 at the origin; issue
// 14). It sets GOGC so that the next collection comes at nodeHeapFloor,
// or at twice the live heap when that is more (GOGC 100, as keepRunning
// sets it): what a node holds between collections grows by at most
// nodeHeapFloor, never a multiple of a large heap. It looks at its start
// and after each collection (afterEachGC), at what that collection left
// live, so an idle node is never woken for it. A GOGC or GOMEMLIMIT the
// user set wins.
func nodeGC() {
	if userTunedGC() {
		return
	}
	nodeGCOnce.Do(func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		percent := 100
		look := func() {
			metrics.Read(sample)
			if want := nodeGCPercent(sample[0].Value.Uint64()); want != percent {
				debug.SetGCPercent(want)
				percent = want
			}
		}
		look() // none measured yet: the floor's GOGC from the start
		afterEachGC(look)
	})
}

// gcSentinel is an object nothing refers to, whose cleanup tells that a
// collection ran (afterEachGC). The pointer keeps it out of the tiny
// allocator, which batches small pointer-free objects whose cleanups may
// never run.
type gcSentinel struct{ _ *byte }

// afterEachGC calls f after every collection from now on, one call at a
// time, in the runtime's cleanup goroutine: each call arms the next with
// a new unreachable object (runtime.AddCleanup).
func afterEachGC(f func()) {
	var arm func()
	arm = func() { runtime.AddCleanup(new(gcSentinel), func(struct{}) { f(); arm() }, struct{}{}) }
	arm()
}

// nodeGCPercent is the GOGC that puts the next collection at
// nodeHeapFloor for a live heap of live bytes (0: none measured yet), 100
// at least. The collector's goal is the larger of live*(1+GOGC/100) and
// its minimum heap, 4 MiB*GOGC/100 (the Go GC guide): GOGC 400 puts it
// at 16 MiB for any live heap up to 3.2 MiB; above, a smaller GOGC does.
func nodeGCPercent(live uint64) int {
	if live >= nodeHeapFloor/2 {
		return 100
	}
	want := uint64(100 * nodeHeapFloor / (4 << 20))
	if live > 0 {
		want = min(want, 100*(nodeHeapFloor-live)/live)
	}
	return int(max(100, want/25*25)) // in steps: a heap that moves a little changes nothing
}

// transferGC is keepRunning for a command that runs to the end of a
// transfer (join, sync). What a transfer streams through the heap is
// garbage at once: at GOGC 50, a heap of 16-20 MB live (most of it the
// receiver's batches in flight) was collected every 8-10 MB, and the
// collector was a tenth of a join's CPU. At GOGC 200 under a soft limit
// of 56 MiB (the Go runtime's whole memory) it is collected about every
// 25 MB and never grows past the limit. The 100,000-page wiki of 3
// revisions a page, runs alternating: join --shallow 19.3 s and 125 MB
// resident against 22.4-23.6 s and 110-117 MB; a plain join 41.8 s and
// 134 MB against 46.3 s and 121 MB. (A limit of 64 MiB: 146 MB.) A GOGC
// or GOMEMLIMIT the user set wins.
func (a *app) transferGC() {
	a.keepRunning()
	if userTunedGC() {
		return
	}
	debug.SetGCPercent(200)
	debug.SetMemoryLimit(56 << 20)
}

// streamingGC is for a command whose work grows with the wiki (list,
// import, search, fsck): the default collector, so that what it streams is collected
// as it goes instead of piling up to shortLivedGC's limit (list --json of
// 100,000 pages: 214 MB resident without it, 40 MB with it, and no
// slower). A GOGC or GOMEMLIMIT the user set wins.
func streamingGC() {
	if userTunedGC() {
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}

// importGC is streamingGC for `import --batch`, under a soft limit of
// 80 MiB (the Go runtime's whole memory): the import holds a batch's
// files and their pages' current versions, and the list of what it did,
// and the default collector let it grow past 150 MB resident. 97,000
// edited pages of the 100,000-page wiki: 121 MB and 202 s with the limit
// and the store's block cache held to 4 MB (wiki.ImportBatched), 145 MB
// and 244 s with the limit alone (the collector ran near the limit);
// 24,000 pages at 56 MiB took half again as long. A GOGC or GOMEMLIMIT
// the user set wins.
func importGC() {
	streamingGC()
	if userTunedGC() {
		return
	}
	debug.SetMemoryLimit(80 << 20)
}
