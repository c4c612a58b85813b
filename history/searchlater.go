package history

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
)

// Search rows written later (issue 19). A fresh replica's sync stores
// thousands of new pages a batch, and SQLite's full-text index of their
// text was most of the single writer's time (its tokenizer over every
// body, and the segments it flushes and merges at every commit): the
// pages were not readable until the search index had them all. A batch
// that indexes at least deferSearchAt new pages now writes their pages
// and links rows as ever, and lists them in the unindexed table instead
// of giving their text to the search index; IndexPending writes their
// search rows later, in transactions of indexChunk pages, in row id order
// (FTS4's cheapest).
//
// Who runs IndexPending: a sync that stored such a batch, at its end
// (before any history it fetches), except a shallow join, which returns
// once every page is readable; a node (serve, the UI) when it starts; and
// wiki.Repo.Search before it searches, so that no search ever misses a
// page. Doing a page twice is harmless: its search row is computed again
// from its heads, which is what an edit of it does too. An older binary
// leaves the list alone (its searches miss those pages until a newer one
// runs).

const unindexedSchema = `
CREATE TABLE IF NOT EXISTS unindexed(page INTEGER PRIMARY KEY);
`

// deferSearchAt is the fewest new pages a batch must index for their
// search rows to be left for IndexPending: a live edit or a small sync
// keeps its page searchable as it commits.
const deferSearchAt = 100

// indexChunk is the most pages IndexPending indexes a transaction, and
// indexChunkTime about the longest it spends on one: a writer waiting
// its turn (an edit, a peer's batch, a joiner's redemption) waits for one
// chunk, and then goes first (yieldToWaiters). A page's text costs from
// 0.05 ms (one revision, stored whole) to 0.5 ms (a later revision
// rebuilt from its deltas): 2,000 pages were 0.1 s of one wiki and 0.9 s
// of another, and a serve that started by indexing 100,000 pages made a
// join's redemption wait for all of them, past its deadline.
const indexChunk = 2000

var indexChunkTime = 100 * time.Millisecond // a variable for tests

// briefChunkTime and briefChunk are indexChunkTime and indexChunk for
// IndexPendingBrief: a chunk of 2 ms indexes a few dozen pages, and
// reading 2,000 pending rows first (5 ms with a backlog that long) would
// hold the lock longer than the chunk itself.
const (
	briefChunkTime = 2 * time.Millisecond
	briefChunk     = 64
)

// indexPageHook, when set (by tests), is called before each page indexSome
// indexes, with how many it indexed in the transaction so far.
var indexPageHook func(done int)

// searchState says what this process knows of pending search rows:
// marks counts the commits of this process that left rows for later (each
// counted once it is committed), and clean is marks+1 as it was when the
// table was last seen empty (0: not seen yet). Rows are pending unless
// clean-1 == marks; a commit of another process is seen at the next open.
type searchState struct {
	marks, clean atomic.Int64
}

// noSearchPending says that nothing is pending as far as this process
// knows, without a query.
func (s *Store) noSearchPending() bool {
	c := s.search.clean.Load()
	return c != 0 && c-1 == s.search.marks.Load()
}

// SearchPending counts the pages whose search rows are not written yet.
func (s *Store) SearchPending(ctx context.Context) (int, error) {
	m := s.search.marks.Load() // before the query: a later mark is newer
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM unindexed`).Scan(&n)
	if err == nil && n == 0 {
		s.search.clean.Store(m + 1)
	}
	return n, err
}

// IndexPending writes the search rows of the pages left for later (see
// above), calling progress (if not nil) after each transaction with the
// pages done and how many there were; it returns how many it indexed.
func (s *Store) IndexPending(ctx context.Context, progress func(done, total int)) (int, error) {
	return s.indexPending(ctx, indexChunk, indexChunkTime, progress, true)
}

// IndexPendingBrief is IndexPending in transactions of a couple of
// milliseconds, for the rows a node's live edits left: another live edit
// may arrive at any moment and should not wait for a chunk. (After ten
// seconds of edits 70 ms apart, 150 pages in one transaction of about
// 15 ms made the edit that arrived meanwhile wait for it, and then for
// SQLite's busy backoff: 16 ms to be stored instead of 2, issue 14.)
// Nor does it merge the search index after them, however many they were:
// their transactions are small, and FTS4's own merging at each keeps up,
// where rewriting the whole index (MergeSearchIndex, 10 ms and more of a
// wiki of 1,000 pages) held up an edit that came meanwhile just as long.
func (s *Store) IndexPendingBrief(ctx context.Context) (int, error) {
	return s.indexPending(ctx, briefChunk, briefChunkTime, nil, false)
}

// indexPending writes the pending search rows in transactions of chunk
// pages or chunkTime at most; with merge, it merges the search index
// after deferSearchAt pages or more.
func (s *Store) indexPending(ctx context.Context, chunk int, chunkTime time.Duration, progress func(done, total int), merge bool) (int, error) {
	if s.noSearchPending() {
		return 0, nil
	}
	total, err := s.SearchPending(ctx)
	if err != nil || total == 0 {
		return 0, err
	}
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		m := s.search.marks.Load() // before indexSome looks
		n, err := s.indexSome(ctx, chunk, chunkTime)
		if err != nil {
			return done, fmt.Errorf("search index: %w", err)
		}
		if n == 0 {
			s.search.clean.Store(m + 1)
			break
		}
		done += n
		if progress != nil {
			progress(done, max(total, done))
		}
	}
	if merge && done >= deferSearchAt {
		s.MergeSearchIndex(ctx)
	}
	return done, nil
}

// indexSome indexes up to chunk pending pages in one transaction of
// about chunkTime at most, ended sooner when a writer waits its turn (of
// this process: looked at every page; of another: every 32 pages).
func (s *Store) indexSome(ctx context.Context, chunk int, chunkTime time.Duration) (int, error) {
	var n int
	err := s.uncountedWrite(ctx, func(tx *connTx) error {
		type pending struct {
			page            int64
			indexed         bool // it has a pages row
			system, deleted bool
			versions, heads int
			// Of a page of one head: its title, and its body's row id and CID.
			title  string
			body   int64
			bodyCB []byte
		}
		rows, err := tx.Query(`SELECT u.page, p.id IS NOT NULL, coalesce(p.system, 0), coalesce(p.deleted, 0), coalesce(p.versions, 0),
			coalesce(p.heads, 0), coalesce(p.title, ''), coalesce(r.body, 0), bb.cid
			FROM unindexed u LEFT JOIN pages p ON p.id = u.page LEFT JOIN revisions r ON r.id = p.rev LEFT JOIN blocks bb ON bb.id = r.body
			ORDER BY u.page LIMIT ?`, chunk)
		if err != nil {
			return err
		}
		var todo []pending
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.page, &p.indexed, &p.system, &p.deleted, &p.versions, &p.heads, &p.title, &p.body, &p.bodyCB); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(todo) == 0 {
			return err
		}
		done := make([][]any, 0, len(todo))
		start := time.Now()
		for i, p := range todo {
			if indexPageHook != nil {
				indexPageHook(i)
			}
			if i > 0 && (time.Since(start) > chunkTime || s.waiting.Load() > 0 || (i%32 == 0 && s.WritersWaiting())) {
				break // the rest in the next chunk, after any writer waiting
			}
			if _, err := tx.Exec(`DELETE FROM search WHERE docid = ?`, p.page); err != nil {
				return err
			}
			done = append(done, []any{p.page})
			ix := pageIndex{system: p.system, deleted: p.deleted, versions: p.versions}
			if !p.indexed || !ix.searchable() {
				continue // void since, or not for search
			}
			var titles, text string
			if body, err := cid.Cast(p.bodyCB); err == nil && p.heads == 1 && body.Prefix().Codec == CodecRaw {
				// One head, the page row's (most pages): what headsText
				// makes of it, read by row id.
				data, err := readBlockByID(tx, p.body)
				if err != nil {
					return fmt.Errorf("page #%d: body: %w", p.page, err)
				}
				titles, text = p.title, prefixUTF8(string(data), maxSearchText)
			} else {
				hs, err := latestHeads(tx, p.page)
				if err != nil {
					return err
				}
				if len(hs) == 0 {
					continue
				}
				if titles, text, _, err = headsText(tx, hs, p.versions, func(string) {}); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(`INSERT INTO search(docid, title, body) VALUES(?, ?, ?)`, p.page, titles, text); err != nil {
				return err
			}
		}
		if err := deleteRows(tx, "unindexed", "page", done); err != nil {
			return err
		}
		n = len(done)
		return nil
	})
	return n, err
}
