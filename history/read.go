package history

import (
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

const pageCols = `p.cid, p.revcid, p.title, p.deleted, p.policy, p.heads, p.versions, p.created, p.updated
	FROM pages p WHERE p.system = 0`

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
	var pid, rid []byte
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
	return scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` ORDER BY p.title COLLATE NOCASE, p.cid`))
}

// EachPage calls fn for every page, deleted ones included, in the
// natural order of titles (CompareTitles; pages with the same title by
// id), with its heads as AllHeads orders them, one page at a time. It
// walks the page list's index (listorder.go): the first page comes at
// once and a list of any length costs the same memory. Only pages with
// several heads cost a query of their own, and their heads are read when
// their row is (a moment after the walk's read began). An error from fn
// stops the walk and is returned.
func (s *Store) EachPage(ctx context.Context, fn func(p PageRow, heads []cid.Cid) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, `+pageCols+` ORDER BY p.okey, p.title, p.cid`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		p, err := scanPageRow(rows, &id)
		if err != nil {
			return err
		}
		// The page row's rev is its latest head: a page of one head needs
		// no more.
		heads := []cid.Cid{p.Rev}
		if p.Heads != 1 {
			m, err := s.headsWhere(ctx, `WHERE h.page = ?`, -1, id)
			if err != nil {
				return err
			}
			heads = m[p.ID]
		}
		if err := fn(p, heads); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Page returns one page's row.
func (s *Store) Page(ctx context.Context, page cid.Cid) (PageRow, error) {
	ps, err := scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` AND p.id = (SELECT id FROM blocks WHERE cid = ?)`, page.Bytes()))
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
	return scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` AND p.title = ? COLLATE NOCASE ORDER BY p.cid`, title))
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
	return scanPages(s.db.QueryContext(ctx, `SELECT `+pageCols+` AND p.versions > 1 ORDER BY +p.title COLLATE NOCASE, p.cid`))
}
