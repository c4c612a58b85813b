//go:build linux && cgo

package history

/*
#include <malloc.h>

// pw_few_arenas caps glibc's malloc arenas. SQLite allocates on whichever
// thread cgo calls it from, and glibc gives threads arenas of their own
// (up to eight a core), each keeping what was freed in it: a sync
// --unshallow of the 100,000-page wiki peaked at 177 MB resident, 136 MB
// of it anonymous where Go's heap was at most 70. With two arenas: 149
// MB, and no slower (55 s against 60 s).
static void pw_few_arenas(void) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, 2);
#endif
}
*/
import "C"

import (
	"sync/atomic"
	"time"
)

func init() { C.pw_few_arenas() }

// releaseFreed gives the memory malloc keeps free back to the system
// (malloc_trim), at most every trimEvery. A Bulk's page cache is freed
// when it ends, but glibc kept the freed pages, scattered among what
// SQLite still holds: over the groups of a 100,000-page sync
// --unshallow, memory outside Go's heap grew from 35 to 60 MB (resident
// 149 MB; 116 MB trimmed). A trim at the end of every Bulk cost a plain
// join of that wiki 7 s: a deepening ends a group whenever its writer
// catches up with the network, and each trim made SQLite fault its
// memory in again.
func releaseFreed() {
	now := time.Now().UnixNano()
	last := lastTrim.Load()
	if now-last < int64(trimEvery) || !lastTrim.CompareAndSwap(last, now) {
		return
	}
	C.malloc_trim(0)
}

const trimEvery = 10 * time.Second

var lastTrim atomic.Int64
