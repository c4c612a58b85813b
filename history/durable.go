package history

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A revision written here is made durable before its commit returns
// (synchronous=FULL: one fsync of the write-ahead log): it may be the only
// copy there is. A batch received from a peer is not the only copy: the
// peer holds it and offers it again at the next sync. Waiting for the
// disk on it only delays the edit's arrival (on these machines an fsync
// takes 0.3 ms at the median and 4 ms at the 99th percentile, most of an
// edit's trip to a running replica), so peers' batches are committed with
// synchronous=NORMAL and made durable a little later:
//
//   - before this replica acknowledges revisions (a --confirm counts a
//     replica only once they are on its disk): SyncReceived;
//   - by the next local commit (its fsync covers the log before it);
//   - by the background checkpointer within receivedSyncDelay;
//   - when the store closes.
//
// A power cut (not a crash of the process: the kernel keeps what was
// written) can so lose the last moments of received revisions, which the
// next sync brings back; never a local one, never an acknowledged one.

// receivedSyncDelay bounds how long a long-lived store leaves received
// revisions in the page cache only.
const receivedSyncDelay = time.Second

// lazyWrites tracks commits not yet known to be on disk.
type lazyWrites struct {
	pending atomic.Bool
	mu      sync.Mutex // one fsync at a time
}

// beginLazy makes conn's next commit not wait for the disk; endLazy
// restores the connection before it goes back to the pool.
func beginLazy(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`)
	return err
}

func endLazy(conn *sql.Conn) error {
	_, err := conn.ExecContext(context.Background(), `PRAGMA synchronous = FULL`)
	return err
}

// SyncReceived makes every revision stored so far durable (an fsync of
// the write-ahead log, when a received batch was committed without one).
func (s *Store) SyncReceived() error {
	s.lazy.mu.Lock()
	defer s.lazy.mu.Unlock()
	if !s.lazy.pending.Swap(false) {
		return nil
	}
	f, err := os.OpenFile(s.path+"-wal", os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return nil // checkpointed and removed: on disk already
	}
	if err == nil {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.lazy.pending.Store(true)
	}
	return err
}
