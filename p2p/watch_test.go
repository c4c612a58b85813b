package p2p

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// inotifyEvent builds one event as the kernel writes it: the header, then
// the name padded with NULs.
func inotifyEvent(mask uint32, name string) []byte {
	padded := (len(name) + 1 + 15) / 16 * 16
	if name == "" {
		padded = 0
	}
	b := make([]byte, unix.SizeofInotifyEvent+padded)
	binary.NativeEndian.PutUint32(b[0:], 1) // wd
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(padded))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

// The watcher wakes for the write-ahead log only: the database file
// changes at checkpoints, and the repo's other files are the node's own.
func TestWALEvent(t *testing.T) {
	const wal = "peerwiki.db-wal"
	cat := func(evs ...[]byte) []byte {
		var b []byte
		for _, e := range evs {
			b = append(b, e...)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		events []byte
		want   bool
	}{
		{"the log", inotifyEvent(unix.IN_MODIFY, wal), true},
		{"the database", inotifyEvent(unix.IN_MODIFY, "peerwiki.db"), false},
		{"others, then the log", cat(inotifyEvent(unix.IN_CLOSE_WRITE, "peers.json"), inotifyEvent(unix.IN_CREATE, "members.cache.123"), inotifyEvent(unix.IN_MODIFY, wal)), true},
		{"a name that starts like the log", inotifyEvent(unix.IN_MODIFY, wal+"x"), false},
		{"overflow", inotifyEvent(unix.IN_Q_OVERFLOW, ""), true},
		{"a cut event", inotifyEvent(unix.IN_MODIFY, wal)[:unix.SizeofInotifyEvent+4], true},
		{"nothing", nil, false},
	} {
		if got := walEvent(tc.events, wal); got != tc.want {
			t.Errorf("%s: walEvent = %v, want %v", tc.name, got, tc.want)
		}
	}
}
