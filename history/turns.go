package history

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	release, err := s.takeWriteSlot(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.beginWriteTurnSQL(ctx, conn)
	if err != nil {
		release()
		return nil, err
	}
	tx.release = release
	return tx, nil
}

func (s *Store) beginWriteTurnSQL(ctx context.Context, conn *sql.Conn) (*connTx, error) {
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

// The write slot. SQLite's lock does not say when it is free: a writer
// that finds it taken sleeps and tries again (1 ms, then 2, 5, 10 ...),
// however soon the holder commits. Between the writers of one process
// that was a millisecond or more for an edit received while the node
// wrote search rows or restarted the log (the receiving write's slowest
// 1%: 4-5.5 ms, issue 14). A writer of this process first takes the
// store's write slot, which the writer before it hands on as it commits;
// SQLite's lock and the waiting room are left to writers of other
// processes. A writer waiting for the slot counts as waiting (indexSome
// ends its chunk). After busyTimeout without it (a writer that keeps the
// slot that long, or one nested in another's transaction, which would
// wait for itself) the writer goes on to SQLite's lock as before.

// takeWriteSlot takes the store's write slot, waiting for it as long
// as ctx lets it and busyTimeout at most; the returned func gives it back
// (a no-op if the wait ran out).
func (s *Store) takeWriteSlot(ctx context.Context) (release func(), err error) {
	if release, ok := s.tryWriteSlot(); ok {
		return release, nil
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	t := time.NewTimer(busyTimeout)
	defer t.Stop()
	select {
	case s.writeSlot <- struct{}{}:
		return s.slotRelease(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return func() {}, nil
	}
}

// tryWriteSlot takes the write slot if it is free.
func (s *Store) tryWriteSlot() (release func(), ok bool) {
	select {
	case s.writeSlot <- struct{}{}:
		return s.slotRelease(), true
	default:
		return nil, false
	}
}

func (s *Store) slotRelease() func() {
	var once sync.Once
	return func() { once.Do(func() { <-s.writeSlot }) }
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
	if s.waiting.Load() > 0 {
		return true // this process's, for the write slot or in the room
	}
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
