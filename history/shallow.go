package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// Shallow history (issue 19). A replica that joins a large wiki first
// fetches the current version of every page and only then, or later, the
// history below it, so that the wiki is readable and writable long before
// its whole history has arrived.
//
// What a shallow page holds: its anchor, the genesis revision's block
// without the genesis's body and without a revisions row (the page's row
// id is its genesis block's id, so the anchor gives the page its id), and
// its boundary, a signed revision stored although its one parent is not
// here, with a row in the shallow table naming that parent. Everything
// else of the page is as always: the revisions above the boundary have
// their parents stored, heads and indexes are kept as ever.
//
// Only a sync that asked for it may store a boundary (Checked.shallow):
// a join's first sync (PlanShallow on the other side) and the deepening
// that fetches the history later (PlanDeepen). The other side sends a
// page shallow only when it has one head, signed, with one parent; a page
// in conflict, or whose head is an automatic merge (which is verified by
// recomputing it from its history) or a resolution (whose policy is read
// from its parents), comes whole. So on every shallow page the stored
// revisions are the boundary and its descendants: any two of them have
// the boundary as a common ancestor, and their merge base, the highest
// common ancestor, is the same as with the whole history. A page with
// more than one boundary (only a misbehaving peer sends that) refuses
// merge bases until its history is here (ErrShallow).
//
// When a revision arrives that a boundary names as its parent, the
// boundary is linked to it (a parents row), checked against it (page,
// height, time), and the shallow row goes; the anchor becomes a genesis
// revision like any other when its body arrives with it. A store with no
// shallow row left is whole again.
//
// Older binaries must not take a shallow store for a whole one: while it
// holds a shallow row, the database's user_version is
// shallowSchemaVersion, which they refuse to open, and it goes back to
// schemaVersion when the history is complete.

// ErrShallow marks an answer that needs history this replica has not
// fetched yet (a shallow replica).
var ErrShallow = errors.New("history not here yet")

// shallowSchemaVersion is the user_version of a store holding shallow
// revisions.
const shallowSchemaVersion = 7

const shallowSchema = `
CREATE TABLE IF NOT EXISTS shallow(child INTEGER NOT NULL, parent BLOB NOT NULL, PRIMARY KEY(child, parent)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shallow_parent ON shallow(parent);
`

// ensureLaterTables adds the tables added since schema 4 (shallow,
// unindexed of searchlater.go and wholecopy of wholecopy.go) to a store
// made before them. An older binary leaves them alone.
func (s *Store) ensureLaterTables() error {
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('shallow', 'unindexed', 'wholecopy')`).Scan(&n); err != nil || n == 3 {
		return err
	}
	_, err := s.db.Exec(shallowSchema + unindexedSchema + wholeCopySchema)
	return err
}

// AllowShallow lets the batch store revisions whose parents are not here
// as a shallow page's boundary, and a page's genesis without its body as
// its anchor. Only for what a shallow sync or a deepening sends.
//
// It also compresses, in parallel, the bodies of the batch's revisions
// whose parents the batch does not carry, for the writer to store whole
// should it find no parent to store them against (a boundary's body):
// the single writer compressing every page's current version was a
// tenth of a shallow join's time.
func (c *Checked) AllowShallow() {
	c.shallow = true
	if len(c.revs) < 64 {
		return
	}
	inBatch := make(map[cid.Cid]bool, len(c.revs))
	for _, p := range c.revs {
		inBatch[p.block.Cid] = true
	}
	var jobs []Block
	for _, p := range c.revs {
		if len(p.rev.Parents) == 0 || inBatch[p.rev.Parents[0].Cid] || p.rev.Body.Prefix().Codec != CodecRaw {
			continue
		}
		if _, done := c.pre[p.rev.Body.Cid]; done {
			continue
		}
		if b, ok := c.others[p.rev.Body.Cid]; ok {
			jobs = append(jobs, b)
		}
	}
	out := make([]encoded, len(jobs))
	parallelEach(len(jobs), func(i int) {
		out[i].enc, out[i].data = encodeStoredWith(zencParallel(), jobs[i].Data, nil, false, true)
	})
	if c.whole == nil {
		c.whole = make(map[cid.Cid]encoded, len(jobs))
	}
	for i, b := range jobs {
		c.whole[b.Cid] = out[i]
	}
}

// WaitForHistory lets a revision of the batch whose parent is not here
// wait (deferred, ErrShallow) instead of failing the batch, when a shallow
// replica may have sent it: a branch from below one of our shallow pages'
// boundaries, or a page we know nothing of from a replica that holds it
// shallow and could not tell we lack it. For syncs; a bundle or a local
// write missing a parent is refused as ever.
func (c *Checked) WaitForHistory() { c.wait = true }

// hasShallowRows says whether the store holds shallow revisions; on an
// error it says yes, which only costs the writer a lookup a revision.
func hasShallowRows(q querier) bool {
	var n int
	if err := q.QueryRow(`SELECT EXISTS(SELECT 1 FROM shallow)`).Scan(&n); err != nil {
		return true
	}
	return n == 1
}

// isAnchor says whether the stored block with row id id, a genesis
// revision's, is a shallow page's anchor (no revisions row).
func (w *writer) isAnchor(id int64) (bool, error) {
	var n int
	err := w.q.QueryRow(`SELECT EXISTS(SELECT 1 FROM revisions WHERE id = ?)`, id).Scan(&n)
	return n == 0, err
}

// bodyAvailable says whether a body block is in the batch or stored.
func (w *writer) bodyAvailable(c cid.Cid) bool {
	if _, ok := w.others[c]; ok {
		return true
	}
	_, err := w.blockID(c)
	return err == nil
}

// shallowPage checks a revision stored with its parents missing (present
// of them are here) and returns its page's row id: the page's genesis or
// anchor must be stored.
func (w *writer) shallowPage(c cid.Cid, rev *Revision, present int) (int64, error) {
	switch {
	case rev.IsAuto():
		return 0, fmt.Errorf("%w: automatic merge %s came without its parents (it is checked against its history)", ErrMissingParent, c)
	case len(rev.Parents) != 1 || present != 0:
		return 0, fmt.Errorf("%w: revision %s of %d parents came without them (only a one-parent revision can start a shallow history)", ErrMissingParent, c, len(rev.Parents))
	case rev.Height < 2:
		return 0, fmt.Errorf("%w: revision %s has height %d and a parent", ErrMalformed, c, rev.Height)
	}
	page, err := w.blockID(rev.Page.Cid)
	if errors.Is(err, ErrNotFound) {
		return 0, fmt.Errorf("%w: revision %s came without its parent or its page's genesis %s", ErrMissingParent, c, rev.Page.Cid)
	} else if err != nil {
		return 0, err
	}
	if ok, err := w.isGenesis(page, rev.Page.Cid); err != nil {
		return 0, err
	} else if !ok {
		return 0, fmt.Errorf("%w: revision %s names page %s, which is no page's genesis", ErrMalformed, c, rev.Page.Cid)
	}
	return page, nil
}

// isGenesis says whether the block with row id id (CID c) is a genesis
// revision of this wiki: a revision row that is its own page, or an anchor
// that decodes as one.
func (w *writer) isGenesis(id int64, c cid.Cid) (bool, error) {
	// A block this batch stored is a revision if the batch stored it as
	// one (w.revs), or an anchor (checked as a genesis of this wiki); no
	// need to ask the table.
	if r, ok := w.revs[c]; ok {
		return r.page == r.id, nil
	}
	if w.anchors[c] {
		return true, nil
	}
	if _, stored := w.ids[c]; !stored {
		if r, err := w.revision(c); err == nil {
			return r.page == r.id, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
	}
	if c.Prefix().Codec != CodecDagCBOR {
		return false, nil
	}
	data, err := getBlock(w.q, c)
	if err != nil {
		return false, err
	}
	g, err := DecodeRevision(data)
	if err != nil {
		return false, nil
	}
	return g.Page == nil && g.Wiki == w.s.wiki, nil
}

// markShallow records the parents of a stored revision (row id id, of
// page at height) that are not here.
func (w *writer) markShallow(id, page int64, height uint64, missing []cid.Cid) error {
	if len(missing) == 0 {
		return nil
	}
	// The page's lowest boundary: its revisions row is still queued, so
	// what the table says is merged with this one here.
	h, err := w.boundaryHeight(page)
	if err != nil {
		return err
	}
	if h == 0 || int64(height) < h {
		w.boundary[page] = int64(height)
	}
	if w.newShallow == nil {
		w.newShallow = map[cid.Cid]bool{}
		w.newShallowPage = map[int64]bool{}
	}
	w.newShallowPage[page] = true
	for _, p := range missing {
		w.rows.shallow = append(w.rows.shallow, []any{id, p.Bytes()})
		w.newShallow[p] = true
		w.shallowed, w.hasShallow = true, true
	}
	return nil
}

// flushShallow inserts the shallow rows markShallow queued: before any
// query of the shallow table, and with the writer's other rows.
func (w *writer) flushShallow() error {
	if err := insertRowsVerb(w.q, "INSERT OR IGNORE", "shallow", "child, parent", w.rows.shallow); err != nil {
		return fmt.Errorf("store shallow: %w", err)
	}
	w.rows.shallow = nil
	return nil
}

// lookUpShallowNamed finds, for lookUpBatch, which of the batch's
// revisions a stored shallow row names as its missing parent (history
// arriving: linkShallowChildren), in a few queries rather than one a
// revision.
func (w *writer) lookUpShallowNamed(revs []pendingRev, inBatch map[cid.Cid]bool) error {
	w.shallowLooked = true
	w.shallowNamed = map[cid.Cid]bool{}
	if !w.hasShallow {
		return nil // none stored
	}
	// A revision of a page new here (its genesis or anchor in the batch,
	// not stored before) has no shallow row naming it: its page had none.
	var ask []pendingRev
	for _, p := range revs {
		page := p.rev.PageID(p.block.Cid)
		if _, stored := w.known[page]; stored || !inBatch[page] {
			ask = append(ask, p)
		}
	}
	revs = ask
	// The rows themselves come along (the boundaries to link), and how
	// many boundaries each of their pages has: linkShallowChildren then
	// needs no query for what was stored before this writer.
	w.shallowKids = map[cid.Cid][]shallowKid{}
	w.pageBoundaries = map[int64]int{}
	const per = 256
	query := `SELECT s.parent, s.child, r.page, r.height, r.time, v.rev IS NOT NULL FROM shallow s
		JOIN revisions r ON r.id = s.child LEFT JOIN void v ON v.rev = s.child
		WHERE s.parent IN (?` + strings.Repeat(",?", per-1) + `)`
	var pages []int64
	for from := 0; from < len(revs); from += per {
		part := revs[from:min(from+per, len(revs))]
		args := make([]any, per)
		for i := range args {
			args[i] = part[min(i, len(part)-1)].block.Cid.Bytes()
		}
		rows, err := w.q.Query(query, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var pb []byte
			var k shallowKid
			if err := rows.Scan(&pb, &k.id, &k.page, &k.height, &k.time, &k.void); err != nil {
				rows.Close()
				return err
			}
			parent, err := cid.Cast(pb)
			if err != nil {
				continue
			}
			w.shallowNamed[parent] = true
			w.shallowKids[parent] = append(w.shallowKids[parent], k)
			if _, ok := w.pageBoundaries[k.page]; !ok {
				w.pageBoundaries[k.page] = 0
				pages = append(pages, k.page)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	// How many boundaries each of those pages has in all, and the
	// lowest one's height (boundaryHeight, asked of every revision of
	// the history arriving: a query a page).
	if w.boundary == nil {
		w.boundary = map[int64]int64{}
	}
	for from := 0; from < len(pages); from += per {
		part := pages[from:min(from+per, len(pages))]
		args := make([]any, per)
		for i := range args {
			args[i] = part[min(i, len(part)-1)]
		}
		rows, err := w.q.Query(`SELECT r.page, count(*), min(r.height) FROM shallow s JOIN revisions r ON r.id = s.child
			WHERE r.page IN (?`+strings.Repeat(",?", per-1)+`) GROUP BY r.page`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var page, low int64
			var n int
			if err := rows.Scan(&page, &n, &low); err != nil {
				rows.Close()
				return err
			}
			w.pageBoundaries[page] = n
			if _, ok := w.boundary[page]; !ok {
				w.boundary[page] = low
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// shallowKid is a boundary revision stored before this writer, which
// names a revision of the batch as its missing parent.
type shallowKid struct {
	id, page, height, time int64
	void                   bool
}

// linkShallowChildren joins the boundary revisions that name a newly
// stored revision (c, row id id, of page) as their parent to it: their
// parents row, a check that they fit it, and no shallow row any more. The
// new revision is no head: they descend from it.
func (w *writer) linkShallowChildren(c cid.Cid, id int64, rev *Revision, page int64) error {
	if w.shallowLooked && !w.shallowNamed[c] && !w.newShallow[c] {
		return nil // no shallow row names it (lookUpBatch, markShallow)
	}
	if w.shallowLooked && !w.newShallow[c] && !w.newShallowPage[page] {
		// Read with the batch (lookUpShallowNamed), the page's
		// boundaries counted.
		return w.linkKids(c, id, rev, page, w.shallowKids[c], func(page int64) (bool, error) {
			return w.pageBoundaries[page] <= 0, nil
		})
	}
	if err := w.flushShallow(); err != nil {
		return err
	}
	var n int
	if err := w.q.QueryRow(`SELECT count(*) FROM shallow WHERE parent = ?`, c.Bytes()).Scan(&n); err != nil || n == 0 {
		return err
	}
	if err := w.flush(); err != nil { // a child stored earlier in this batch
		return err
	}
	rows, err := w.q.Query(`SELECT s.child, r.page, r.height, r.time, v.rev IS NOT NULL FROM shallow s
		JOIN revisions r ON r.id = s.child LEFT JOIN void v ON v.rev = s.child
		WHERE s.parent = ?`, c.Bytes())
	if err != nil {
		return err
	}
	var kids []shallowKid
	for rows.Next() {
		var k shallowKid
		if err := rows.Scan(&k.id, &k.page, &k.height, &k.time, &k.void); err != nil {
			rows.Close()
			return err
		}
		kids = append(kids, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return w.linkKids(c, id, rev, page, kids, func(page int64) (bool, error) {
		delete(w.boundary, page) // read again
		h, err := w.boundaryHeight(page)
		return h == 0, err
	})
}

// fits says whether boundary k may be linked to rev, of the page with row
// id page, as its parent: the same page, one higher, and not older than
// its parent allows.
func (k shallowKid) fits(rev *Revision, page int64) bool {
	return k.page == page && k.height == int64(rev.Height)+1 && k.time >= leastChildTime(rev.Time)
}

// joinsBoundary says whether revision c of the batch (rev, of the page
// whose genesis is pg) is the missing parent of boundaries stored before
// that all fit it, as lookUpShallowNamed found them: history arriving,
// which linkShallowChildren makes no head.
func (w *writer) joinsBoundary(c cid.Cid, rev *Revision, pg cid.Cid) bool {
	kids := w.shallowKids[c]
	if !w.shallowLooked || !w.shallowNamed[c] || len(kids) == 0 {
		return false
	}
	page, err := w.blockID(pg)
	if err != nil {
		return false
	}
	for _, k := range kids {
		if !k.fits(rev, page) {
			return false
		}
	}
	return true
}

// linkKids links the boundaries kids, which name c (row id id, of page)
// as their missing parent: a parents row each, a check that they fit it,
// and no shallow row any more. last says whether the page has no
// boundary left once one is linked.
func (w *writer) linkKids(c cid.Cid, id int64, rev *Revision, page int64, kids []shallowKid, last func(page int64) (bool, error)) error {
	for _, k := range kids {
		if _, err := w.q.Exec(`DELETE FROM shallow WHERE child = ? AND parent = ?`, k.id, c.Bytes()); err != nil {
			return err
		}
		w.shallowed = true
		if w.pageBoundaries != nil {
			w.pageBoundaries[k.page]--
		}
		if !k.fits(rev, page) {
			// The boundary does not fit its parent (its page, height or
			// time lied, unchecked when it came): whoever sends the
			// parent now is not to blame. It stays unlinked, so the
			// parent's line and the boundary are both heads (counted
			// again), a conflict a person sees and resolves; fsck names
			// the boundary, whose parents rows lack its parent.
			w.recountPage(k.page)
			delete(w.boundary, k.page)
			continue
		}
		w.rows.parents = append(w.rows.parents, []any{k.id, id})
		w.rows.oldHeads = append(w.rows.oldHeads, id)
		if k.void {
			w.recountPage(page)
		}
		if done, err := last(page); err != nil {
			return err
		} else if !done {
			delete(w.boundary, page) // read again when asked
			continue                 // another boundary of the page (only a misbehaving peer sends two)
		}
		// Its history is whole: the heads the boundary kept from being
		// counted are counted now (settlePage), unless there are none.
		if w.boundary == nil {
			w.boundary = map[int64]int64{}
		}
		w.boundary[page] = 0
		if w.lineBelow(c, rev, page) {
			continue // its heads and index as they were
		}
		if w.settle == nil {
			w.settle = map[int64]bool{}
		}
		w.settle[page] = true
	}
	return nil
}

// lineBelow says whether the history that came below a page's boundary,
// up to c (rev, just stored, the boundary's parent), is one line that
// this writer stored whole, and all it stored of the page: the genesis
// became a revision in this batch (so nothing of the page below the
// boundary was stored before it), each revision down from c has one
// parent, one lower, and the batch holds no other revision of the page,
// none of them void. Then no head was kept from being counted, and the
// page needs no settling: so every page of an honest deepening whose
// history one batch carries, where settling was a query a page.
func (w *writer) lineBelow(c cid.Cid, rev *Revision, page int64) bool {
	if w.recount[page] {
		return false
	}
	// What this writer stored is in the overlay (w.revs also caches
	// revisions read); pageRevs counts it by page, where counting the
	// overlay cost a pass over the batch for each page linked.
	stored := w.q.overlay.revs
	if w.pageRevs[page] != int(rev.Height) {
		return false
	}
	x, h := c, int64(rev.Height)
	for {
		r, ok := w.revs[x]
		pr := stored[x]
		if !ok || pr == nil || r.page != page || r.void || r.height != h {
			return false
		}
		if h == 1 {
			return r.id == page // the page's genesis
		}
		if len(pr.Parents) != 1 {
			return false
		}
		x, h = pr.Parents[0].Cid, h-1
	}
}

// belowBoundary says whether a revision stored on a shallow page lies
// below its boundary (lower than its lowest boundary revision): history
// arriving, which is never a head while the page is shallow. Without
// this, a page's history split over two batches of a sync showed its
// first part's top as a second head in between: a conflict, and under an
// automatic policy a merge of it. A branch from below the boundary that
// comes while the page is shallow waits, uncounted, until the history is
// whole (settlePage counts it then).
func (w *writer) belowBoundary(page int64, rev *Revision) (bool, error) {
	h, err := w.boundaryHeight(page)
	return h > 0 && int64(rev.Height) < h, err
}

// boundaryHeight is the height of a page's lowest boundary revision, 0
// when the page has none.
func (w *writer) boundaryHeight(page int64) (int64, error) {
	if h, ok := w.boundary[page]; ok {
		return h, nil
	}
	if w.boundary == nil {
		w.boundary = map[int64]int64{}
	}
	if _, fresh := w.blocks[page]; fresh {
		// The page's genesis or anchor is this writer's: no boundary of
		// it was stored before, and markShallow notes this writer's.
		w.boundary[page] = 0
		return 0, nil
	}
	if err := w.flushShallow(); err != nil {
		return 0, err
	}
	var h int64
	err := w.q.QueryRow(`SELECT coalesce(min(r.height), 0) FROM shallow s JOIN revisions r ON r.id = s.child WHERE r.page = ?`, page).Scan(&h)
	if err != nil {
		return 0, err
	}
	if w.boundary == nil {
		w.boundary = map[int64]int64{}
	}
	w.boundary[page] = h
	return h, nil
}

// settlePage counts a page's heads again once its history is whole, and
// indexes it again if they changed (a branch from below the boundary that
// came meanwhile); it reports whether they did and whether they differ.
func settlePage(q querier, page int64, linksOf func(string) []string) (changed, divergent bool, err error) {
	if settled, err := headsSettled(q, page); err != nil || settled {
		return false, false, err
	}
	g, err := loadPageGraph(q, page)
	if err != nil {
		return false, false, err
	}
	want := map[int64]bool{}
	for _, h := range g.countingHeads() {
		want[h.id] = true
	}
	have, err := allIDs(q, `SELECT rev FROM heads WHERE page = ?`, page)
	if err != nil {
		return false, false, err
	}
	same := len(have) == len(want)
	for _, id := range have {
		same = same && want[id]
	}
	if same {
		return false, false, nil
	}
	_, divergent, err = recountPage(q, page, g, linksOf)
	return true, divergent, err
}

// headsSettled says, in one query, what settlePage finds of most pages
// without loading their graph: a page whose revisions are one line (one
// at each height: each one's parent is the one below) and none void has
// one head, the top, which is counted as it came; so has every page of a
// deepening but those with merges in their history, where reading each
// page's graph was a fifth of the writer's time.
func headsSettled(q querier, page int64) (bool, error) {
	var line bool
	err := q.QueryRow(`SELECT count(*) = max(height) AND (SELECT count(*) FROM heads WHERE page = ?1) = 1
		AND NOT EXISTS(SELECT 1 FROM revisions r JOIN void v ON v.rev = r.id WHERE r.page = ?1)
		FROM revisions WHERE page = ?1`, page).Scan(&line)
	return line, err
}

// settleShallow sets the database's user_version for what the batch left:
// shallowSchemaVersion while a shallow row remains, schemaVersion after.
func (w *writer) settleShallow() error {
	if !w.shallowed {
		return nil
	}
	return settleShallowVersion(w.q)
}

// settleShallowVersion sets user_version for the shallow rows the
// transaction q leaves.
func settleShallowVersion(q querier) error {
	v := schemaVersion
	if hasShallowRows(q) {
		v = shallowSchemaVersion
	}
	_, err := q.Exec(fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

// genesisInfo returns a page's creation time and whether its genesis is
// unsigned (the wiki's own page), from the genesis revision or, on a
// shallow page, from its anchor.
func genesisInfo(q querier, page int64) (created int64, auto bool, err error) {
	err = q.QueryRow(`SELECT time, auto FROM revisions WHERE id = ?`, page).Scan(&created, &auto)
	if !errors.Is(err, sql.ErrNoRows) {
		return created, auto, err
	}
	c, err := blockCID(q, page)
	if err != nil {
		return 0, false, err
	}
	data, err := getBlock(q, c)
	if err != nil {
		return 0, false, err
	}
	g, err := DecodeRevision(data)
	if err != nil {
		return 0, false, fmt.Errorf("anchor of page %s: %w", c, err)
	}
	return g.Time, g.IsAuto(), nil
}

// ShallowState is what a replica lacks of its history.
type ShallowState struct {
	// Pages are the pages whose history is not all here, Revisions the
	// revisions stored without their parents (one a page, from an honest
	// peer).
	Pages     int `json:"pages"`
	Revisions int `json:"revisions"`
	// Keep: the replica was made to stay shallow (join --shallow); only
	// an explicit 'sync --unshallow' fetches the history.
	Keep bool `json:"keep"`
}

// Shallow says what of the history is not here yet.
func (s *Store) Shallow(ctx context.Context) (ShallowState, error) {
	var st ShallowState
	var err error
	if st.Pages, st.Revisions, err = shallowCounts(s.db); err != nil {
		return st, err
	}
	var keep string
	err = s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'shallow'`).Scan(&keep)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, err
	}
	st.Keep = keep == "keep"
	return st, nil
}

// WantsHistory says whether the store lacks history it should fetch: it
// holds shallow revisions and was not made to keep shallow. Two quick
// lookups, for every sync.
func (s *Store) WantsHistory(ctx context.Context) (bool, error) {
	if !hasShallowRows(s.db) {
		return false, nil
	}
	var keep, want int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE key = 'shallow' AND value = 'keep'`).Scan(&keep)
	if err != nil || keep > 0 {
		return false, err
	}
	err = s.db.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM shallow s WHERE `+parentWanted+`)`).Scan(&want)
	return want == 1, err
}

// KeepShallow records whether the replica stays shallow until asked.
func (s *Store) KeepShallow(ctx context.Context, keep bool) error {
	var err error
	if keep {
		_, err = s.db.ExecContext(ctx, `INSERT OR REPLACE INTO meta(key, value) VALUES('shallow', 'keep')`)
	} else {
		_, err = s.db.ExecContext(ctx, `DELETE FROM meta WHERE key = 'shallow'`)
	}
	return err
}

// shallowCounts counts the pages whose history is not all here and their
// revisions stored without their parents.
//
// Two queries: one that counted both, a DISTINCT aggregate each, took
// 0.26 s at 100,000 shallow pages (after every sync of a shallow
// replica, for its note), the two 0.05 s.
func shallowCounts(q querier) (pages, revisions int, err error) {
	err = q.QueryRow(`SELECT count(DISTINCT r.page) FROM shallow s JOIN revisions r ON r.id = s.child`).Scan(&pages)
	if err == nil {
		err = q.QueryRow(`SELECT count(*) FROM (SELECT DISTINCT child FROM shallow)`).Scan(&revisions)
	}
	return pages, revisions, err
}

// PageShallow says whether a page's history is not all here.
func (s *Store) PageShallow(ctx context.Context, page cid.Cid) (bool, error) {
	id, err := blockID(s.db, page)
	if err != nil {
		return false, err
	}
	n, err := pageBoundaries(s.db, id)
	return n > 0, err
}

// pageBoundaries counts a page's revisions stored without their parents.
func pageBoundaries(q querier, page int64) (int, error) {
	var n int
	err := q.QueryRow(`SELECT count(DISTINCT s.child) FROM shallow s JOIN revisions r ON r.id = s.child WHERE r.page = ?`, page).Scan(&n)
	return n, err
}

// parentWanted is the condition on a shallow row s whose parent is to
// be fetched: one not stored as a revision. A parent stored as one is no
// want (its child did not fit it); one stored as its page's anchor is (a
// page of two revisions: the boundary's parent is the genesis, whose
// block is here without its body or its revisions row).
const parentWanted = `NOT EXISTS(SELECT 1 FROM blocks b JOIN revisions r ON r.id = b.id WHERE b.cid = s.parent)`

// ShallowWants returns up to n parents the store's boundary revisions name
// and lacks: what a deepening asks a peer for.
func (s *Store) ShallowWants(ctx context.Context, n int) ([]cid.Cid, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT s.parent FROM shallow s WHERE `+parentWanted+` LIMIT ?`, n)
	cbs, err := scanColumn[[]byte](rows, err)
	if err != nil {
		return nil, err
	}
	out := make([]cid.Cid, 0, len(cbs))
	for _, cb := range cbs {
		c, err := cid.Cast(cb)
		if err != nil {
			return nil, fmt.Errorf("shallow row: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// PlanShallow is PlanSync for a replica that asked for the current
// version of every page first (a join): a page the peer knows nothing of,
// with one signed head of one parent, goes as its anchor (the genesis
// block alone) and that head, without reading its history; any other page
// goes as PlanSync sends it. A page whose own history is not all here
// goes as its anchor and what is here of it.
//
// A store of at most whole revisions goes as PlanSync sends it: the
// shallow plan saves little there, and its history would cost a second
// exchange.
func (s *Store) PlanShallow(ctx context.Context, theirHeads []cid.Cid, whole int) (*SyncPlan, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM revisions`).Scan(&total); err != nil {
		return nil, err
	}
	if total <= whole {
		return s.PlanSync(ctx, theirHeads)
	}
	plan := &SyncPlan{}
	theirByPage, err := s.theirHeadsByPage(ctx, plan, theirHeads)
	if err != nil {
		return nil, err
	}
	// The heads of some pages, with what deciding needs: a query a part.
	const headsOf = `SELECT h.page, h.rev, coalesce(g.auto, 0), g.id IS NULL, r.auto,
		(SELECT count(*) FROM parents p WHERE p.child = h.rev) + (SELECT count(*) FROM shallow s WHERE s.child = h.rev)
		FROM heads h JOIN revisions r ON r.id = h.rev LEFT JOIN revisions g ON g.id = h.page `
	planPart := func(hs *pageHeadsRead, skip map[int64]bool) error {
		for _, ph := range hs.pages {
			if skip[ph.page] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			heads, theirs := hs.heads(ph), theirByPage[ph.page]
			if containsAll(theirs, heads) {
				continue
			}
			if len(theirs) == 0 && !ph.system && ph.eligible && !ph.anchor {
				plan.anchor(ph.page)
				plan.revs = append(plan.revs, heads[0])
				continue
			}
			if len(theirs) == 0 && ph.anchor {
				plan.anchor(ph.page) // ours is shallow: the anchor, then what is here
			}
			revs, err := s.pageRevisionsNotBelow(ctx, ph.page, heads, theirs, false)
			if err != nil {
				return fmt.Errorf("plan sync of page #%d: %w", ph.page, err)
			}
			plan.revs = append(plan.revs, revs...)
		}
		return nil
	}
	// The wiki's own pages (settings, members) first, as PlanSync sends
	// them: a receiver checks the others' authors against them.
	system, err := s.readPageHeads(ctx, headsOf+`WHERE h.page IN (SELECT id FROM pages WHERE system = 1) ORDER BY h.page, h.rev`)
	if err != nil {
		return nil, err
	}
	if err := planPart(system, nil); err != nil {
		return nil, err
	}
	sent := make(map[int64]bool, len(system.pages))
	for _, ph := range system.pages {
		sent[ph.page] = true
	}
	// Then the others, shallowPlanPages at a time as they go out (see
	// SyncPlan.rest): planning all of them first kept a join's first
	// block waiting 0.3 s for 100,000 pages.
	after := int64(-1)
	plan.rest = func(ctx context.Context) (bool, error) {
		var last sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT max(page) FROM (SELECT DISTINCT page FROM heads WHERE page > ? ORDER BY page LIMIT ?)`,
			after, shallowPlanPages).Scan(&last); err != nil {
			return false, err
		}
		if !last.Valid {
			return true, nil
		}
		hs, err := s.readPageHeads(ctx, headsOf+`WHERE h.page > ? AND h.page <= ? ORDER BY h.page, h.rev`, after, last.Int64)
		if err != nil {
			return false, err
		}
		after = last.Int64
		return false, planPart(hs, sent)
	}
	if _, err := plan.more(ctx); err != nil {
		return nil, err
	}
	return plan, nil
}

// shallowPlanPages is how many pages PlanShallow plans at a time.
const shallowPlanPages = 1024

// PlanDeepen plans the history a shallow replica asks for: every revision
// here that is one of want or an ancestor of one, page by page, parents
// first. want are the parents its boundary revisions lack; those not here
// are left out (Unknown). A page whose genesis is here whole starts with
// it (its anchor there becomes a revision); one of our own shallow pages
// starts at our boundary.
//
// The plan is planned as it goes out, deepenPlanPages pages at a time
// (SendPlanPacked asks for the next part when it has sent the last): a
// page's history is a query, and a round of thousands of pages planned
// beforehand kept the asker waiting for its first block, its writer idle,
// a tenth of a deepening's time.
func (s *Store) PlanDeepen(ctx context.Context, want []cid.Cid) (*SyncPlan, error) {
	plan := &SyncPlan{}
	rows, err := s.revisionRows(ctx, want)
	if err != nil {
		return nil, err
	}
	byPage := map[int64][]int64{}
	var order []int64
	for _, c := range want {
		r, ok := rows[string(c.Bytes())]
		if !ok {
			plan.Unknown = append(plan.Unknown, c)
			continue
		}
		if _, seen := byPage[r[1]]; !seen {
			order = append(order, r[1])
		}
		byPage[r[1]] = append(byPage[r[1]], r[0])
	}
	plan.rest = func(ctx context.Context) (bool, error) {
		part := order[:min(deepenPlanPages, len(order))]
		order = order[len(part):]
		if err := s.planHistoryOf(ctx, plan, part, byPage); err != nil {
			return false, err
		}
		return len(order) == 0, nil
	}
	if _, err := plan.more(ctx); err != nil {
		return nil, err
	}
	return plan, nil
}

// deepenPlanPages is how many pages' history PlanDeepen plans at a time,
// in one query: a few hundred KB to send.
const deepenPlanPages = 256

// planHistoryOf adds to plan the history of pages (at most
// deepenPlanPages), in their order, below want[page] on each: the
// revisions that are one of them or an ancestor, parents first, as
// pageRevisionsNotBelow finds them walking from heads, in one query for
// all the pages rather than one a page (half an answerer's planning).
func (s *Store) planHistoryOf(ctx context.Context, plan *SyncPlan, pages []int64, want map[int64][]int64) error {
	if len(pages) == 0 {
		return nil
	}
	// Always deepenPlanPages parameters (a short list repeats its last),
	// so that the statement is prepared once.
	args := make([]any, deepenPlanPages)
	for i := range args {
		args[i] = pages[min(i, len(pages)-1)]
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.page, r.id, p.parent FROM revisions r LEFT JOIN parents p ON p.child = r.id
		WHERE r.page IN (?`+strings.Repeat(",?", deepenPlanPages-1)+`) ORDER BY r.page, r.height, r.id`, args...)
	if err != nil {
		return err
	}
	// Each page's revisions by height, and their parents.
	type pageRevs struct {
		order   []int64
		parents map[int64][]int64
	}
	byPage := make(map[int64]*pageRevs, len(pages))
	for rows.Next() {
		var page, id int64
		var parent sql.NullInt64
		if err := rows.Scan(&page, &id, &parent); err != nil {
			rows.Close()
			return err
		}
		pr := byPage[page]
		if pr == nil {
			pr = &pageRevs{parents: map[int64][]int64{}}
			byPage[page] = pr
		}
		if _, seen := pr.parents[id]; !seen {
			pr.order = append(pr.order, id)
			pr.parents[id] = nil
		}
		if parent.Valid {
			pr.parents[id] = append(pr.parents[id], parent.Int64)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("plan the history of %d pages: %w", len(pages), err)
	}
	for _, page := range pages {
		pr := byPage[page]
		if pr == nil {
			continue
		}
		reach := map[int64]bool{}
		MarkReachable(reach, want[page], func(id int64) []int64 { return pr.parents[id] })
		for _, id := range pr.order {
			if reach[id] {
				plan.revs = append(plan.revs, id)
			}
		}
	}
	return nil
}

// HeadCount returns how many heads the store holds, of every page.
func (s *Store) HeadCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM heads`).Scan(&n)
	return n, err
}

// HoldsPages says whether the store holds any page but the wiki's own
// (settings, members): a replica that holds none asks for a shallow sync.
func (s *Store) HoldsPages(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM pages WHERE system = 0)`).Scan(&n)
	return n == 1, err
}
