package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/ipfs/go-cid"
)

// Authors. Every revision row names its author (revisions.author, a row
// of authors; 0 for an automatic merge), so that membership can ask
// which revisions a peer wrote without decoding the history. Authors are
// peer ids in their string form (peer.ID.String(), Revision.AuthorID).

// authorsSchema is what schema 4 added: the authors, and the void
// revisions (see void.go).
const authorsSchema = `
CREATE INDEX IF NOT EXISTS revisions_author ON revisions(author);
CREATE TABLE IF NOT EXISTS authors(id INTEGER PRIMARY KEY, peer TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS void(rev INTEGER PRIMARY KEY);
`

// authorRows caches the authors rows committed, by raw author bytes: a
// row is never deleted or renumbered, so an entry never goes stale.
type authorRows struct {
	mu  sync.Mutex
	ids map[string]int64
}

func (a *authorRows) get(key string) (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.ids[key]
	return id, ok
}

// addAll adds rows a transaction looked up or added, once it committed.
func (a *authorRows) addAll(m map[string]int64) {
	if len(m) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]int64{}
	}
	for k, v := range m {
		a.ids[k] = v
	}
}

// authorRow returns the authors row of a new revision's author (0 for an
// automatic merge), adding it for an author not seen before.
func (w *writer) authorRow(rev *Revision) (int64, error) {
	if rev.IsAuto() {
		return 0, nil
	}
	key := string(rev.Author)
	if id, ok := w.authorIDs[key]; ok {
		return id, nil
	}
	if id, ok := w.s.authors.get(key); ok {
		return id, nil
	}
	id, err := addAuthor(w.q, rev.AuthorID().String())
	if err != nil {
		return 0, err
	}
	w.authorIDs[key] = id
	return id, nil
}

// addAuthor returns the authors row of peer, adding it if there is none.
func addAuthor(q querier, peer string) (int64, error) {
	if peer == "" {
		return 0, fmt.Errorf("%w: author is not a peer id", ErrMalformed)
	}
	id, ok, err := authorRowID(q, peer)
	if err != nil || ok {
		return id, err
	}
	res, err := q.Exec(`INSERT INTO authors(peer) VALUES(?)`, peer)
	if err != nil {
		return 0, fmt.Errorf("store author: %w", err)
	}
	return res.LastInsertId()
}

// authorRowID returns the authors row of peer, if it has one.
func authorRowID(q querier, peer string) (int64, bool, error) {
	var id int64
	err := q.QueryRow(`SELECT id FROM authors WHERE peer = ?`, peer).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// migrateAuthors upgrades schema 3, which recorded neither authors nor
// void revisions: it adds the tables and the revisions.author column,
// and fills the column by decoding every signed revision, in one
// transaction. Opening a database of 10,000 revisions (100 pages of 100,
// 4 authors) with this upgrade took 0.19-0.37 s (0.33 s typical) on the
// 2-core machine this was written on, against milliseconds without it
// (TestMigrateAuthorsTime with PEERWIKI_MIGRATE_TIME=1 prints it).
func (s *Store) migrateAuthors() error {
	tx, err := s.db.Begin()
	if err != nil {
		return classifyOpenError(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`ALTER TABLE revisions ADD COLUMN author INTEGER NOT NULL DEFAULT 0;` + authorsSchema); err != nil {
		return err
	}
	ids, err := allIDs(tx, `SELECT id FROM revisions WHERE auto = 0 ORDER BY id`)
	if err != nil {
		return err
	}
	// Parents first (row ids grow), through the block cache: a revision
	// is stored as a delta against its first parent, decoded just before.
	q := cachedQuerier{querier: tx, cache: s.cache}
	byAuthor := map[string][]int64{}
	var order []string
	for _, id := range ids {
		data, err := readBlockByID(q, id)
		if err != nil {
			return fmt.Errorf("revision #%d: %w", id, err)
		}
		rev, err := DecodeRevision(data)
		if err != nil {
			return fmt.Errorf("revision #%d: %w", id, err)
		}
		peer := rev.AuthorID().String()
		if _, ok := byAuthor[peer]; !ok {
			order = append(order, peer)
		}
		byAuthor[peer] = append(byAuthor[peer], id)
	}
	for _, peer := range order {
		aid, err := addAuthor(tx, peer)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE revisions SET author = ? WHERE id IN (SELECT value FROM json_each(?))`, aid, idList(byAuthor[peer])); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`PRAGMA user_version = 4`); err != nil {
		return err
	}
	return tx.Commit()
}

// idList is row ids as a JSON array, for json_each.
func idList(ids []int64) string {
	b := make([]byte, 0, len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// Authors returns every author (peer id) of a stored revision, sorted.
func (s *Store) Authors(ctx context.Context) ([]string, error) {
	return scanColumn[string](s.db.QueryContext(ctx, `SELECT a.peer FROM authors a
		WHERE EXISTS (SELECT 1 FROM revisions r WHERE r.author = a.id) ORDER BY a.peer`))
}

// RevisionAuthors returns the author of each stored revision among cs:
// "" for an automatic merge; revisions not stored are left out.
func (s *Store) RevisionAuthors(ctx context.Context, cs []cid.Cid) (map[cid.Cid]string, error) {
	out := make(map[cid.Cid]string, len(cs))
	err := forCIDs(ctx, s.db, `SELECT b.cid, coalesce(a.peer, '') FROM revisions r JOIN blocks b ON b.id = r.id
		LEFT JOIN authors a ON a.id = r.author WHERE b.cid IN `, cs,
		func(rows *sql.Rows) error {
			var cb []byte
			var peer string
			if err := rows.Scan(&cb, &peer); err != nil {
				return err
			}
			c, err := cid.Cast(cb)
			out[c] = peer
			return err
		})
	return out, err
}

// EarliestAuthor returns the author of the earliest signed revision, by
// (time, CID bytes), void ones included, leaving out the wiki's own
// pages (an unsigned genesis: settings, members); ErrNotFound if there is
// none. Times are the authors' own clocks: anyone can date a revision in
// the past.
func (s *Store) EarliestAuthor(ctx context.Context) (string, error) {
	var peer string
	err := s.db.QueryRowContext(ctx, `SELECT a.peer FROM revisions r LEFT JOIN revisions g ON g.id = r.page
		JOIN authors a ON a.id = r.author JOIN blocks b ON b.id = r.id
		WHERE r.author != 0 AND coalesce(g.auto, 0) = 0 ORDER BY r.time, b.cid LIMIT 1`).Scan(&peer)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("earliest author: %w", ErrNotFound)
	}
	return peer, err
}

// readTx runs f in one read transaction, so that its queries see one
// state of the store.
func (s *Store) readTx(ctx context.Context, f func(q querier) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := beginRead(ctx, conn)
	if err != nil {
		return err
	}
	defer tx.end()
	return f(cachedQuerier{querier: tx, cache: s.cache})
}

// AuthorFrontier returns the author's stored revisions that no stored
// revision of theirs descends from (on each page the author wrote), void
// ones included, sorted by CID bytes: the edge of what this replica holds
// of the author's writing, which AuthoredWithin takes back.
func (s *Store) AuthorFrontier(ctx context.Context, author string) ([]cid.Cid, error) {
	var out []cid.Cid
	err := s.readTx(ctx, func(q querier) error {
		aid, ok, err := authorRowID(q, author)
		if err != nil || !ok {
			return err
		}
		pages, err := allIDs(q, `SELECT DISTINCT page FROM revisions WHERE author = ?`, aid)
		if err != nil {
			return err
		}
		for _, page := range pages {
			g, err := loadPageGraph(q, page)
			if err != nil {
				return err
			}
			for _, n := range g.latest(func(n *revNode) bool { return n.author == aid }) {
				out = append(out, n.cid)
			}
		}
		return nil
	})
	SortCIDs(out)
	return out, err
}

// AuthoredWithin returns the author's stored revisions that are one of
// frontier or an ancestor of one, void ones included. CIDs of frontier
// that are not stored are ignored.
func (s *Store) AuthoredWithin(ctx context.Context, author string, frontier []cid.Cid) (map[cid.Cid]bool, error) {
	out := map[cid.Cid]bool{}
	known, err := s.revisionRows(ctx, frontier)
	if err != nil {
		return nil, err
	}
	byPage := map[int64][]int64{}
	for _, h := range known {
		byPage[h[1]] = append(byPage[h[1]], h[0])
	}
	pages := make([]int64, 0, len(byPage))
	for p := range byPage {
		pages = append(pages, p)
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i] < pages[j] })
	err = s.readTx(ctx, func(q querier) error {
		aid, ok, err := authorRowID(q, author)
		if err != nil || !ok {
			return err
		}
		for _, page := range pages {
			g, err := loadPageGraph(q, page)
			if err != nil {
				return err
			}
			within := map[int64]bool{}
			MarkReachable(within, byPage[page], g.parents)
			for id := range within {
				if n := g.byID[id]; n != nil && n.author == aid {
					out[n.cid] = true
				}
			}
		}
		return nil
	})
	return out, err
}

// authorOf is a revision's author as the revisions table records it, for
// fsck: "" for none.
func authorOf(q querier, author int64) (string, error) {
	if author == 0 {
		return "", nil
	}
	var peer string
	err := q.QueryRow(`SELECT peer FROM authors WHERE id = ?`, author).Scan(&peer)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("authors row #%d is missing", author)
	}
	return peer, err
}
