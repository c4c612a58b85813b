package cli

import (
	"math"
	"os"
	"runtime/debug"
)

// shortLivedGC tunes the garbage collector for a command that runs for
// milliseconds: collection is deferred until the heap nears a generous
// limit (256 MiB), so a one-shot command spends its time on its work, not on
// collecting garbage that process exit frees anyway (merge-file of a 1 MB
// page ran 25% faster). A GOGC or GOMEMLIMIT the user set wins.
func shortLivedGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(256 << 20)
	debug.SetGCPercent(-1)
}

// keepRunning prepares a command that keeps running (serve, sync, join,
// the terminal UI): the default collector, and the repo opened for a
// long-lived process.
func (a *app) keepRunning() {
	a.longLived = true
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}

// transferGC is keepRunning for a command that runs to the end of a
// transfer (join, sync): the collector runs at GOGC 50, so that what the
// transfer streams through doesn't pile up twice over. A sync --unshallow
// of the 100,000-page wiki peaked at 162 MB resident with the default
// (its live heap about 34 MB, the rest SQLite's), 144 MB with it, and took
// no longer (57.6 against 58 s). A GOGC or GOMEMLIMIT the user set wins.
func (a *app) transferGC() {
	a.keepRunning()
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(50)
}

// streamingGC is for a command whose work grows with the wiki (list,
// import): the default collector, so that what it streams is collected
// as it goes instead of piling up to shortLivedGC's limit (list --json of
// 100,000 pages: 214 MB resident without it, 40 MB with it, and no
// slower). A GOGC or GOMEMLIMIT the user set wins.
func streamingGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}
