package history

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// SQLite lets one writer at a time into a database, and a writer that
// finds it taken polls: every 100 ms once it has waited a while. A sync
// that stores batch after batch begins its next transaction microseconds
// after committing the last, so a local edit polling for its turn almost
// never finds the lock free: it waited for the whole sync (a second for
// 70 MB, the length of a fresh replica's join) or failed as busy.
//
// Turns make writing fair across processes. A writer that finds the
// database taken says so with a file of its own in the waiting room
// (peerwiki.db-waiting/PID-N) while it waits; a writer that has just
// committed looks into the room and, when someone waits, lets them in
// before it writes again. Writers that never meet never touch the room.

// busyTimeout is the DSN's busy timeout, how long a writer waits its turn.
const busyTimeout = 10 * time.Second

// The statements that make a connection try once without waiting for
// the lock, and wait again (busyTimeout), as it came from the pool.
var (
	pragmaNoWait = `PRAGMA busy_timeout = 0`
	pragmaWait   = fmt.Sprintf(`PRAGMA busy_timeout = %d`, busyTimeout.Milliseconds())
)

// waitingRoom is where writers waiting for the database say so.
func (s *Store) waitingRoom() string { return s.path + "-waiting" }

var waiterSeq atomic.Int64

// beginWriteTurn begins a write transaction on conn, waiting its turn:
// at once when the database is free, else registered in the waiting room
// until SQLite lets it in (or the busy timeout passes).
func (s *Store) beginWriteTurn(ctx context.Context, conn *sql.Conn) (*connTx, error) {
	if _, err := conn.ExecContext(ctx, pragmaNoWait); err != nil {
		return nil, err
	}
	tx, err := beginWrite(ctx, conn)
	if _, rerr := conn.ExecContext(ctx, pragmaWait); rerr != nil && err == nil {
		tx.end()
		return nil, rerr
	}
	if err == nil || !isBusy(err) {
		return tx, err
	}
	leave := s.enterWaitingRoom()
	defer leave()
	return beginWrite(ctx, conn)
}

// enterWaitingRoom registers this writer as waiting; the returned func
// unregisters it. Failing to register only costs fairness.
func (s *Store) enterWaitingRoom() func() {
	s.waiting.Add(1)
	leave := s.enterWaitingRoomDir()
	return func() { leave(); s.waiting.Add(-1) }
}

// enterWaitingRoomDir registers the waiter where other processes see it.
func (s *Store) enterWaitingRoomDir() func() {
	room := s.waitingRoom()
	if err := os.MkdirAll(room, 0o700); err != nil {
		return func() {}
	}
	name := filepath.Join(room, fmt.Sprintf("%d-%d", os.Getpid(), waiterSeq.Add(1)))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return func() {}
	}
	f.Close()
	return func() { os.Remove(name) }
}

// WritersWaiting reports whether a writer of a live process, this one
// included, waits for its turn at the database: one holding the write
// lock across several batches (a sync's group) should commit and let it
// in. A directory read; the room is absent while nobody waits.
func (s *Store) WritersWaiting() bool {
	room := s.waitingRoom()
	entries, err := os.ReadDir(room)
	return err == nil && liveWaiters(room, entries)
}

// maxYield bounds how long a writer lets others go first after a commit.
const maxYield = 250 * time.Millisecond

// yieldToWaiters, called after a commit, waits while writers of live
// processes wait in the room (and maxYield at most), so that one gets the
// lock before this writer's next transaction. A waiter left behind by a
// process that died is cleared away.
func (s *Store) yieldToWaiters() {
	room := s.waitingRoom()
	deadline := time.Now().Add(maxYield)
	for time.Now().Before(deadline) {
		entries, err := os.ReadDir(room)
		if err != nil || !liveWaiters(room, entries) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liveWaiters reports whether entries name a waiter of a live process,
// removing those of processes that are gone or that waited past any
// busy timeout.
func liveWaiters(room string, entries []os.DirEntry) bool {
	live := false
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.SplitN(e.Name(), "-", 2)[0])
		info, ierr := e.Info()
		stale := err != nil || ierr != nil || time.Since(info.ModTime()) > 2*busyTimeout ||
			syscall.Kill(pid, 0) == syscall.ESRCH
		if stale {
			os.Remove(filepath.Join(room, e.Name()))
			continue
		}
		live = true
	}
	return live
}
