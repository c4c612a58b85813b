package history

import (
	"context"
	"database/sql"
	"time"

	"github.com/ipfs/go-cid"
)

// StoredBase returns the block a stored block is a delta against (Undef
// when it is stored whole), for tests of the storage encoding.
func StoredBase(s *Store, c cid.Cid) (cid.Cid, error) {
	var base sql.NullInt64
	if err := s.db.QueryRowContext(context.Background(), `SELECT base FROM blocks WHERE cid = ?`, c.Bytes()).Scan(&base); err != nil || !base.Valid {
		return cid.Undef, err
	}
	return blockCID(s.db, base.Int64)
}

// PutAsBefore stores blocks made here as the code before the title rule
// and the head cap did, for tests of repos that hold such revisions.
func PutAsBefore(s *Store, blocks []Block) (*PutResult, error) {
	revs, others, err := s.checkBlocks(blocks, true)
	if err != nil {
		return nil, err
	}
	return s.PutChecked(context.Background(), &Checked{revs: revs, others: others, local: true, before: true})
}

// ReceivedPending reports whether received batches wait for an fsync.
func ReceivedPending(s *Store) bool { return s.lazy.pending.Load() }

// SetGroupLogBytes sets the log size a sync's groups checkpoint past, and
// returns what puts it back.
func SetGroupLogBytes(n int64) func() {
	old := groupLogBytes
	groupLogBytes = n
	return func() { groupLogBytes = old }
}

// SetSplitPagesAt changes how many pages EachPage reads in halves, for
// tests; the returned func restores it.
func SetSplitPagesAt(n int64) func() {
	old := splitPagesAt
	splitPagesAt = n
	return func() { splitPagesAt = old }
}

// SetIndexChunkTime changes how long IndexPending spends on a chunk, for
// tests; the returned func restores it.
func SetIndexChunkTime(d time.Duration) func() {
	old := indexChunkTime
	indexChunkTime = d
	return func() { indexChunkTime = old }
}

// SignedPart is signedPart, for the fuzz test.
func SignedPart(data []byte) ([]byte, bool) { return signedPart(data) }

// SetIndexPageHook sets indexPageHook until the returned func.
func SetIndexPageHook(f func(done int)) func() {
	indexPageHook = f
	return func() { indexPageHook = nil }
}

// WritersInRoom is how many of this process's writers wait their turn.
func (s *Store) WritersInRoom() int { return int(s.waiting.Load()) }

// WaitingRoom is the directory where writers that found the database
// taken say so.
func (s *Store) WaitingRoom() string { return s.waitingRoom() }

// SearchSegments is how many segments the search index is in.
func SearchSegments(s *Store) (n int, err error) {
	err = s.db.QueryRow(`SELECT count(*) FROM search_segdir`).Scan(&n)
	return n, err
}
