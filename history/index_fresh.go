package history

import (
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
)

// A fresh replica's sync brings thousands of new pages a batch, each with
// its whole history (or, shallow, its anchor and current version).
// Indexing such a page the way an edit is indexed (refreshPage) queries
// back its heads and its genesis, which the writer has just stored (4 s
// of a 100,000-page join's writer), deletes rows it cannot have, and
// writes the rest a statement each. A page new in this batch is indexed
// from what the writer holds instead, and its pages and links rows go in
// with the other new pages', a few statements a table. The result is the same function of
// the same heads (pageIndexOf); TestFreshPagesIndexAsOnePageAtATime
// compares the tables.

// freshPage is what indexing a fresh page needs besides its bodies.
type freshPage struct {
	heads   []headInfo
	created int64 // its genesis's time
	auto    bool  // its genesis is unsigned
}

// freshPages returns the pages whose genesis block this writer stored, as
// a revision or as a shallow page's anchor: every revision of such a page
// is this batch's. A page's heads are its revisions that no other
// revision of the batch names as a parent (a shallow revision's missing
// parent is not stored, so it is no head either). Left to refreshPage:
// pages to be recounted (void revisions), and pages whose genesis is a
// revision and which have a revision stored without a parent, where
// history below the boundary is no head (belowBoundary). On an anchored
// page nothing is below the boundary: what is below descends from the
// genesis revision, which is not here.
func (w *writer) freshPages() (map[int64]*freshPage, error) {
	revs := map[int64][]cid.Cid{}
	for c, r := range w.revs {
		if _, ok := w.blocks[r.page]; ok && !w.recount[r.page] {
			revs[r.page] = append(revs[r.page], c)
		}
	}
	pages := make(map[int64]*freshPage, len(revs))
pageLoop:
	for page, cs := range revs {
		g := w.blocks[page]
		genesis := w.q.overlay.revs[g.cid]
		named := make(map[cid.Cid]bool, len(cs))
		for _, c := range cs {
			rev := w.q.overlay.revs[c]
			if rev == nil {
				continue pageLoop // not stored by this writer after all: refreshPage asks the tables
			}
			for _, p := range rev.Parents {
				named[p.Cid] = true
			}
		}
		if genesis != nil {
			for p := range named {
				if r, ok := w.revs[p]; !ok || r.page != page {
					continue pageLoop // a boundary: see above
				}
			}
		}
		f := &freshPage{}
		for _, c := range cs {
			if !named[c] {
				f.heads = append(f.heads, headInfo{id: w.revs[c].id, cid: c, rev: w.q.overlay.revs[c]})
			}
		}
		if genesis == nil { // an anchor
			genesis = w.anchorRevs[g.cid] // decoded as the batch was checked
		}
		if genesis == nil { // an anchor stored before
			var err error
			if genesis, err = DecodeRevision(g.data); err != nil {
				return nil, fmt.Errorf("anchor of page %s: %w", g.cid, err)
			}
		}
		f.created, f.auto = genesis.Time, genesis.IsAuto()
		pages[page] = f
	}
	return pages, nil
}

// freshIndex queues the page index rows of fresh pages (see freshPages).
// With deferSearch, their search rows are left for IndexPending
// (searchlater.go): the pages are listed in unindexed instead.
type freshIndex struct {
	pages, search, links, unindexed [][]any
	deferSearch                     bool
}

// add computes the index of a fresh page and queues its rows; it reports
// whether the page's heads differ (a conflict).
func (f *freshIndex) add(w *writer, page int64, fp *freshPage) (bool, error) {
	hs := fp.heads
	total := len(hs)
	sortHeads(hs)
	hs = hs[:min(len(hs), MaxPageHeads)]
	p, err := pageIndexOf(w.q, hs, total, fp.created, fp.auto, w.s.opts.Links)
	if err != nil {
		return false, err
	}
	f.pages = append(f.pages, []any{page, p.rev, p.title, p.deleted, p.policy, p.heads, p.versions, p.system, p.created, p.updated,
		p.cid.Bytes(), p.revCID.Bytes(), TitleOrderKey(p.title)})
	switch {
	case !p.searchable():
	case f.deferSearch:
		f.unindexed = append(f.unindexed, []any{page})
	default:
		f.search = append(f.search, []any{page, p.titles, p.text})
	}
	for _, l := range p.links {
		f.links = append(f.links, []any{page, l})
	}
	return p.versions > 1, nil
}

// insert writes the queued rows. A fresh page has no rows yet: plain
// INSERTs, which fail rather than overwrite should one be there. The
// search rows go in one a statement, in the order of their row ids: FTS4
// indexes a statement's rows together, and a multi-row statement of
// pages of text cost the join more (statement journal, larger merges)
// than the statements it saved.
func (f *freshIndex) insert(q querier) error {
	// FTS4 flushes the terms it holds whenever a docid is lower than the
	// last one: a shallow batch's pages need not come in row id order.
	byID := func(rows [][]any) {
		sort.SliceStable(rows, func(i, j int) bool { return rows[i][0].(int64) < rows[j][0].(int64) })
	}
	byID(f.pages)
	byID(f.search)
	byID(f.links)
	byID(f.unindexed)
	for _, t := range []struct {
		rows  [][]any
		table string
		cols  string
	}{
		{f.pages, "pages", "id, rev, title, deleted, policy, heads, versions, system, created, updated, cid, revcid, okey"},
		{f.links, "links", "src, target"},
		{f.unindexed, "unindexed", "page"},
	} {
		if err := insertRows(q, t.table, t.cols, t.rows); err != nil {
			return fmt.Errorf("index new pages: %s: %w", t.table, err)
		}
	}
	for _, r := range f.search {
		if _, err := q.Exec(`INSERT INTO search(docid, title, body) VALUES(?, ?, ?)`, r...); err != nil {
			return fmt.Errorf("index new pages: search: %w", err)
		}
	}
	return nil
}
