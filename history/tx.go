package history

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/ipfs/go-cid"
)

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
	Exec(query string, args ...any) (sql.Result, error)
}

// Reader is the read view handed to Options.VerifyAuto: it sees the blocks
// of the transaction in progress.
type Reader interface {
	// Revision returns a stored revision.
	Revision(c cid.Cid) (*Revision, error)
	// Body returns the text a body root addresses.
	Body(root cid.Cid) (string, error)
	// MergeBase returns the deterministic merge base of two revisions.
	MergeBase(a, b cid.Cid) (cid.Cid, error)
	// PageDAG returns every revision of a page with its parents.
	PageDAG(page cid.Cid) (map[cid.Cid]*DAGNode, error)
	// CarriedPolicy returns the policy override a revision carries.
	CarriedPolicy(c cid.Cid) (string, error)
}

type txReader struct{ q querier }

func (r txReader) Revision(c cid.Cid) (*Revision, error) { return getRevision(r.q, c) }
func (r txReader) Body(c cid.Cid) (string, error)        { return getBody(r.q, c) }

func (r txReader) MergeBase(a, b cid.Cid) (cid.Cid, error) {
	return mergeBase(r.q, a, b)
}

// Reader returns a read view of the committed store.
func (s *Store) Reader() Reader { return txReader{s.q} }

// connTx is a transaction on one connection, and a querier for it,
// begun with SQL rather than BeginTx. database/sql ties a Tx to a context
// of its own, and then gives every query inside it a goroutine that
// watches that context: a dozen goroutines, each a wake-up of another
// thread, in a local edit's write transaction.
type connTx struct {
	ctx  context.Context // for the queries
	conn *sql.Conn
	// release gives the store's write slot back (turns.go), once the
	// write transaction has ended; nil for a read.
	release func()
}

// beginRead opens a read transaction on conn; end closes it. A plain
// BEGIN is deferred: BeginTx would send the DSN's BEGIN IMMEDIATE (right
// for writes), which takes the write lock, so every local write would wait
// for a long read such as a sync being served. Its queries follow ctx.
func beginRead(ctx context.Context, conn *sql.Conn) (*connTx, error) {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	return &connTx{ctx: ctx, conn: conn}, nil
}

// beginWrite opens a write transaction on conn; commit or end closes it.
// Waiting for the write lock follows ctx; once it is held, the
// transaction (one batch: milliseconds, a few hundred at most) runs to
// its end and the caller sees a cancellation after it.
func beginWrite(ctx context.Context, conn *sql.Conn) (*connTx, error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, err
	}
	return &connTx{ctx: context.Background(), conn: conn}, nil
}

func (t *connTx) QueryRow(query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(t.ctx, query, args...)
}

func (t *connTx) Query(query string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(t.ctx, query, args...)
}

func (t *connTx) Exec(query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(t.ctx, query, args...)
}

// commitCounting commits, first bumping the commit counter (which a
// running node polls to notice other processes' commits) when changed,
// and tells the store's block filter where the counter is.
func (s *Store) commitCounting(t *connTx, changed bool) error {
	counter := int64(-1)
	if changed {
		if err := t.QueryRow(`UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commits' RETURNING CAST(value AS INTEGER)`).Scan(&counter); err != nil {
			return err
		}
		// This binary keeps the page list's columns current, if they were
		// at the commit before (listorder.go).
		if _, err := t.Exec(`UPDATE meta SET value = ?1 WHERE key = 'listed' AND CAST(value AS INTEGER) = ?1 - 1`, counter); err != nil {
			return err
		}
	}
	if err := t.commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.filter.committed(counter)
	return nil
}

// commit commits the transaction.
func (t *connTx) commit() error {
	if _, err := t.conn.ExecContext(context.Background(), "COMMIT"); err != nil {
		return err
	}
	t.conn = nil
	t.giveBack()
	return nil
}

// giveBack gives the write slot back, once.
func (t *connTx) giveBack() {
	if t.release != nil {
		t.release()
		t.release = nil
	}
}

// end rolls the transaction back unless it was committed; a connection
// it cannot end is discarded, not returned to the pool inside a
// transaction.
func (t *connTx) end() {
	if t.conn == nil {
		return
	}
	if _, err := t.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	t.conn = nil
	t.giveBack()
}

// bigBatchCacheKiB is the page cache of a Bulk import: its stream
// touches far more than SQLite's default 2 MB of pages (the blocks' CID
// index, the title index, the search index's segments), which then go to
// the log and are read back from it over and over within the
// transaction. A sync's batches keep the default: at 100,000 pages, 32 MB
// there made a join no faster on a quiet machine (34.4 and 36.4 s
// without, 35.5 and 32.6 s with) and 45-50 MB larger (139-142 MB
// against 183-192: over the 150).
const bigBatchCacheKiB = 32 << 10

// uncountedWrite runs f in a write transaction of its own and commits it
// without counting a commit (nothing replicated changed: the search
// index's rows, whole copies), for a run of such writes one after
// another: it bounds the log (boundLog), tells the background
// checkpointer (Store.uncounted), and lets a waiting writer go first.
func (s *Store) uncountedWrite(ctx context.Context, f func(tx *connTx) error) error {
	conn, tx, err := s.beginWriteTx(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer endLazy(conn)
	defer tx.end()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.lazy.pending.Store(true)
	s.uncounted.Add(1)
	endLazy(conn)
	s.boundLog(ctx, conn)
	conn.Close() // back to the pool before waiting (the deferred ones are no-ops now)
	s.yieldToWaiters()
	return nil
}
