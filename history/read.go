package history

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// PageRow is a page as the page index holds it.
type PageRow struct {
	ID      cid.Cid // genesis revision
	Rev     cid.Cid // the head lists show: the latest by (time, CID)
	Title   string
	Deleted bool
	Policy  string // the override the page's heads carry, "" if none or they disagree
	Heads   int
	// Versions counts the distinct versions among the heads; more than
	// one is a conflict.
	Versions int
	Created  int64
	Updated  int64
}

const pageCols = `pb.cid, rb.cid, p.title, p.deleted, p.policy, p.heads, p.versions, p.created, p.updated
	FROM pages p JOIN blocks pb ON pb.id = p.id JOIN blocks rb ON rb.id = p.rev WHERE p.system = 0`

// listCols are pageCols from the page rows alone, with the columns that
// order a list first (listorder.go): what EachPage reads while they are
// current (listKept).
const listCols = `p.okey, p.cid, p.revcid, p.title, p.deleted, p.policy, p.heads, p.versions, p.created, p.updated
	FROM pages p WHERE p.system = 0`

// listColsComputed are listCols computed for each row, for a list that
// cannot trust the stored ones.
const listColsComputed = `pw_title_key(p.title), ` + pageCols

func scanPages(rows *sql.Rows, err error) ([]PageRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PageRow
	for rows.Next() {
		p, err := scanPageRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// scanPageRow reads a row of pageCols, after the columns in before.
func scanPageRow(rows *sql.Rows, before ...any) (PageRow, error) {
	var p PageRow
	var pid, rid sql.RawBytes // copied by cid.Cast
	err := rows.Scan(append(before, &pid, &rid, &p.Title, &p.Deleted, &p.Policy, &p.Heads, &p.Versions, &p.Created, &p.Updated)...)
	if err == nil {
		p.ID, err = cid.Cast(pid)
	}
	if err == nil {
		p.Rev, err = cid.Cast(rid)
	}
	return p, err
}

// Pages lists every page, deleted ones included, by title.
func (s *Store) Pages(ctx context.Context) ([]PageRow, error) {
	return scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` ORDER BY p.title COLLATE NOCASE, pb.cid`))
}

// EachPage calls fn for every page, deleted ones included, in the
// natural order of titles (CompareTitles; pages with the same title by
// id), with its heads as AllHeads orders them, one page at a time: SQLite
// sorts the page rows by their stored title keys (listorder.go), spilling
// to a temporary file when it must, so a list of any length costs the
// same memory. Only pages with several heads cost a query of their own.
// An error from fn stops the walk and is returned.
//
// A long list is read in two halves of the page ids, each sorted and
// read by its own connection on its own goroutine, and merged by the
// rows' stored keys: the sort and the reading of the rows (the driver's
// conversion of each column) were 0.6 s of one core at 100,000 pages,
// and two cores do it in about half. The halves are read in two read
// transactions, a moment apart: a page's row is as one of them saw it,
// as a page's heads already were (read on demand, after its row).
func (s *Store) EachPage(ctx context.Context, fn func(p PageRow, heads []cid.Cid) error) error {
	emit := func(r *sortedPage) error {
		// The page row's rev is its latest head: a page of one head needs
		// no more.
		heads := []cid.Cid{r.row.Rev}
		if r.row.Heads != 1 {
			m, err := s.headsWhere(ctx, `WHERE h.page = ?`, -1, r.id)
			if err != nil {
				return err
			}
			heads = m[r.row.ID]
		}
		return fn(r.row, heads)
	}
	kept, err := listKept(s.db)
	if err != nil {
		return err
	}
	mid, err := s.pageSplit(ctx)
	if err != nil {
		return err
	}
	if mid == 0 {
		return s.eachPageSorted(ctx, kept, "", nil, func(r *sortedPage) error { return emit(r) })
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	halves := [2]chan []sortedPage{make(chan []sortedPage, 2), make(chan []sortedPage, 2)}
	errs := make(chan error, 2)
	for i, where := range []string{` AND p.id < ?`, ` AND p.id >= ?`} {
		go func() {
			defer close(halves[i])
			const batch = 256
			b := make([]sortedPage, 0, batch)
			err := s.eachPageSorted(ctx, kept, where, []any{mid}, func(r *sortedPage) error {
				if b = append(b, *r); len(b) == batch {
					select {
					case halves[i] <- b:
					case <-ctx.Done():
						return ctx.Err()
					}
					b = make([]sortedPage, 0, batch)
				}
				return nil
			})
			if err == nil && len(b) > 0 {
				select {
				case halves[i] <- b:
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			errs <- err
		}()
	}
	// The merge: the next page of each half, by (title key, title, id).
	var next [2][]sortedPage
	more := func(i int) {
		if len(next[i]) == 0 {
			next[i] = <-halves[i] // nil once the half is done
		}
	}
	walk := func() error {
		for {
			more(0)
			more(1)
			var i int
			switch {
			case len(next[0]) == 0 && len(next[1]) == 0:
				return nil
			case len(next[0]) == 0:
				i = 1
			case len(next[1]) == 0:
				i = 0
			case next[1][0].before(&next[0][0]):
				i = 1
			}
			r := &next[i][0]
			next[i] = next[i][1:]
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	err = walk()
	cancel() // the halves stop, if fn stopped the walk
	for range halves {
		if e := <-errs; err == nil && e != nil {
			err = e
		}
	}
	for _, h := range halves {
		for range h { // drained, so that no half waits to send
		}
	}
	return err
}

// splitPagesAt is how many pages a list must have to be read in halves.
var splitPagesAt int64 = 20000

// pageSplit returns the page id at which EachPage splits the list, or 0
// to read it whole.
func (s *Store) pageSplit(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM pages`).Scan(&n); err != nil {
		return 0, err
	}
	if n < splitPagesAt {
		return 0, nil
	}
	var mid int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM pages ORDER BY id LIMIT 1 OFFSET ?`, n/2).Scan(&mid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // fewer pages than counted a moment ago
	}
	return mid, err
}

// sortedPage is a page row in EachPage's order, with its row id and its
// title's stored key.
type sortedPage struct {
	row PageRow
	id  int64
	key []byte
}

// before orders pages as EachPage lists them.
func (a *sortedPage) before(b *sortedPage) bool {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	if a.row.Title != b.row.Title {
		return a.row.Title < b.row.Title
	}
	return a.row.ID.KeyString() < b.row.ID.KeyString()
}

// eachPageSorted calls fn for the pages the condition where (on p, with
// args) selects, in EachPage's order. fn may keep the page it is given
// only by copying it.
//
// With kept unset the rows' list columns are computed, not read.
func (s *Store) eachPageSorted(ctx context.Context, kept bool, where string, args []any, fn func(*sortedPage) error) error {
	cols := listCols
	if !kept {
		cols = listColsComputed
	}
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, `+cols+where+` ORDER BY 2, 5, 3`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r sortedPage
	for rows.Next() {
		r.key = nil // a new one each row: fn may keep it
		if r.row, err = scanPageRow(rows, &r.id, &r.key); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Page returns one page's row.
func (s *Store) Page(ctx context.Context, page cid.Cid) (PageRow, error) {
	ps, err := scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` AND pb.cid = ?`, page.Bytes()))
	if err != nil {
		return PageRow{}, err
	}
	if len(ps) == 0 {
		return PageRow{}, fmt.Errorf("page %s: %w", page, ErrNotFound)
	}
	return ps[0], nil
}

// PagesByTitle returns the pages whose current title equals title,
// ignoring case.
func (s *Store) PagesByTitle(ctx context.Context, title string) ([]PageRow, error) {
	return scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` AND p.title = ? COLLATE NOCASE ORDER BY pb.cid`, title))
}

// DuplicateTitles returns titles (lower-cased) that more than one live page has.
func (s *Store) DuplicateTitles(ctx context.Context) ([]string, error) {
	return scanColumn[string](s.db.QueryContext(ctx, `SELECT lower(title) FROM pages WHERE deleted = 0 AND system = 0 GROUP BY lower(title) HAVING count(*) > 1 ORDER BY 1`))
}

func (s *Store) pageRowID(page cid.Cid) (int64, error) {
	var id int64
	err := s.db.QueryRow(`SELECT p.id FROM pages p JOIN blocks b ON b.id = p.id WHERE b.cid = ?`, page.Bytes()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("page %s: %w", page, ErrNotFound)
	}
	return id, err
}

// Heads returns a page's heads, latest (time, CID) first: the first is
// the one lists show. A page holds at most MaxPageHeads heads, but one
// that took more before the cap existed may hold many: Heads returns its
// latest MaxPageHeads, so that showing, merging or resolving the page
// costs what the cap allows (each resolution then takes the next ones),
// and PageRow.Heads counts them all.
func (s *Store) Heads(ctx context.Context, page cid.Cid) ([]cid.Cid, error) {
	id, err := s.pageRowID(page)
	if err != nil {
		return nil, err
	}
	m, err := s.headsWhere(ctx, `WHERE h.page = ?`, MaxPageHeads, id)
	if err != nil {
		return nil, err
	}
	return m[page], nil
}

// AllHeads returns every page's heads, ordered as Heads orders them.
func (s *Store) AllHeads(ctx context.Context) (map[cid.Cid][]cid.Cid, error) {
	return s.headsWhere(ctx, ``, -1)
}

// headsWhere returns the heads of the pages where selects, at most limit
// in all (-1: every one).
func (s *Store) headsWhere(ctx context.Context, where string, limit int, args ...any) (map[cid.Cid][]cid.Cid, error) {
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT pb.cid, hb.cid FROM heads h
		JOIN revisions r ON r.id = h.rev JOIN blocks hb ON hb.id = h.rev JOIN blocks pb ON pb.id = h.page `+
		where+` ORDER BY h.page, r.time DESC, hb.cid DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[cid.Cid][]cid.Cid{}
	for rows.Next() {
		var pb, hb []byte
		if err := rows.Scan(&pb, &hb); err != nil {
			return nil, err
		}
		p, err := cid.Cast(pb)
		if err != nil {
			return nil, err
		}
		h, err := cid.Cast(hb)
		if err != nil {
			return nil, err
		}
		out[p] = append(out[p], h)
	}
	return out, rows.Err()
}

// RevisionPage returns the page a stored revision belongs to.
func (s *Store) RevisionPage(ctx context.Context, rev cid.Cid) (cid.Cid, error) {
	page, err := revPage(s.db, rev)
	if err != nil {
		return cid.Undef, err
	}
	return blockCID(s.db, page)
}

// RevisionsByPrefix returns stored revisions whose CID string starts with
// prefix, at most limit of them.
func (s *Store) RevisionsByPrefix(ctx context.Context, prefix string, limit int) ([]cid.Cid, error) {
	return s.cidsByPrefix(ctx, `SELECT b.cid FROM revisions r JOIN blocks b ON b.id = r.id`, prefix, limit)
}

// PagesByPrefix returns pages whose id starts with prefix, at most limit.
func (s *Store) PagesByPrefix(ctx context.Context, prefix string, limit int) ([]cid.Cid, error) {
	return s.cidsByPrefix(ctx, `SELECT b.cid FROM pages p JOIN blocks b ON b.id = p.id WHERE p.system = 0`, prefix, limit)
}

// cidsByPrefix matches on the string form, which is not a byte prefix of
// the stored binary CID; a wiki has few enough pages to scan.
func (s *Store) cidsByPrefix(ctx context.Context, query, prefix string, limit int) ([]cid.Cid, error) {
	if full, err := cid.Decode(prefix); err == nil {
		if ok, _ := s.Has(ctx, full); ok {
			return []cid.Cid{full}, nil
		}
	}
	all, err := queryCIDs(ctx, s.db, query)
	if err != nil {
		return nil, err
	}
	var out []cid.Cid
	for _, c := range all {
		if strings.HasPrefix(c.String(), prefix) {
			out = append(out, c)
			if len(out) >= limit {
				break
			}
		}
	}
	return out, nil
}

// queryCIDs runs a query whose one column is a binary CID.
func queryCIDs(ctx context.Context, db *sql.DB, query string, args ...any) ([]cid.Cid, error) {
	return scanCIDs(db.QueryContext(ctx, query, args...))
}

// scanCIDs reads the rows of a query whose one column is a binary CID.
func scanCIDs(rows *sql.Rows, err error) ([]cid.Cid, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cid.Cid
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		c, err := cid.Cast(b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SearchHit is a page that matches a full-text query.
type SearchHit struct {
	Page    cid.Cid
	Title   string
	Snippet string
}

// Search runs a full-text query (SQLite FTS4 MATCH syntax: words, "phrases",
// prefix*, OR, NOT) over the titles and bodies of every page's heads.
func (s *Store) Search(ctx context.Context, query string, limit int) ([]SearchHit, error) {
	// The snippets are made only for the rows kept: SQLite computes result
	// columns before it sorts, and a snippet needs the page's text.
	rows, err := s.db.QueryContext(ctx, `SELECT b.cid, p.title, snippet(search, '[', ']', '…', -1, 12)
		FROM search JOIN pages p ON p.id = search.docid JOIN blocks b ON b.id = p.id
		WHERE search MATCH ?1 AND search.docid IN (SELECT s2.docid FROM search s2
			JOIN pages p2 ON p2.id = s2.docid WHERE s2.search MATCH ?1 ORDER BY p2.updated DESC LIMIT ?2)
		ORDER BY p.updated DESC`, query, limit)
	if err != nil {
		if strings.Contains(err.Error(), "malformed MATCH") || strings.Contains(err.Error(), "fts4") {
			return nil, fmt.Errorf("bad search query %q: %v", query, err)
		}
		return nil, err
	}
	defer rows.Close()
	var out []SearchHit
	for rows.Next() {
		var h SearchHit
		var b []byte
		if err := rows.Scan(&b, &h.Title, &h.Snippet); err != nil {
			return nil, err
		}
		if h.Page, err = cid.Cast(b); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// LinkedFrom returns the live pages whose heads link to any of targets
// (normalised as Options.Links normalises them).
func (s *Store) LinkedFrom(ctx context.Context, targets ...string) ([]PageRow, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(targets)), ",")
	args := make([]any, len(targets))
	for i, t := range targets {
		args[i] = t
	}
	return scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` AND p.deleted = 0 AND p.id IN
		(SELECT src FROM links WHERE target IN (`+ph+`)) ORDER BY p.title COLLATE NOCASE`, args...))
}

// Stats are counts over the whole store.
type Stats struct {
	Pages, Revisions, Blocks int
	Conflicts                []cid.Cid
}

// Totals counts every row fsck checks: blocks, revisions and pages,
// the settings page and deleted pages included (Stats counts what a
// person sees).
type Totals struct {
	Blocks, Revisions, Pages int
	// System and Deleted count, among Pages, the wiki's own (settings)
	// pages and the deleted ones.
	System, Deleted int
	// Void counts, among Revisions, the void ones (see void.go).
	Void int
}

// Totals counts every block, revision and page.
func (s *Store) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM blocks), (SELECT count(*) FROM revisions),
		(SELECT count(*) FROM pages), (SELECT count(*) FROM pages WHERE system != 0),
		(SELECT count(*) FROM pages WHERE system = 0 AND deleted != 0 AND versions < 2), (SELECT count(*) FROM void)`).
		Scan(&t.Blocks, &t.Revisions, &t.Pages, &t.System, &t.Deleted, &t.Void)
	return t, err
}

// Stats counts pages, revisions and blocks, and lists conflicted pages.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM pages WHERE system = 0 AND (deleted = 0 OR versions > 1)),
		(SELECT count(*) FROM revisions r JOIN pages p ON p.id = r.page WHERE p.system = 0), (SELECT count(*) FROM blocks)`).Scan(&st.Pages, &st.Revisions, &st.Blocks)
	if err != nil {
		return st, err
	}
	ps, err := s.Conflicted(ctx)
	for _, p := range ps {
		st.Conflicts = append(st.Conflicts, p.ID)
	}
	return st, err
}

// Conflicted lists pages whose heads differ. The unary + keeps SQLite
// from walking the title index in order and looking up every page's row
// to find the few conflicted ones (210 ms at 100,000 pages, where a scan
// of the pages and a sort of what it finds takes 30: the UI and status
// ask at every start).
func (s *Store) Conflicted(ctx context.Context) ([]PageRow, error) {
	return scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` AND p.versions > 1 ORDER BY +p.title COLLATE NOCASE, pb.cid`))
}
