package history

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"

	"github.com/ipfs/go-cid"
)

// Bulk stores a stream of batches from elsewhere (a bundle) in one write
// transaction, so that a stream of any size is stored whole or not at
// all: a bad block in the last batch leaves nothing of the first.
//
// Each batch is stored as PutChecked stores a batch of a sync, by a
// writer of its own that finds the batches before it in the transaction,
// and then let go of: memory holds a batch at a time, not the stream
// (SQLite spills what the transaction wrote to the write-ahead log once
// its page cache is full). Unlike PutChecked, a batch is never split into
// transactions of its own (the system pages first, or the parents of a
// costly automatic merge): every automatic merge is recomputed inside
// the transaction, on what it stored.
//
// The price of all-or-nothing is the write lock, held from BeginBulk to
// Commit: other writers (an edit, a peer's batch) wait their turn for the
// whole stream, and give up after the busy timeout; the write-ahead log
// holds the whole stream before it can be checkpointed.
type Bulk struct {
	s         *Store
	conn      *sql.Conn
	tx        *connTx
	authorIDs map[string]int64
	// err is the first failure: the transaction can then only be rolled
	// back.
	err error
	res BulkResult
	// divergent says, for each page the stream gained revisions of,
	// whether the last batch that touched it left it divergent.
	divergent map[cid.Cid]bool
	// prepared says the connection's settings are changed (prepare), and
	// autoCheckpoint is the setting to restore.
	prepared       bool
	autoCheckpoint int
	cacheSize      int
	// cacheKiB is the page cache it runs with; shallowed says a batch
	// added or removed shallow rows (the schema version is set at Commit).
	cacheKiB  int
	shallowed bool
	// leftSearch says a batch left search rows for later (counted at
	// Commit: see searchState).
	leftSearch bool
	// group: one of a sync's groups (BeginGroup), which bound the log.
	group bool
}

// BulkResult says what a Bulk stored.
type BulkResult struct {
	// Blocks counts the new blocks of any kind, Revisions the new
	// revisions, Deferred the revisions not stored for now (see
	// PutResult.Deferred).
	Blocks, Revisions, Deferred int
	// Pages are the pages that gained revisions, in the order they first
	// did; Divergent those among them whose heads now differ.
	Pages, Divergent []cid.Cid
}

// ErrBulkFailed is returned by a Bulk's Put and Commit after a Put failed.
var ErrBulkFailed = errors.New("an earlier batch failed")

// BeginBulk begins a Bulk, waiting for the write lock.
func (s *Store) BeginBulk(ctx context.Context) (*Bulk, error) {
	return s.beginBulk(ctx, bigBatchCacheKiB)
}

// BeginGroup begins a Bulk for a run of a sync's batches (see Groupable):
// a fresh replica's sync stored as a transaction a batch of 2,000 blocks
// wrote the indexes whose keys are random (the blocks' CIDs, the titles,
// the shallow rows' parents) to the log again with every batch, most of
// what it wrote (6 GB for a 300 MB shallow replica of 100,000 pages). A
// group of groupBlocks blocks writes them once for sixteen batches.
func (s *Store) BeginGroup(ctx context.Context) (*Bulk, error) {
	b, err := s.beginBulk(ctx, groupCacheKiB)
	if b != nil {
		b.group = true
	}
	return b, err
}

// GroupBlocks is about how many blocks a group (BeginGroup) should take
// before it commits; groupCacheKiB is its page cache, which holds what
// its batches write to those indexes between them. Storing the current
// versions of a 100,000-page wiki (BenchmarkStoreShallowPacked) took the
// writer 26 s a batch a transaction, 13.5 s in groups of 8,000 blocks,
// 9.7 s of 32,000, 9.8 s as one; with a page cache of 2, 8 and 32 MB,
// groups of 32,000 took 15.1, 10.8 and 9.7 s.
const (
	GroupBlocks   = 32000
	groupCacheKiB = 16 << 10
)

func (s *Store) beginBulk(ctx context.Context, cacheKiB int) (*Bulk, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	b := &Bulk{s: s, conn: conn, authorIDs: map[string]int64{}, divergent: map[cid.Cid]bool{}, cacheKiB: cacheKiB}
	if err := b.prepare(ctx); err != nil {
		b.restore()
		conn.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	if b.tx, err = s.beginWriteOn(ctx, conn, true); err != nil {
		b.restore()
		conn.Close()
		return nil, err
	}
	return b, nil
}

// prepare sets up the Bulk's connection for one long transaction; restore
// undoes it before the connection goes back to the pool.
//
//   - Statement journals in memory: each multi-row INSERT of a long
//     transaction journals the pages it changes, and past 64 KiB SQLite
//     writes that to a temporary file (40,000 writes of a page in an
//     import of the benchmark wiki, more than the database itself got).
//     A statement's journal is small.
//   - No checkpoint at commit: the log, which holds the whole stream, is
//     copied into the database by the store's Close (or its background
//     checkpoints, or the next commit), once, rather than at the commit
//     and again for the writes that follow it (the search index's merge):
//     about 60 ms of an import of the benchmark wiki.
//   - A page cache of bigBatchCacheKiB for the whole stream.
func (b *Bulk) prepare(ctx context.Context) error {
	if err := b.conn.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&b.autoCheckpoint); err != nil {
		return err
	}
	if err := b.conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&b.cacheSize); err != nil {
		return err
	}
	b.prepared = true
	_, err := b.conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -%d`, b.cacheKiB))
	return err
}

func (b *Bulk) restore() {
	if !b.prepared {
		return
	}
	b.prepared = false
	if _, err := b.conn.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA temp_store = DEFAULT; PRAGMA wal_autocheckpoint = %d; PRAGMA cache_size = %d`, b.autoCheckpoint, b.cacheSize)); err != nil {
		b.conn.Raw(func(any) error { return driver.ErrBadConn }) // not back into the pool
	}
	releaseFreed() // the page cache it had
}

// Put stores a batch that passed Check, with Put's verification; its
// result is only true once Commit returns. After a failure the Bulk can
// only be rolled back.
func (b *Bulk) Put(c *Checked) (*PutResult, error) {
	if b.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBulkFailed, b.err)
	}
	if c.local {
		return nil, errors.New("a bulk is for blocks from elsewhere")
	}
	w := b.s.newWriter(b.tx, c, b.authorIDs)
	res, err := w.put(c.revs)
	if err != nil {
		b.err = err
		return nil, err
	}
	b.shallowed = b.shallowed || w.shallowed
	b.leftSearch = b.leftSearch || w.leftSearch
	b.res.Blocks += res.Blocks
	b.res.Revisions += len(res.Revisions)
	b.res.Deferred += len(res.Deferred)
	for _, p := range res.Pages {
		if _, ok := b.divergent[p]; !ok {
			b.res.Pages = append(b.res.Pages, p)
		}
		b.divergent[p] = false
	}
	for _, p := range res.Divergent {
		b.divergent[p] = true
	}
	return res, nil
}

// Commit commits what the batches stored; after a failed Put it rolls
// back instead and returns that failure.
func (b *Bulk) Commit(ctx context.Context) (*BulkResult, error) {
	if b.err != nil {
		err := b.err
		b.Rollback()
		return nil, err
	}
	if b.tx == nil {
		return nil, errors.New("bulk already ended")
	}
	defer b.Rollback() // on the error paths
	if b.shallowed {
		if err := settleShallowVersion(b.tx); err != nil {
			return nil, err
		}
	}
	s := b.s
	if err := s.commitCounting(b.tx, b.res.Revisions > 0 || b.res.Blocks > 0); err != nil {
		return nil, err
	}
	if b.leftSearch {
		s.search.marks.Add(1)
	}
	s.lazy.pending.Store(true)
	s.authors.addAll(b.authorIDs)
	endLazy(b.conn)
	b.restore()
	if b.group {
		s.boundLog(ctx, b.conn)
	}
	b.conn.Close() // back to the pool, for compact
	b.tx, b.conn = nil, nil
	for _, p := range b.res.Pages {
		if b.divergent[p] {
			b.res.Divergent = append(b.res.Divergent, p)
		}
	}
	s.compact(ctx, len(b.res.Pages))
	s.yieldToWaiters()
	return &b.res, nil
}

// groupLogBytes is how large the log may grow over a run of writes that
// follow one another (a sync's groups, the chunks of the search index or
// of whole copies) before the write that crosses it checkpoints it (a
// variable for tests).
var groupLogBytes int64 = 256 << 20

// boundLog checkpoints the log once a run of writes has grown it past
// groupLogBytes, between two of them: then nothing writes, and the next
// starts the log again from its beginning. Writes that follow one
// another keep the background checkpointer (serve, sync) from ever
// seeing the log whole to start it again, and a join has none: a
// 100,000-page join's log reached 0.7-1.5 GB for a 316 MB replica, and
// a serve's first minute on a freshly imported 100,000 x 3 wiki (the
// search index, then the whole copies) 1.3 GB for a 955 MB database,
// over its size again in free disk for a while, and every read of the
// serve looked through all of it.
func (s *Store) boundLog(ctx context.Context, conn *sql.Conn) {
	if st, err := os.Stat(s.path + "-wal"); err != nil || st.Size() < groupLogBytes {
		return
	}
	conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`) // as far as it can; the next write tries again
}

// Rollback ends the Bulk storing nothing, unless Commit did; it may be
// called again.
func (b *Bulk) Rollback() {
	if b.tx == nil {
		return
	}
	b.tx.end()
	endLazy(b.conn)
	b.restore()
	b.conn.Close()
	b.tx, b.conn = nil, nil
}

// Groupable says whether a batch received from a peer, checked, may be
// stored in a group with the batches before and after it (BeginGroup)
// rather than by PutChecked in a transaction of its own. Not a batch
// that PutChecked would split: one with revisions of system pages (the
// member list: what follows is judged by it, once committed), or with an
// automatic merge it cannot verify outside the transaction (its parents
// in the batch). The merges it can verify it does, as PutChecked would.
func (s *Store) Groupable(ctx context.Context, c *Checked) (bool, error) {
	if c.local {
		return false, nil
	}
	if err := s.verifyAutoOutside(c); err != nil {
		return false, err
	}
	for _, p := range c.revs {
		if p.rev.IsAuto() && !c.verified[p.block.Cid] {
			return false, nil
		}
	}
	if s.opts.Counts == nil && s.opts.Admit == nil {
		return true, nil
	}
	sys, _, err := s.systemRevs(ctx, c)
	return len(sys) == 0, err
}
