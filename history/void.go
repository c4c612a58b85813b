package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
)

// Void revisions. A revision that does not count (Options.Counts says
// so: its author is not, or no longer, a member) is still stored, since a
// member may have built on it, but it is void: it is never a head, and
// a page is what its counting revisions make it. An automatic merge is
// void when any of its parents is (a merge of something void carries it).
//
// The rule the store keeps: a page's heads are its non-void revisions
// that no non-void revision descends from (H <- V, V void: the head is H;
// H <- V <- M, M counting: the head is M). A page none of whose revisions
// counts has no heads and is absent from the page, search and link
// indexes until one does.
//
// Most batches involve nothing void, and keep heads as they always did
// (a new revision replaces its parents). A batch that stores a void
// revision, or a revision built on one, recomputes the heads of that
// page from all its revisions (recountPage); so does Revoid for the pages
// whose revisions changed status.
//
// Void revisions reachable only from other void revisions are reachable
// from no head, so a sync never sends them (see pageRevisionsNotBelow):
// a replica that learnt of a removal first never receives the removed
// member's later writes unless a counting revision builds on them.

// NotMemberError says why a revision was deferred: Options.Admit refused
// it. errors.Is(err, ErrNotMember) holds.
type NotMemberError struct {
	Rev    cid.Cid
	Author string // peer id
	Err    error  // Admit's verdict
}

func (e *NotMemberError) Error() string {
	return fmt.Sprintf("revision %s waits until its author is a member of the wiki: %v", e.Rev, e.Err)
}

func (e *NotMemberError) Is(target error) bool { return target == ErrNotMember }

func (e *NotMemberError) Unwrap() error { return e.Err }

// admit applies Options.Admit to a signed revision received from
// elsewhere: the reason to defer it, or nil.
func (w *writer) admit(c cid.Cid, rev *Revision) error {
	if w.local || rev.IsAuto() || w.s.opts.Admit == nil {
		return nil
	}
	err := w.s.opts.Admit(rev)
	if err == nil {
		return nil
	}
	return &NotMemberError{Rev: c, Author: rev.AuthorID().String(), Err: err}
}

// void decides whether a new revision is stored void: a signed one by
// Options.Counts, an automatic merge by its parents.
func (w *writer) void(c cid.Cid, rev *Revision, voidParent bool) bool {
	if rev.IsAuto() {
		return voidParent
	}
	return w.s.opts.Counts != nil && !w.s.opts.Counts(c, rev)
}

// recountPage marks a page of the batch for recountPage.
func (w *writer) recountPage(page int64) {
	if w.recount == nil {
		w.recount = map[int64]bool{}
	}
	w.recount[page] = true
}

// revNode is a stored revision as the void and author rules read it.
type revNode struct {
	id      int64
	cid     cid.Cid
	auto    bool
	author  int64 // authors row, 0 for an automatic merge
	void    bool
	parents []int64
}

// pageGraph is every revision of one page, parents first.
type pageGraph struct {
	nodes []*revNode // by height, then row id
	byID  map[int64]*revNode
}

// loadPageGraph reads every revision of a page (by page row id) with its
// parents and void status.
func loadPageGraph(q querier, page int64) (*pageGraph, error) {
	rows, err := q.Query(`SELECT r.id, b.cid, r.auto, r.author, v.rev IS NOT NULL, p.parent FROM revisions r
		JOIN blocks b ON b.id = r.id LEFT JOIN void v ON v.rev = r.id LEFT JOIN parents p ON p.child = r.id
		WHERE r.page = ? ORDER BY r.height, r.id`, page)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	g := &pageGraph{byID: map[int64]*revNode{}}
	for rows.Next() {
		var n revNode
		var cb []byte
		var parent sql.NullInt64
		if err := rows.Scan(&n.id, &cb, &n.auto, &n.author, &n.void, &parent); err != nil {
			return nil, err
		}
		node := g.byID[n.id]
		if node == nil {
			if n.cid, err = cid.Cast(cb); err != nil {
				return nil, fmt.Errorf("revision #%d: %w", n.id, err)
			}
			node = &n
			g.byID[n.id] = node
			g.nodes = append(g.nodes, node)
		}
		if parent.Valid {
			node.parents = append(node.parents, parent.Int64)
		}
	}
	return g, rows.Err()
}

func (g *pageGraph) parents(id int64) []int64 {
	if n := g.byID[id]; n != nil {
		return n.parents
	}
	return nil
}

// latest returns the nodes that keep returns true for and that no other
// such node descends from: with keep "counts", the page's heads; with
// keep "by this author", the author's frontier on the page.
func (g *pageGraph) latest(keep func(*revNode) bool) []*revNode {
	var from []int64
	for _, n := range g.nodes {
		if keep(n) {
			from = append(from, n.parents...)
		}
	}
	below := map[int64]bool{}
	MarkReachable(below, from, g.parents)
	var out []*revNode
	for _, n := range g.nodes {
		if keep(n) && !below[n.id] {
			out = append(out, n)
		}
	}
	return out
}

// countingHeads are the page's heads under the void rule.
func (g *pageGraph) countingHeads() []*revNode {
	return g.latest(func(n *revNode) bool { return !n.void })
}

// recountPage rewrites a page's heads from all its revisions (g, or
// loaded when nil) and then its index rows; a page with no counting
// revision leaves the index. It reports whether the page is indexed and
// whether its heads differ.
func recountPage(q querier, page int64, g *pageGraph, linksOf func(string) []string) (present, divergent bool, err error) {
	if g == nil {
		if g, err = loadPageGraph(q, page); err != nil {
			return false, false, err
		}
	}
	heads := g.countingHeads()
	if _, err := q.Exec(`DELETE FROM heads WHERE page = ?`, page); err != nil {
		return false, false, err
	}
	rows := make([][]any, len(heads))
	for i, h := range heads {
		rows[i] = []any{h.id, page}
	}
	if err := insertRows(q, "heads", "rev, page", rows); err != nil {
		return false, false, err
	}
	if len(heads) == 0 {
		for _, del := range []string{`DELETE FROM pages WHERE id = ?`, `DELETE FROM search WHERE docid = ?`, `DELETE FROM links WHERE src = ?`} {
			if _, err := q.Exec(del, page); err != nil {
				return false, false, err
			}
		}
		return false, false, nil
	}
	divergent, err = refreshPage(q, page, linksOf, false)
	return true, divergent, err
}

// Revoid asks Options.Counts again about every stored revision by the
// given authors (peer ids), after their membership changed, and carries
// the changes to the automatic merges built on them: it updates the void
// status of the revisions whose answer changed, recomputes the heads and
// the index of their pages, and returns those pages sorted by CID bytes
// (a page may have left the index, or come back to it). One write
// transaction, taking its turn with the other writers; Counts reads the
// committed store, as at Put.
func (s *Store) Revoid(ctx context.Context, authors []string) ([]cid.Cid, error) {
	return s.RevoidFor(ctx, authors, "")
}

// VoidBasis returns what the void marks were last made for (RevoidFor's
// basis: the member list's version), "" when nothing was recorded.
func (s *Store) VoidBasis(ctx context.Context) (string, error) {
	var b string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'void_basis'`).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return b, err
}

// RevoidFor is Revoid, and records in the same transaction that the void
// marks are now those of basis (unless it is ""): a process that dies
// between changing the member list and marking the revisions leaves a
// basis behind that the next one sees is not the list's (VoidBasis), and
// marks again.
func (s *Store) RevoidFor(ctx context.Context, authors []string, basis string) ([]cid.Cid, error) {
	if len(authors) == 0 && basis == "" {
		return nil, nil
	}
	conn, tx, err := s.beginWriteTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer tx.end()
	q := cachedQuerier{querier: tx, cache: s.cache}
	type authored struct {
		id, page int64
		cid      cid.Cid
		void     bool
	}
	flips := map[int64]map[int64]bool{} // page -> revision -> void now
	var order []int64
	flip := func(page, rev int64, void bool) {
		if flips[page] == nil {
			flips[page] = map[int64]bool{}
			order = append(order, page)
		}
		flips[page][rev] = void
	}
	for _, a := range slices.Compact(slices.Sorted(slices.Values(authors))) {
		aid, ok, err := authorRowID(q, a)
		if err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		rows, err := q.Query(`SELECT r.id, r.page, b.cid, v.rev IS NOT NULL FROM revisions r JOIN blocks b ON b.id = r.id
			LEFT JOIN void v ON v.rev = r.id WHERE r.author = ? ORDER BY r.id`, aid)
		if err != nil {
			return nil, err
		}
		var revs []authored
		for rows.Next() {
			var r authored
			var cb []byte
			if err := rows.Scan(&r.id, &r.page, &cb, &r.void); err != nil {
				rows.Close()
				return nil, err
			}
			if r.cid, err = cid.Cast(cb); err != nil {
				rows.Close()
				return nil, fmt.Errorf("revision #%d: %w", r.id, err)
			}
			revs = append(revs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, r := range revs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rev, err := getRevision(q, r.cid)
			if err != nil {
				return nil, err
			}
			void := s.opts.Counts != nil && !s.opts.Counts(r.cid, rev)
			if void != r.void {
				flip(r.page, r.id, void)
			}
		}
	}
	var pages []cid.Cid
	for _, page := range order {
		g, err := loadPageGraph(q, page)
		if err != nil {
			return nil, err
		}
		changed := flips[page]
		for _, n := range g.nodes { // parents first
			if v, ok := changed[n.id]; ok {
				n.void = v
			} else if n.auto && len(n.parents) > 0 {
				void := slices.ContainsFunc(n.parents, func(p int64) bool { return g.byID[p].void })
				if void != n.void {
					n.void = void
					changed[n.id] = void
				}
			}
		}
		var add, del [][]any
		for id, void := range changed {
			if void {
				add = append(add, []any{id})
			} else {
				del = append(del, []any{id})
			}
		}
		if err := insertRows(q, "void", "rev", add); err != nil {
			return nil, err
		}
		if err := deleteRows(q, "void", "rev", del); err != nil {
			return nil, err
		}
		if _, _, err := recountPage(q, page, g, s.opts.Links); err != nil {
			return nil, fmt.Errorf("index page #%d: %w", page, err)
		}
		pc, err := blockCID(q, page)
		if err != nil {
			return nil, err
		}
		pages = append(pages, pc)
	}
	if basis != "" {
		if _, err := tx.Exec(`INSERT OR REPLACE INTO meta(key, value) VALUES('void_basis', ?)`, basis); err != nil {
			return nil, err
		}
	} else if len(pages) == 0 {
		return nil, nil // the deferred end rolls the (empty) transaction back
	}
	if err := s.commitCounting(tx, len(pages) > 0); err != nil {
		return nil, err
	}
	conn.Close()
	s.yieldToWaiters()
	SortCIDs(pages)
	return pages, nil
}

// IsVoid reports whether a stored revision is void (ErrNotFound if it is
// not stored).
func (s *Store) IsVoid(ctx context.Context, c cid.Cid) (bool, error) {
	var void bool
	err := s.db.QueryRowContext(ctx, `SELECT v.rev IS NOT NULL FROM revisions r JOIN blocks b ON b.id = r.id
		LEFT JOIN void v ON v.rev = r.id WHERE b.cid = ?`, c.Bytes()).Scan(&void)
	if err == sql.ErrNoRows {
		return false, fmt.Errorf("revision %s: %w", c, ErrNotFound)
	}
	return void, err
}

// VoidAmong returns which of the stored revisions among cs are void,
// in one query a few hundred revisions (a page's log asks for all of its).
func (s *Store) VoidAmong(ctx context.Context, cs []cid.Cid) (map[cid.Cid]bool, error) {
	out := map[cid.Cid]bool{}
	err := forCIDs(ctx, s.db, `SELECT b.cid FROM void v JOIN blocks b ON b.id = v.rev WHERE b.cid IN `, cs,
		func(rows *sql.Rows) error {
			var cb []byte
			if err := rows.Scan(&cb); err != nil {
				return err
			}
			c, err := cid.Cast(cb)
			out[c] = true
			return err
		})
	return out, err
}

// VoidCount counts the void revisions stored.
func (s *Store) VoidCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM void`).Scan(&n)
	return n, err
}

// splitSystem splits a received batch that holds revisions of system
// pages (an unsigned genesis: the settings and members pages) and of other
// pages, when Options.Counts or Admit is set: the system pages'
// revisions are stored first, in a transaction of their own, so that
// those callbacks, which read the committed store, judge the rest of the
// batch by the member list it brought (PlanSync sends system pages
// first for the same reason).
func (s *Store) splitSystem(ctx context.Context, c *Checked) (first, rest *Checked, ok bool, err error) {
	if c.local || (s.opts.Counts == nil && s.opts.Admit == nil) || len(c.revs) < 2 {
		return nil, nil, false, nil
	}
	sys, other, err := s.systemRevs(ctx, c)
	if err != nil || len(sys) == 0 || len(other) == 0 {
		return nil, nil, false, err
	}
	return c.part(sys, true), c.part(other, c.keepOthers), true, nil
}

// systemRevs splits a batch's revisions into those of system pages and
// the others.
func (s *Store) systemRevs(ctx context.Context, c *Checked) (sys, other []pendingRev, err error) {
	system := map[cid.Cid]bool{} // page -> its genesis is unsigned
	for _, p := range c.revs {
		if p.rev.Page == nil {
			system[p.block.Cid] = p.rev.IsAuto()
		}
	}
	var stored []cid.Cid
	for _, p := range c.revs {
		if p.rev.Page != nil {
			if _, ok := system[p.rev.Page.Cid]; !ok {
				system[p.rev.Page.Cid] = false
				stored = append(stored, p.rev.Page.Cid)
			}
		}
	}
	err = forCIDs(ctx, s.db, `SELECT b.cid, r.auto FROM revisions r JOIN blocks b ON b.id = r.id WHERE b.cid IN `, stored,
		func(rows *sql.Rows) error {
			var cb []byte
			var auto bool
			if err := rows.Scan(&cb, &auto); err != nil {
				return err
			}
			pc, err := cid.Cast(cb)
			system[pc] = auto
			return err
		})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range c.revs {
		if system[p.rev.PageID(p.block.Cid)] {
			sys = append(sys, p)
		} else {
			other = append(other, p)
		}
	}
	return sys, other, nil
}
