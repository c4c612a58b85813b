package history

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// PutResult says what a Put stored.
type PutResult struct {
	// Revisions are the CIDs of newly stored revisions, parents first.
	Revisions []cid.Cid
	// Blocks counts newly stored blocks of any kind.
	Blocks int
	// Pages are the pages that gained revisions, void ones included (a
	// page all of whose revisions are void is not in the page index).
	Pages []cid.Cid
	// Divergent are the pages among Pages whose heads now differ.
	Divergent []cid.Cid
	// Deferred are revisions of the batch not stored for now, with the
	// reason of each (FutureError, HeadLimitError or NotMemberError),
	// parents first: taken when offered again once the reason has passed.
	// Their descendants in the batch are deferred with them.
	Deferred []Deferral
	// Void are the revisions among Revisions stored void (see void.go):
	// they changed no page's heads.
	Void []cid.Cid
}

// Deferral is a revision a Put did not store for now, and why.
type Deferral struct {
	Rev cid.Cid
	Err error
}

// Put verifies blocks and stores them in one transaction. Every block must
// match its CID; every revision must be signed (or be an automatic merge
// that Options.VerifyAuto accepts), belong to this wiki, and have its
// parents and body stored or in the same batch. Blocks already stored are
// skipped. On any error nothing is stored.
func (s *Store) Put(ctx context.Context, blocks []Block) (*PutResult, error) {
	c, err := s.Check(blocks)
	if err != nil {
		return nil, err
	}
	return s.PutChecked(ctx, c)
}

// PutSignedHere is Put for blocks this process has just built and signed
// with its own key (an edit, an import, a policy change): everything is
// checked as by Put except the signatures, whose verification would only
// re-check the signing code just run (it cost an edit about 0.7 ms, most
// of it building Ed25519's verification table); fsck still verifies every
// signature in the repo.
func (s *Store) PutSignedHere(ctx context.Context, blocks []Block) (*PutResult, error) {
	revs, others, err := s.checkBlocks(blocks, true)
	if err != nil {
		return nil, err
	}
	return s.PutChecked(ctx, &Checked{revs: revs, others: others, local: true})
}

// PutChecked stores a batch that passed Check, with Put's guarantees.
//
// Automatic merges are verified by recomputing them, a three-way merge
// whose cost grows with the parents' bodies: a peer's one small block can
// name two 35 MB parents. Merges whose parents are stored already are
// recomputed before the write transaction, so that nobody's local write
// waits on them; a batch that brings a merge's parents along with it and
// enough text for the merge to be costly (splitAt) is stored in two
// transactions, the parents first.
func (s *Store) PutChecked(ctx context.Context, c *Checked) (*PutResult, error) {
	if err := s.verifyAutoOutside(c); err != nil {
		return nil, err
	}
	first, rest, ok, err := s.splitSystem(ctx, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		first, rest, ok = c.splitAt()
	}
	if ok {
		r1, err := s.putChecked(ctx, first)
		if err != nil {
			return nil, err
		}
		r2, err := s.PutChecked(ctx, rest)
		if err != nil {
			return r1, err
		}
		return r1.Then(r2), nil
	}
	return s.putChecked(ctx, c)
}

// Then is the result of storing r and then next.
func (r *PutResult) Then(next *PutResult) *PutResult { return InTurn(r, next) }

// InTurn is the result of storing batches whose results are rs, in
// turn: a page counts where it last gained revisions, and is divergent
// as the last of them that touched it left it. Folding Then over a long
// run copies it again at every step.
func InTurn(rs ...*PutResult) *PutResult {
	out := &PutResult{}
	later := map[cid.Cid]bool{}
	pages := make([][]cid.Cid, len(rs))
	divergent := make([][]cid.Cid, len(rs))
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		for _, p := range r.Divergent {
			if !later[p] {
				divergent[i] = append(divergent[i], p)
			}
		}
		for _, p := range r.Pages {
			if !later[p] {
				pages[i] = append(pages[i], p)
			}
		}
		for _, p := range r.Pages {
			later[p] = true
		}
	}
	for i, r := range rs {
		out.Blocks += r.Blocks
		out.Deferred = append(out.Deferred, r.Deferred...)
		out.Revisions = append(out.Revisions, r.Revisions...)
		out.Void = append(out.Void, r.Void...)
		out.Pages = append(out.Pages, pages[i]...)
		out.Divergent = append(out.Divergent, divergent[i]...)
	}
	return out
}

// putChecked stores a batch in one write transaction.
func (s *Store) putChecked(ctx context.Context, c *Checked) (*PutResult, error) {
	conn, tx, err := s.beginWriteTx(ctx, !c.local)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if !c.local {
		defer endLazy(conn) // on the error paths; a no-op after the Close below
	}
	defer tx.end()
	var keep map[cid.Cid]Block // the writer takes blocks out of c.others
	if c.local {
		keep = s.keepForRecord(c)
	}
	w := s.newWriter(tx, c, map[string]int64{})
	res, err := w.put(c.revs)
	if err != nil {
		return nil, err
	}
	if err := w.settleShallow(); err != nil {
		return nil, err
	}
	if err := s.commitCounting(tx, len(res.Revisions) > 0 || res.Blocks > 0); err != nil {
		return nil, err
	}
	if w.leftSearch {
		s.search.marks.Add(1) // once committed: see searchState
	}
	if !c.local {
		s.lazy.pending.Store(true)
	}
	s.authors.addAll(w.authorIDs)
	if !c.local {
		endLazy(conn)
	} else {
		s.recordLocal(c, keep, res)
	}
	conn.Close() // back to the pool, for compact (the deferred Close is then a no-op)
	s.compact(ctx, len(res.Pages))
	s.yieldToWaiters()
	return res, nil
}

// beginWriteTx takes a connection and begins a write transaction on it,
// waiting its turn (see turns.go); the caller closes both. A lazy one
// commits without waiting for the disk (durable.go); its caller runs
// endLazy on the connection before closing it.
func (s *Store) beginWriteTx(ctx context.Context, lazy bool) (*sql.Conn, *connTx, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	tx, err := s.beginWriteOn(ctx, conn, lazy)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, tx, nil
}

// beginWriteOn is beginWriteTx on a connection the caller took.
func (s *Store) beginWriteOn(ctx context.Context, conn *sql.Conn, lazy bool) (*connTx, error) {
	if s.nodeCheckpoints.Load() {
		// A node on the file checkpoints it (LeaveCheckpoints): this
		// commit must not copy the log (SQLite's automatic checkpoint).
		if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
	}
	if lazy {
		if err := beginLazy(ctx, conn); err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
	}
	tx, err := s.beginWriteTurn(ctx, conn)
	for attempt := 0; err != nil && isBusy(err) && attempt < 3; attempt++ {
		// Past the busy timeout already: one more go after a pause.
		time.Sleep(100 * time.Millisecond)
		tx, err = s.beginWriteTurn(ctx, conn)
	}
	if err != nil {
		if lazy {
			endLazy(conn) // the pool's connections wait for the disk
		}
		return nil, fmt.Errorf("begin: %w", err)
	}
	return tx, nil
}

// newWriter returns a writer that stores c in the write transaction tx,
// adding the authors rows it looks up or adds to authorIDs.
func (s *Store) newWriter(tx *connTx, c *Checked, authorIDs map[string]int64) *writer {
	overlay := &txOverlay{blocks: map[cid.Cid][]byte{}, revs: map[cid.Cid]*Revision{}}
	return &writer{s: s, q: cachedQuerier{querier: tx, cache: s.cache, overlay: overlay}, others: c.others, dirty: map[int64]cid.Cid{},
		revs: map[cid.Cid]revRow{}, blocks: map[int64]storedBlock{}, ids: map[cid.Cid]int64{}, looked: map[cid.Cid]bool{}, pre: c.pre,
		now: s.now(), local: c.local, before: c.before, verified: c.verified, keepOthers: c.keepOthers, authorIDs: authorIDs,
		shallow: c.shallow, wait: c.wait, hasShallow: hasShallowRows(tx), whole: c.whole, live: c.live}
}

// warmBatch is the most revisions a batch may hold for its new bodies to
// go into the block cache: an edit or a few arriving live, not a clone,
// which would only churn the cache.
const warmBatch = 8

// writer carries one Put's transaction state.
type writer struct {
	s      *Store
	q      cachedQuerier     // the transaction, reading through the block cache
	others map[cid.Cid]Block // non-revision blocks of the batch, by CID
	dirty  map[int64]cid.Cid // pages touched: page row id -> page CID
	order  []int64
	// What this transaction stored, so that a batch of a long history
	// (parents, then children) does not query back what it just wrote.
	revs       map[cid.Cid]revRow
	blocks     map[int64]storedBlock
	ids        map[cid.Cid]int64   // row ids of the blocks stored, by CID
	known      map[cid.Cid]int64   // row ids of the batch's blocks stored before
	depths     map[cid.Cid]int     // and their delta depths
	found      map[cid.Cid]int64   // row ids blockID found stored, by CID
	looked     map[cid.Cid]bool    // the batch's blocks lookUpBatch asked about
	pre        map[cid.Cid]encoded // from Checked.pre
	now        time.Time           // the receiver's clock, for MaxClockDrift
	local      bool                // from Checked.local
	before     bool                // from Checked.before
	verified   map[cid.Cid]bool    // from Checked.verified
	keepOthers bool                // from Checked.keepOthers
	warm       bool                // a batch of a few edits: its bodies go into the cache
	shallow    bool                // from Checked.shallow: parents may be missing (shallow.go)
	wait       bool                // from Checked.wait: a revision lacking its parent may wait (shallow.go)
	hasShallow bool                // the store holds shallow revisions (shallow.go)
	shallowed  bool                // this batch added or removed shallow rows
	leftSearch bool                // this batch left search rows for later (searchlater.go)
	live       bool                // from Checked.live: a live edit (Checked.Live)
	pageRevs   map[int64]int       // revisions this writer stored, by page row id
	boundary   map[int64]int64     // a shallow page's lowest boundary height, 0: none (shallow.go)
	settle     map[int64]bool      // pages whose last boundary this batch linked (shallow.go)
	anchors    map[cid.Cid]bool    // shallow pages' anchors this writer stored (shallow.go)
	// anchorRevs are those anchors decoded (by Check), for the page index.
	anchorRevs map[cid.Cid]*Revision
	// shallowNamed are the batch's revisions that a shallow row stored
	// before this writer names as its missing parent, and newShallow the
	// missing parents of the rows this writer added; shallowLooked says
	// lookUpBatch found shallowNamed (otherwise linkShallowChildren asks).
	shallowNamed, newShallow map[cid.Cid]bool
	shallowLooked            bool
	// shallowKids are the boundaries (stored before) that name each
	// revision of shallowNamed; pageBoundaries counts their pages'
	// boundaries; newShallowPage are the pages markShallow added to.
	shallowKids    map[cid.Cid][]shallowKid
	pageBoundaries map[int64]int
	newShallowPage map[int64]bool
	whole          map[cid.Cid]encoded // from Checked.whole
	// deferred are the batch's revisions not stored for now, with why.
	deferred map[cid.Cid]error
	// recount are the pages whose heads must be recomputed from scratch:
	// the batch stored a void revision of theirs, or a child of one.
	recount map[int64]bool
	// authorIDs are the authors rows this transaction looked up or
	// added, by raw author bytes.
	authorIDs map[string]int64
	res       PutResult
	// Rows are written in bulk: block ids are allocated here (nextID),
	// the rows queued in rows until flush.
	nextID int64
	rows   pendingRows
}

// pendingRows are the rows a writer has yet to insert.
type pendingRows struct {
	blocks, revisions, parents, void [][]any
	shallow                          [][]any    // (child, missing parent CID)
	oldHeads                         []int64    // revisions that stopped being heads
	newHeads                         [][2]int64 // (revision, page) that became heads
}

// flush inserts the queued rows, a few statements a table: a batch of a
// sync has thousands of rows, and a statement each cost more than the
// rows themselves.
func (w *writer) flush() error {
	r := &w.rows
	for _, t := range []struct {
		rows  [][]any
		table string
		cols  string
	}{
		{r.blocks, "blocks", "id, cid, enc, base, depth, size, data"},
		{r.revisions, "revisions", "id, page, height, time, body, auto, author"},
		{r.parents, "parents", "child, parent"},
		{r.void, "void", "rev"},
	} {
		if err := insertRows(w.q, t.table, t.cols, t.rows); err != nil {
			if t.table == "blocks" {
				w.s.filter.insertFailed(err)
			}
			return fmt.Errorf("store %s: %w", t.table, err)
		}
	}
	// Heads: a revision that became a head and stopped being one within
	// the queue was never one in the table.
	gone := make(map[int64]bool, len(r.oldHeads))
	for _, id := range r.oldHeads {
		gone[id] = true
	}
	var add [][]any
	for _, h := range r.newHeads {
		if gone[h[0]] {
			delete(gone, h[0])
			continue
		}
		add = append(add, []any{h[0], h[1]})
	}
	var del [][]any
	for _, id := range r.oldHeads {
		if gone[id] {
			del = append(del, []any{id})
			delete(gone, id)
		}
	}
	if err := deleteRows(w.q, "heads", "rev", del); err != nil {
		return fmt.Errorf("store heads: %w", err)
	}
	if err := insertRows(w.q, "heads", "rev, page", add); err != nil {
		return fmt.Errorf("store heads: %w", err)
	}
	if err := w.flushShallow(); err != nil {
		return err
	}
	*r = pendingRows{}
	return nil
}

// rowChunks are the statement sizes bulk writes use: few distinct
// statements, so each is prepared once.
var rowChunks = []int{64, 8, 1}

// insertRows inserts rows into table in multi-row statements.
func insertRows(q querier, table, cols string, rows [][]any) error {
	return insertRowsVerb(q, "INSERT", table, cols, rows)
}

// insertRowsVerb is insertRows with another verb ("INSERT OR IGNORE").
func insertRowsVerb(q querier, verb, table, cols string, rows [][]any) error {
	return inChunks(rows, func(part [][]any) error {
		one := "(?" + strings.Repeat(", ?", len(part[0])-1) + ")"
		args := make([]any, 0, len(part)*len(part[0]))
		for _, row := range part {
			args = append(args, row...)
		}
		_, err := q.Exec(verb+" INTO "+table+"("+cols+") VALUES "+one+strings.Repeat(", "+one, len(part)-1), args...)
		return err
	})
}

// deleteRows deletes the rows of table whose col is one of the values.
func deleteRows(q querier, table, col string, rows [][]any) error {
	return inChunks(rows, func(part [][]any) error {
		args := make([]any, len(part))
		for i, row := range part {
			args[i] = row[0]
		}
		_, err := q.Exec("DELETE FROM "+table+" WHERE "+col+" IN (?"+strings.Repeat(", ?", len(part)-1)+")", args...)
		return err
	})
}

func inChunks(rows [][]any, f func([][]any) error) error {
	for _, n := range rowChunks {
		for len(rows) >= n {
			if err := f(rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
	}
	return nil
}

func (w *writer) put(revs []pendingRev) (*PutResult, error) {
	w.warm = len(revs) <= warmBatch
	if err := w.lookUpBatch(revs); err != nil {
		return nil, err
	}
	if err := w.capHeads(revs); err != nil {
		return nil, err
	}
	for _, p := range revs {
		if err := w.putRevision(p); err != nil {
			return nil, err
		}
	}
	// Blocks no revision of the batch named (a sync may send a body ahead
	// of its revision): store them as they are.
	keys := make([]cid.Cid, 0, len(w.others))
	for c := range w.others {
		if !w.keepOthers {
			keys = append(keys, c)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].KeyString() < keys[j].KeyString() })
	for _, c := range keys {
		if _, err := w.ensureBlock(c, 0, false); err != nil {
			return nil, err
		}
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	fresh, err := w.freshPages()
	if err != nil {
		return nil, err
	}
	newPages := freshIndex{deferSearch: len(fresh) >= deferSearchAt || w.live}
	for _, page := range w.order {
		var divergent bool
		var err error
		if w.recount[page] {
			_, divergent, err = recountPage(w.q, page, nil, w.s.opts.Links)
		} else if w.settle[page] {
			var changed bool
			if changed, divergent, err = settlePage(w.q, page, w.s.opts.Links); err == nil && !changed {
				continue // its whole history came: heads and index as they were
			}
		} else if fp, ok := fresh[page]; ok {
			divergent, err = newPages.add(w, page, fp)
		} else {
			divergent, err = refreshPage(w.q, page, w.s.opts.Links, w.live)
			w.leftSearch = w.leftSearch || w.live
		}
		if err != nil {
			return nil, fmt.Errorf("index page %s: %w", w.dirty[page], err)
		}
		w.res.Pages = append(w.res.Pages, w.dirty[page])
		if divergent {
			w.res.Divergent = append(w.res.Divergent, w.dirty[page])
		}
	}
	if err := newPages.insert(w.q); err != nil {
		return nil, err
	}
	w.leftSearch = w.leftSearch || len(newPages.unindexed) > 0
	// A copy: a pointer into w would keep the whole writer (the batch's
	// blocks and bodies) alive for as long as the result is held, as a
	// sync's group holds its batches' results until it commits.
	res := w.res
	return &res, nil
}

// lookUpBatch finds which of the batch's blocks are stored already, in a
// few queries rather than one a block (the transaction holds the write
// lock, so the answer stays true until it ends).
func (w *writer) lookUpBatch(revs []pendingRev) error {
	if len(revs)+len(w.others) < 16 {
		return nil
	}
	all := make([]cid.Cid, 0, len(revs)+len(w.others))
	inBatch := make(map[cid.Cid]bool, len(revs))
	for _, p := range revs {
		all = append(all, p.block.Cid)
		inBatch[p.block.Cid] = true
	}
	for c := range w.others {
		all = append(all, c)
	}
	// The parents and bodies the batch names but does not carry (a
	// shallow batch's boundaries lack their parents and its anchors their
	// bodies, and asking for each one alone cost a query a page), and the
	// delta bases of blocks sent packed (reuse): each asked for once.
	more := map[cid.Cid]bool{}
	ask := func(c cid.Cid) {
		if _, carried := w.others[c]; !carried && !inBatch[c] && !more[c] {
			more[c] = true
			all = append(all, c)
		}
	}
	for _, p := range revs {
		for _, pl := range p.rev.Parents {
			ask(pl.Cid)
		}
		ask(p.rev.Body.Cid)
	}
	for _, e := range w.pre {
		if isDeltaEnc(e.enc) {
			ask(e.base)
		}
	}
	w.known = make(map[cid.Cid]int64)
	// What the store surely does not hold needs no query (blockfilter.go).
	if w.s.filter.use(w.q) {
		absent := w.s.filter.holdsNot(all)
		kept := all[:0]
		for _, c := range all {
			if absent[c] {
				w.looked[c] = true
			} else {
				kept = append(kept, c)
			}
		}
		all = kept
	}
	// Always the same number of parameters (a short list repeats its last
	// CID), so that the statement is prepared once.
	const per = 256
	query := `SELECT id, cid, depth FROM blocks WHERE cid IN (?` + strings.Repeat(",?", per-1) + `)`
	w.depths = make(map[cid.Cid]int)
	for from := 0; from < len(all); from += per {
		part := all[from:min(from+per, len(all))]
		args := make([]any, per)
		for i := range args {
			args[i] = part[min(i, len(part)-1)].Bytes()
		}
		rows, err := w.q.Query(query, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var cb []byte
			var depth int
			if err := rows.Scan(&id, &cb, &depth); err != nil {
				rows.Close()
				return err
			}
			c, err := cid.Cast(cb)
			if err != nil {
				rows.Close()
				return fmt.Errorf("block #%d: %w", id, err)
			}
			w.known[c] = id
			w.depths[c] = depth
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range part {
			w.looked[c] = true
		}
	}
	return w.lookUpShallowNamed(revs, inBatch)
}

// blockID is blockID for the writer: what this transaction stored, and
// what lookUpBatch found, without a query.
func (w *writer) blockID(c cid.Cid) (int64, error) {
	if id, ok := w.ids[c]; ok {
		return id, nil
	}
	if id, ok := w.known[c]; ok {
		return id, nil
	}
	if id, ok := w.found[c]; ok {
		return id, nil
	}
	if w.looked[c] {
		return 0, ErrNotFound // the common case of a sync: not worth formatting
	}
	// Remembered for the transaction (it holds the write lock; what it
	// stores itself goes to ids): a live edit asked for its revision and
	// body twice each, and for its parent. Apart from known, whose
	// entries have their depths (reuse relies on them).
	id, err := blockID(w.q, c)
	switch {
	case err == nil:
		if w.found == nil {
			w.found = map[cid.Cid]int64{}
		}
		w.found[c] = id
	case errors.Is(err, ErrNotFound):
		w.looked[c] = true
	}
	return id, err
}

// ensureBlock stores a non-revision block from the batch unless it is
// already stored, storing it as a delta against deltaBase when given.
func (w *writer) ensureBlock(c cid.Cid, deltaBase int64, useBase bool) (int64, error) {
	if id, err := w.blockID(c); err == nil {
		return id, nil
	} else if !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	b, ok := w.others[c]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrMissingBody, c)
	}
	if c.Prefix().Codec == CodecDagCBOR {
		l, err := decodeChunkList(b.Data)
		if err != nil {
			return 0, err
		}
		for _, ch := range l.Chunks {
			if _, err := w.ensureBlock(ch.Cid, 0, false); err != nil {
				return 0, err
			}
		}
		useBase = false
	}
	id, err := w.insertBlock(b, deltaBase, useBase)
	delete(w.others, c)
	if err == nil && w.warm && c.Prefix().Codec == CodecRaw {
		// The next edit of this page stores its body as a delta against
		// this one: keep it decoded, or that edit rebuilds it from its
		// delta chain (about 0.65 ms of a receiver's 2 ms at depth 9).
		// Content-addressed, so a rolled-back batch leaves nothing wrong.
		w.q.cache.put(c.KeyString(), bytes.Clone(b.Data))
	}
	return id, err
}

func (w *writer) insertBlock(b Block, deltaBase int64, useBase bool) (int64, error) {
	enc, stored, base, depth, ok, err := w.reuse(b.Cid)
	if err != nil {
		return 0, err
	}
	if !ok {
		enc, stored, base, depth = w.encode(b, deltaBase, useBase)
	}
	if stored == nil {
		stored = []byte{} // an empty body is a block too, not NULL
	}
	var baseArg any
	if isDeltaEnc(enc) {
		baseArg = base
	}
	id, err := w.newID()
	if err != nil {
		return 0, err
	}
	w.rows.blocks = append(w.rows.blocks, []any{id, b.Cid.Bytes(), enc, baseArg, depth, len(b.Data), stored})
	w.s.filter.add(b.Cid)
	w.res.Blocks++
	w.blocks[id] = storedBlock{cid: b.Cid, depth: depth, data: b.Data}
	w.ids[b.Cid] = id
	w.q.overlay.blocks[b.Cid] = b.Data
	return id, nil
}

// deferRev leaves a revision of the batch unstored for now (see
// PutResult.Deferred).
func (w *writer) deferRev(c cid.Cid, why error) {
	if w.deferred == nil {
		w.deferred = map[cid.Cid]error{}
	}
	w.deferred[c] = why
	w.res.Deferred = append(w.res.Deferred, Deferral{Rev: c, Err: why})
	w.s.deferred.add(c, why, w.now)
}

// newID allocates the next block row id: the writer holds the write lock,
// so nobody else takes one until it commits.
func (w *writer) newID() (int64, error) {
	if w.nextID == 0 {
		if err := w.q.QueryRow(`SELECT coalesce(max(id), 0) + 1 FROM blocks`).Scan(&w.nextID); err != nil {
			return 0, err
		}
	}
	w.nextID++
	return w.nextID - 1, nil
}

// reuse returns the encoding Checked.pre holds for c, with its base's row
// id and its depth, when the store can take it as it is: the base stored
// and the delta chain short enough.
func (w *writer) reuse(c cid.Cid) (enc int, stored []byte, base int64, depth int, ok bool, err error) {
	e, found := w.pre[c]
	if !found {
		return 0, nil, 0, 0, false, nil
	}
	if !isDeltaEnc(e.enc) {
		return e.enc, e.data, 0, 0, true, nil
	}
	id, found := w.ids[e.base]
	if found {
		depth = w.blocks[id].depth
	} else if id, found = w.known[e.base]; found {
		depth = w.depths[e.base] // lookUpBatch read it
	} else if w.looked[e.base] {
		return 0, nil, 0, 0, false, nil // not stored
	} else {
		err = w.q.QueryRow(`SELECT id, depth FROM blocks WHERE cid = ?`, e.base.Bytes()).Scan(&id, &depth)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, 0, 0, false, nil
		} else if err != nil {
			return 0, nil, 0, 0, false, err
		}
	}
	if depth >= deltaMaxDepth {
		return 0, nil, 0, 0, false, nil
	}
	return e.enc, e.data, id, depth + 1, true, nil
}

// encode works out b's storage encoding, as a delta against the block
// with row id deltaBase when useBase is set and that chain is not too long.
func (w *writer) encode(b Block, deltaBase int64, useBase bool) (enc int, stored []byte, base int64, depth int) {
	var baseData []byte
	if useBase {
		limit := deltaMaxDepth
		if w.live {
			limit = liveDeltaDepth
		}
		var err error
		if sb, ok := w.blocks[deltaBase]; ok {
			depth, baseData = sb.depth, sb.data
		} else {
			baseData, depth, err = readBlockUnder(w.q, deltaBase, limit)
		}
		if err != nil || depth >= limit {
			useBase = false
		}
	}
	if e, ok := w.whole[b.Cid]; ok && !useBase {
		return e.enc, e.data, 0, 0 // compressed whole by AllowShallow
	}
	enc, stored = encodeStored(b.Data, baseData, useBase, b.Cid.Prefix().Codec == CodecRaw)
	if !isDeltaEnc(enc) {
		return enc, stored, 0, 0
	}
	return enc, stored, deltaBase, depth + 1
}

// revRow is a revision's row in the revisions table.
type revRow struct {
	id, page, height, time, body int64
	void                         bool // in the void table
}

// storedBlock is a block this transaction stored, with its delta depth.
type storedBlock struct {
	cid   cid.Cid
	depth int
	data  []byte
}

// revision returns the row of a stored revision (sql.ErrNoRows if none).
func (w *writer) revision(c cid.Cid) (revRow, error) {
	if r, ok := w.revs[c]; ok {
		return r, nil
	}
	if w.looked[c] {
		_, stored := w.ids[c]
		if _, known := w.known[c]; !stored && !known {
			return revRow{}, sql.ErrNoRows // not stored: lookUpBatch asked
		}
	}
	var r revRow
	err := w.q.QueryRow(`SELECT r.id, r.page, r.height, r.time, r.body, v.rev IS NOT NULL FROM revisions r
		JOIN blocks b ON b.id = r.id LEFT JOIN void v ON v.rev = r.id WHERE b.cid = ?`,
		c.Bytes()).Scan(&r.id, &r.page, &r.height, &r.time, &r.body, &r.void)
	if err == nil {
		w.revs[c] = r
	}
	return r, err
}

func (w *writer) putRevision(p pendingRev) error {
	c, rev := p.block.Cid, p.rev
	anchorID := int64(0)
	if id, err := w.blockID(c); err == nil {
		// Stored already, unless as the anchor of a shallow page (its
		// genesis block, without its body): then its history arrives.
		if rev.Page != nil || !w.hasShallow {
			return nil
		}
		if anchor, err := w.isAnchor(id); err != nil || !anchor {
			return err
		}
		anchorID = id
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if anchorID == 0 && w.shallow && rev.Page == nil && !w.bodyAvailable(rev.Body.Cid) {
		// A shallow sync sends a page's genesis without its body: the
		// page's anchor, whose block id is the page's id.
		if _, err := w.insertBlock(p.block, 0, false); err != nil {
			return err
		}
		if w.anchors == nil {
			w.anchors, w.anchorRevs = map[cid.Cid]bool{}, map[cid.Cid]*Revision{}
		}
		w.anchors[c] = true
		w.anchorRevs[c] = rev
		return nil
	}
	// Causal completeness: parents stored, all of the same page; height
	// and clock consistent with them.
	var pageID int64
	var maxHeight uint64
	var maxTime int64
	var firstParentBody, firstParent int64
	var voidParent bool
	parentIDs := make([]int64, 0, len(rev.Parents))
	if _, ok := w.deferred[c]; ok {
		return nil // deferred by capHeads
	}
	for _, pl := range rev.Parents {
		if why, ok := w.deferred[pl.Cid]; ok {
			w.deferRev(c, why)
			return nil
		}
		if why, ok := w.s.deferred.lookup(pl.Cid, w.now); ok {
			if _, err := w.blockID(pl.Cid); errors.Is(err, ErrNotFound) {
				w.deferRev(c, why)
				return nil
			}
		}
	}
	var missing []cid.Cid // parents not here: a shallow revision's
	for i, pl := range rev.Parents {
		pr, err := w.revision(pl.Cid)
		if errors.Is(err, sql.ErrNoRows) {
			if w.shallow {
				missing = append(missing, pl.Cid)
				continue
			}
			if w.wait && w.hasShallow {
				// A branch from below a shallow page's boundary: it
				// waits for the history (an honest peer sends it as
				// the child of what we hold).
				w.deferRev(c, fmt.Errorf("%w: revision %s builds on %s", ErrShallow, c, pl.Cid))
				return nil
			}
			if _, err := w.blockID(rev.Page.Cid); w.wait && errors.Is(err, ErrNotFound) {
				// A page we know nothing of, from a shallow replica
				// that cannot tell we lack it: it waits for a replica
				// that sends it whole.
				w.deferRev(c, fmt.Errorf("%w: revision %s of a page not here came without its history", ErrShallow, c))
				return nil
			}
			return fmt.Errorf("revision %s: %w: %s", c, ErrMissingParent, pl.Cid)
		} else if err != nil {
			return err
		}
		if i == 0 {
			firstParentBody, firstParent = pr.body, pr.id
		}
		if want, err := w.blockID(rev.Page.Cid); err != nil || want != pr.page {
			pageCID := w.blocks[pr.page].cid
			if !pageCID.Defined() {
				pageCID, _ = blockCID(w.q, pr.page)
			}
			return fmt.Errorf("%w: revision %s names page %s but parent %s is of page %s", ErrMalformed, c, rev.Page.Cid, pl.Cid, pageCID)
		}
		pageID = pr.page
		voidParent = voidParent || pr.void
		maxHeight = max(maxHeight, uint64(pr.height))
		maxTime = max(maxTime, pr.time)
		parentIDs = append(parentIDs, pr.id)
	}
	if len(missing) > 0 {
		var err error
		if pageID, err = w.shallowPage(c, rev, len(parentIDs)); err != nil {
			return err
		}
	} else if rev.Page != nil && rev.Height != maxHeight+1 {
		return fmt.Errorf("%w: revision %s has height %d, want %d", ErrMalformed, c, rev.Height, maxHeight+1)
	}
	if !timeAllowed(rev, maxTime) {
		if rev.IsAuto() {
			return fmt.Errorf("%w: automatic merge %s has time %d, want %d", ErrMalformed, c, rev.Time, maxTime)
		}
		return fmt.Errorf("%w: revision %s has time %d, not after its parents' %d", ErrMalformed, c, rev.Time, maxTime)
	}
	if !rev.IsAuto() && !w.before {
		if ok, err := titleAllowed(w.q, rev); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: revision %s: %v", ErrMalformed, c, CheckTitle(rev.Title))
		}
	}
	if !w.local && aheadOfClock(rev, maxTime, w.now) {
		w.deferRev(c, &FutureError{Rev: c, Time: rev.Time, Now: w.now})
		return nil
	}
	if why := w.admit(c, rev); why != nil {
		w.deferRev(c, why)
		return nil
	}
	bodyID, err := w.ensureBlock(rev.Body.Cid, firstParentBody, firstParentBody != 0 && rev.Body.Prefix().Codec == CodecRaw)
	if err != nil {
		if errors.Is(err, ErrMissingBody) {
			return fmt.Errorf("revision %s: %w", c, err)
		}
		return err
	}
	id := anchorID
	if id == 0 {
		if id, err = w.insertBlock(p.block, firstParent, firstParent != 0); err != nil {
			return err
		}
	}
	if rev.Page == nil {
		pageID = id
	}
	if rev.IsAuto() && !w.verified[c] {
		// Recomputing the merge reads the transaction's rows.
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.s.opts.VerifyAuto(txReader{w.q}, c, rev); err != nil {
			return fmt.Errorf("automatic merge %s: %w", c, err)
		}
	}
	author, err := w.authorRow(rev)
	if err != nil {
		return err
	}
	void := w.void(c, rev, voidParent)
	if void || voidParent {
		w.recountPage(pageID)
	}
	if void {
		w.rows.void = append(w.rows.void, []any{id})
		w.res.Void = append(w.res.Void, c)
	}
	w.rows.revisions = append(w.rows.revisions, []any{id, pageID, rev.Height, rev.Time, bodyID, rev.IsAuto(), author})
	w.revs[c] = revRow{id: id, page: pageID, height: int64(rev.Height), time: rev.Time, body: bodyID, void: void}
	w.q.overlay.revs[c] = rev
	if w.pageRevs == nil {
		w.pageRevs = map[int64]int{}
	}
	w.pageRevs[pageID]++
	for _, pid := range parentIDs {
		w.rows.parents = append(w.rows.parents, []any{id, pid})
		w.rows.oldHeads = append(w.rows.oldHeads, pid)
	}
	below := false
	if w.hasShallow && len(missing) == 0 {
		var err error
		if below, err = w.belowBoundary(pageID, rev); err != nil {
			return err
		}
	}
	if !below {
		w.rows.newHeads = append(w.rows.newHeads, [2]int64{id, pageID})
	}
	if err := w.markShallow(id, pageID, rev.Height, missing); err != nil {
		return err
	}
	if w.hasShallow {
		// A revision a shallow one names as its parent: its history
		// arriving. The child is linked to it, and it is no head.
		if err := w.linkShallowChildren(c, id, rev, pageID); err != nil {
			return err
		}
	}
	if below && !w.settle[pageID] && !w.recount[pageID] {
		// History below the page's boundary changes neither its heads
		// nor its index (see belowBoundary).
		w.res.Revisions = append(w.res.Revisions, c)
		return nil
	}
	if _, ok := w.dirty[pageID]; !ok {
		w.dirty[pageID] = rev.PageID(c)
		w.order = append(w.order, pageID)
	}
	w.res.Revisions = append(w.res.Revisions, c)
	return nil
}
