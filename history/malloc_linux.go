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

func init() { C.pw_few_arenas() }
