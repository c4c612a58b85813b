package history

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"
)

// The store-side queries of the sync protocol (p2p/ moves the bytes): the
// head set and its hash, which of a peer's heads are unknown here, and the
// causally ordered stream of every block reachable from our heads and not
// from the heads a peer already has.

// HeadSet returns every head of every page, sorted by CID bytes: the set
// a sync request carries.
func (s *Store) HeadSet(ctx context.Context) ([]cid.Cid, error) {
	out, err := queryCIDs(ctx, s.db, `SELECT b.cid FROM heads h JOIN blocks b ON b.id = h.rev`)
	if err != nil {
		return nil, err
	}
	SortCIDs(out)
	return out, nil
}

// SortCIDs sorts CIDs by their bytes, the order HeadsHash expects.
func SortCIDs(cs []cid.Cid) {
	sort.Slice(cs, func(i, j int) bool { return bytes.Compare(cs[i].Bytes(), cs[j].Bytes()) < 0 })
}

// HeadsHash is the SHA-256 of a head set sorted by CID bytes (each CID
// length-prefixed): two replicas with equal hashes hold the same heads, so
// they hold the same revisions.
func HeadsHash(sorted []cid.Cid) [32]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, c := range sorted {
		b := c.Bytes()
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Missing returns the CIDs among cs that are not stored, in their order.
func (s *Store) Missing(ctx context.Context, cs []cid.Cid) ([]cid.Cid, error) {
	var out []cid.Cid
	for _, c := range cs {
		ok, err := s.Has(ctx, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// SyncPlan is what one side of a sync sends the other: the revisions
// reachable from our heads and not from the peer's heads we know, grouped
// by page and parents first, plus the peer's heads we lack. It holds row
// ids only, 8 bytes a revision: their CIDs (PlanCIDs) took eight times as
// much, 13 MB for the whole of a 100,000-page wiki, for as long as the
// send lasted.
type SyncPlan struct {
	revs []int64 // revision row ids (and anchors' genesis blocks), in send order
	// Unknown are the peer's heads this store does not hold.
	Unknown []cid.Cid
	// Anchors counts the pages sent shallow (see PlanShallow): of revs,
	// anchors are genesis blocks sent alone, without their bodies. Of a
	// plan planned as it goes out, those planned so far.
	Anchors int
	anchors idSet
	// rest, while set, plans the next part of the plan onto revs and
	// says whether that was the last: a long plan goes out as it is
	// planned (PlanDeepen, PlanShallow), its first blocks not kept
	// waiting for its last pages' planning.
	rest func(ctx context.Context) (last bool, err error)
}

// Revisions is how many revisions the plan sends: of one planned as it
// goes out (PlanDeepen, PlanShallow), those planned so far, all once it
// is sent.
func (p *SyncPlan) Revisions() int { return len(p.revs) }

// more plans the next part of a plan planned as it goes out, and says
// whether it brought any revision; false once the plan is whole.
func (p *SyncPlan) more(ctx context.Context) (bool, error) {
	for p.rest != nil {
		had := len(p.revs)
		last, err := p.rest(ctx)
		if err != nil {
			return false, err
		}
		if last {
			p.rest = nil
		}
		if len(p.revs) > had {
			return true, nil
		}
	}
	return false, nil
}

// planAll plans whatever of plan is not planned yet.
func (p *SyncPlan) planAll(ctx context.Context) error {
	for p.rest != nil {
		if _, err := p.more(ctx); err != nil {
			return err
		}
	}
	return nil
}

// anchor adds page's genesis block to the plan, alone (see PlanShallow).
func (p *SyncPlan) anchor(page int64) {
	p.revs = append(p.revs, page)
	p.anchors.add(page)
	p.Anchors++
}

// PlanCIDs returns the CIDs of what plan sends, in send order (anchors
// included): the plan as a value, for tests and reports.
func (s *Store) PlanCIDs(ctx context.Context, plan *SyncPlan) ([]cid.Cid, error) {
	if err := plan.planAll(ctx); err != nil {
		return nil, err
	}
	byID := make(map[int64]cid.Cid, len(plan.revs))
	const per = 10_000
	for from := 0; from < len(plan.revs); from += per {
		rows, err := s.db.QueryContext(ctx, `SELECT id, cid FROM blocks WHERE id IN (SELECT value FROM json_each(?))`,
			idList(plan.revs[from:min(from+per, len(plan.revs))]))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var cb []byte
			if err := rows.Scan(&id, &cb); err != nil {
				rows.Close()
				return nil, err
			}
			c, err := cid.Cast(cb)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("block #%d: %w", id, err)
			}
			byID[id] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]cid.Cid, len(plan.revs))
	for i, id := range plan.revs {
		c, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("block #%d: %w", id, ErrNotFound)
		}
		out[i] = c
	}
	return out, nil
}

// PlanSync computes, from the peer's head set, which revisions to send it:
// per page, every revision reachable from our heads that is not an
// ancestor (or one) of the peer's heads that this store knows. A page
// whose heads the peer already has is skipped without reading its DAG; a
// page of which the peer knows nothing is sent whole, less its void
// revisions that no counting one builds on. The wiki's own pages (an
// unsigned genesis: settings, members) go first, so that a receiver
// holds the member list before the revisions it governs.
func (s *Store) PlanSync(ctx context.Context, theirHeads []cid.Cid) (*SyncPlan, error) {
	plan := &SyncPlan{}
	theirByPage, err := s.theirHeadsByPage(ctx, plan, theirHeads)
	if err != nil {
		return nil, err
	}
	// A shallow page's genesis is an anchor, with no revisions row (and
	// never the wiki's own: those come whole).
	hs, err := s.readPageHeads(ctx, `SELECT h.page, h.rev, coalesce(g.auto, 0), 0, 0, 0 FROM heads h
		LEFT JOIN revisions g ON g.id = h.page ORDER BY h.page, h.rev`)
	if err != nil {
		return nil, err
	}
	for _, system := range []bool{true, false} {
		for _, ph := range hs.pages {
			if ph.system != system {
				continue
			}
			if err := s.planPage(ctx, plan, ph.page, hs.heads(ph), theirByPage[ph.page]); err != nil {
				return nil, err
			}
		}
	}
	return plan, nil
}

// pageHeadsRead is every page's heads, as a plan reads them: pages in
// page order, their heads side by side in one slice.
type pageHeadsRead struct {
	pages []pageHeads
	revs  []int64
}

// pageHeads is one page of a pageHeadsRead.
type pageHeads struct {
	page           int64
	lo, hi         int // its heads: revs[lo:hi]
	system, anchor bool
	// eligible: one signed head with one parent (see PlanShallow).
	eligible bool
}

func (r *pageHeadsRead) heads(ph pageHeads) []int64 { return r.revs[ph.lo:ph.hi] }

// readPageHeads reads query's rows (page, head, system, anchor, and for
// PlanShallow whether the head is automatic and how many parents it
// names), ordered by page, a row a head: about 40 bytes a page, where
// maps of each page's heads and of every head's CID took several times
// as much.
func (s *Store) readPageHeads(ctx context.Context, query string, args ...any) (*pageHeadsRead, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &pageHeadsRead{}
	for rows.Next() {
		var page, rev int64
		var system, anchor, auto bool
		var parents int
		if err := rows.Scan(&page, &rev, &system, &anchor, &auto, &parents); err != nil {
			return nil, err
		}
		n := len(out.pages)
		if n == 0 || out.pages[n-1].page != page {
			out.pages = append(out.pages, pageHeads{page: page, lo: len(out.revs), system: system, anchor: anchor})
			n++
		}
		ph := &out.pages[n-1]
		out.revs = append(out.revs, rev)
		ph.hi = len(out.revs)
		ph.eligible = !auto && parents == 1 && ph.hi-ph.lo == 1
	}
	return out, rows.Err()
}

// theirHeadsByPage sorts the peer's heads by page (their revision row
// ids); those not stored go to plan.Unknown.
func (s *Store) theirHeadsByPage(ctx context.Context, plan *SyncPlan, theirHeads []cid.Cid) (map[int64][]int64, error) {
	known, err := s.revisionRows(ctx, theirHeads)
	if err != nil {
		return nil, err
	}
	theirByPage := map[int64][]int64{}
	for _, c := range theirHeads {
		if h, ok := known[string(c.Bytes())]; ok {
			theirByPage[h[1]] = append(theirByPage[h[1]], h[0])
		} else {
			plan.Unknown = append(plan.Unknown, c)
		}
	}
	return theirByPage, nil
}

// planPages adds to plan, page by page in the order given, the revisions
// of ours not below the peer's heads (theirByPage) on each page where the
// peer lacks one of our heads (ourByPage).
func (s *Store) planPages(ctx context.Context, plan *SyncPlan, order []int64, ourByPage, theirByPage map[int64][]int64) error {
	for _, page := range order {
		if err := s.planPage(ctx, plan, page, ourByPage[page], theirByPage[page]); err != nil {
			return err
		}
	}
	return nil
}

// planPage adds to plan the revisions of page not below theirs, unless
// theirs holds all of ours (the page's heads).
func (s *Store) planPage(ctx context.Context, plan *SyncPlan, page int64, ours, theirs []int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if containsAll(theirs, ours) {
		return nil
	}
	revs, err := s.pageRevisionsNotBelow(ctx, page, ours, theirs, false)
	if err != nil {
		return fmt.Errorf("plan sync of page #%d: %w", page, err)
	}
	plan.revs = append(plan.revs, revs...)
	return nil
}

// revisionRows looks up revisions by CID (see forCIDs) and returns the
// (revision, page) row ids of those stored, by CID bytes.
func (s *Store) revisionRows(ctx context.Context, cs []cid.Cid) (map[string][2]int64, error) {
	out := map[string][2]int64{}
	err := forCIDs(ctx, s.db, `SELECT b.cid, r.id, r.page FROM revisions r JOIN blocks b ON b.id = r.id WHERE b.cid IN `, cs,
		func(rows *sql.Rows) error {
			var cb []byte
			var rev, page int64
			if err := rows.Scan(&cb, &rev, &page); err != nil {
				return err
			}
			out[string(cb)] = [2]int64{rev, page}
			return nil
		})
	return out, err
}

// forCIDs runs selectIn (a query ending "... IN ") over cs, 500 CIDs a
// query, and hands each row to scan: one query a CID cost 17 us, 2.6 s
// for a peer's 150,000 heads unknown here (all of a fresh replica's wiki,
// or a hostile peer's inventions).
func forCIDs(ctx context.Context, db *sql.DB, selectIn string, cs []cid.Cid, scan func(*sql.Rows) error) error {
	const per = 500
	query := selectIn + `(?` + strings.Repeat(",?", per-1) + `)`
	for from := 0; from < len(cs); from += per {
		part := cs[from:min(from+per, len(cs))]
		// Always per parameters (a short list repeats its last CID), so
		// that the statement is prepared once.
		args := make([]any, per)
		for i := range args {
			args[i] = part[min(i, len(part)-1)].Bytes()
		}
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func containsAll(set, items []int64) bool {
	for _, x := range items {
		found := false
		for _, y := range set {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// pageRevisionsNotBelow returns the page's revisions that are one of
// heads or an ancestor of one, and neither one of known nor an ancestor of
// one, ordered by height (parents first), as row ids. Every revision is
// an ancestor of a head but a void one that no counting one builds on:
// the walk from heads is needed only on pages that hold voids, or when
// heads are not the page's heads (walk).
func (s *Store) pageRevisionsNotBelow(ctx context.Context, page int64, heads, known []int64, walk bool) ([]int64, error) {
	type node struct {
		id      int64
		parents []int64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, v.rev IS NOT NULL, p.parent FROM revisions r
		LEFT JOIN void v ON v.rev = r.id
		LEFT JOIN parents p ON p.child = r.id WHERE r.page = ? ORDER BY r.height, r.id`, page)
	if err != nil {
		return nil, err
	}
	var order []*node
	byID := map[int64]*node{}
	anyVoid := false
	for rows.Next() {
		var id int64
		var void bool
		var parent sql.NullInt64
		if err := rows.Scan(&id, &void, &parent); err != nil {
			rows.Close()
			return nil, err
		}
		anyVoid = anyVoid || void
		n := byID[id]
		if n == nil {
			n = &node{id: id}
			byID[id] = n
			order = append(order, n)
		}
		if parent.Valid {
			n.parents = append(n.parents, parent.Int64)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	parents := func(id int64) []int64 {
		if n := byID[id]; n != nil {
			return n.parents
		}
		return nil
	}
	below := map[int64]bool{}
	MarkReachable(below, known, parents)
	var reach map[int64]bool
	if anyVoid || walk {
		reach = map[int64]bool{}
		MarkReachable(reach, heads, parents)
	}
	var ids []int64
	for _, n := range order {
		if !below[n.id] && (reach == nil || reach[n.id]) {
			ids = append(ids, n.id)
		}
	}
	return ids, nil
}

// SendPlan reads the plan's blocks and hands them to emit, whole, in send
// order: each revision right after the body blocks it names that were not
// sent before (a chunked body's chunks, then its list).
func (s *Store) SendPlan(ctx context.Context, plan *SyncPlan, emit func(Block) error) error {
	return s.sendPlan(ctx, plan, false, func(p Packed) error {
		return emit(Block{Cid: p.Cid, Data: p.Data})
	})
}

// SendPlanPacked is SendPlan for a sync stream: blocks go out in their
// storage encoding where the receiver can undo it (see Packed), whole
// otherwise.
func (s *Store) SendPlanPacked(ctx context.Context, plan *SyncPlan, emit func(Packed) error) error {
	return s.sendPlan(ctx, plan, true, emit)
}

// planReadTx bounds how many revisions one read transaction of a send
// covers: one transaction spares every query its own locking, and ending
// it now and then lets the WAL be checkpointed during a long send. Blocks
// never change once stored, so nothing is lost between transactions.
const planReadTx = 2000

// planPrefetch is how many revisions' rows sendPlan reads in one query
// (two: the revisions, then their blocks and bodies) rather than three
// queries a revision, whose fixed cost was most of a sender's work.
const planPrefetch = 500

// planPrefetchBytes bounds the stored bytes a prefetch keeps (bodies of
// up to MaxBlockSize would otherwise make 500 MB); rows past it are read
// when they are sent. planCacheBytes bounds the decoded blocks kept of
// one page (a long history of large bodies): past it the cache starts
// again, and a delta's base is read again when it is needed.
const (
	planPrefetchBytes = 8 << 20
	planCacheBytes    = 16 << 20
)

// watchSend, when set (by tests), sees the reader after each block sent.
var watchSend func(*planReader)

func (s *Store) sendPlan(ctx context.Context, plan *SyncPlan, pack bool, emit func(Packed) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rd := &planReader{conn: conn, cache: map[int64][]byte{}, cids: map[int64]cid.Cid{}}
	if pack {
		rd.window = newPackWindow(false)
	}
	defer rd.end()
	if watchSend != nil {
		inner := emit
		emit = func(b Packed) error {
			err := inner(b)
			watchSend(rd)
			return err
		}
	}
	var sent idSet
	var lastPage int64 = -1
	prefetched := 0 // plan.revs[:prefetched] were read ahead
	for i := 0; ; i++ {
		// A part planned now may name revisions committed since the
		// read transaction began (a shallow plan's heads): it is read in
		// a new one.
		fresh := false
		if i == len(plan.revs) {
			if more, err := plan.more(ctx); err != nil {
				return err
			} else if !more {
				break
			}
			fresh = true
		}
		rev := plan.revs[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		if i%planReadTx == 0 || fresh {
			if err := rd.begin(ctx); err != nil {
				return err
			}
		}
		if i == prefetched {
			prefetched = min(i+planPrefetch, len(plan.revs))
			if err := rd.prefetch(ctx, plan.revs[i:prefetched]); err != nil {
				return err
			}
		}
		if plan.anchors.has(rev) {
			b, err := rd.read(ctx, rev)
			if err != nil {
				return err
			}
			if err := emit(b); err != nil {
				return err
			}
			continue
		}
		var page, body int64
		if r, ok := rd.revs[rev]; ok {
			page, body = r[0], r[1]
		} else if err := rd.rev.QueryRowContext(ctx, rev).Scan(&page, &body); err != nil {
			return fmt.Errorf("revision #%d: %w", rev, err)
		}
		if page != lastPage {
			clear(rd.cache)
			rd.cacheBytes = 0
			lastPage = page
		}
		if !sent.has(body) {
			sent.add(body)
			// A chunked body's chunks go before its chunk list: a receiver
			// stores a batch's blocks that no revision names as they are,
			// and a list cut off by the end of a batch from chunks still
			// to come could not be stored (the honest sender of a page
			// over 8 MiB was banned for it). The list is read for its
			// chunks without entering the pack window, which must see the
			// blocks in the order they go out.
			if r, err := rd.row(ctx, body); err != nil {
				return err
			} else if r.cid.Prefix().Codec == CodecDagCBOR {
				data, err := rd.decode(ctx, body, r)
				if err != nil {
					return err
				}
				l, err := decodeChunkList(data)
				if err != nil {
					return fmt.Errorf("body %s: %w", r.cid, err)
				}
				for _, ch := range l.Chunks {
					var id int64
					if err := rd.byCID.QueryRowContext(ctx, ch.Bytes()).Scan(&id); err != nil {
						return fmt.Errorf("chunk %s: %w", ch.Cid, err)
					}
					if sent.has(id) {
						continue
					}
					sent.add(id)
					cb, err := rd.read(ctx, id)
					if err != nil {
						return err
					}
					if err := emit(cb); err != nil {
						return err
					}
				}
			}
			b, err := rd.read(ctx, body)
			if err != nil {
				return err
			}
			if err := emit(b); err != nil {
				return err
			}
		}
		b, err := rd.read(ctx, rev)
		if err != nil {
			return err
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// planReader reads blocks for sendPlan through prepared statements on one
// connection, in read transactions of planReadTx revisions.
type planReader struct {
	conn              *sql.Conn
	tx                *connTx
	rev, block, byCID *sql.Stmt
	// cache holds decoded blocks of the current page, so that a page's
	// history is decoded once when it must be.
	cache      map[int64][]byte
	cacheBytes int
	// cids maps row ids to CIDs (packing only): a delta's base goes by
	// its CID, and only a base in the window can be named. Entries out of
	// the window are dropped now and then, so that a send of the whole
	// wiki keeps no more than about two windows' worth.
	cids map[int64]cid.Cid
	// window is the receiver's window of recent blocks (packing only).
	window *packWindow
	// Rows read ahead by prefetch: revision id -> (page, body), and blocks.
	revs      map[int64][2]int64
	rows      map[int64]storedRow
	rowsBytes int
	// decoded holds bodies of the prefetched run decoded ahead, in
	// parallel (predecode).
	decoded map[int64][]byte
	// copies holds the whole copies (wholecopy.go) of the prefetched
	// run's bodies stored as deltas (packing only): such a body goes as
	// its copy rather than rebuilt. A copy whose CID is not its row's is
	// dropped as the row is read.
	copies map[int64]wholeCopy
}

// prefetch reads the rows of a run of the plan's revisions, and of their
// bodies, in two queries.
func (p *planReader) prefetch(ctx context.Context, revs []int64) error {
	clear(p.revs)
	clear(p.rows)
	p.rowsBytes = 0
	if p.revs == nil {
		p.revs, p.rows = map[int64][2]int64{}, map[int64]storedRow{}
	}
	rows, err := p.tx.Query(`SELECT id, page, body FROM revisions WHERE id IN (SELECT value FROM json_each(?))`, idList(revs))
	if err != nil {
		return err
	}
	ids := append([]int64(nil), revs...)
	for rows.Next() {
		var id, page, body int64
		if err := rows.Scan(&id, &page, &body); err != nil {
			rows.Close()
			return err
		}
		p.revs[id] = [2]int64{page, body}
		ids = append(ids, body)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// The whole copies of the bodies (packing only), then the blocks,
	// then the delta bases they name that are not among them, a level a
	// query: a page's current version is mostly a delta of its parent's
	// body, itself one of the genesis's, and reading the bases a row a
	// query was a quarter of a shallow join's answer. A body with a copy
	// needs no base.
	if p.copies == nil {
		p.copies = map[int64]wholeCopy{}
	}
	clear(p.copies)
	if p.window != nil {
		bodies := make([]int64, 0, len(p.revs))
		for _, r := range p.revs {
			bodies = append(bodies, r[1])
		}
		if err := readWholeCopies(p.tx, bodies, p.copies); err != nil {
			return err
		}
	}
	for depth := 0; len(ids) > 0 && depth <= deltaMaxDepth; depth++ {
		if ids, err = p.prefetchBlocks(ids); err != nil {
			return err
		}
	}
	p.predecode(revs)
	return nil
}

// predecodeOff turns predecode off (tests compare the two).
var predecodeOff bool

// predecode undoes, in parallel, the storage encoding of those bodies of
// the run just read (revs) that cannot go out as they are stored: a delta
// whose base the receiver will not hold (a shallow plan's current
// versions, whose parents are not sent), or any encoding when the send is
// not packed. sendPlan's loop then only sends them: decoding a shallow
// join's 100,000 bodies one after the other, on the one goroutine that
// also reads and sends, was most of the answering serve's time, and the
// joiner waited for it.
func (p *planReader) predecode(revs []int64) {
	if p.decoded == nil {
		p.decoded = map[int64][]byte{}
	}
	clear(p.decoded)
	if predecodeOff {
		return
	}
	bodies := make(map[int64]bool, len(revs))
	for _, rev := range revs {
		bodies[p.revs[rev][1]] = true
	}
	queued := make(map[int64]bool, len(revs))
	var jobs []int64
	size := 0
	for _, rev := range revs {
		id := p.revs[rev][1]
		r, read := p.rows[id]
		if !read || queued[id] || r.enc == encPlain || size+r.size > planCacheBytes {
			continue
		}
		if p.window != nil {
			if !isDeltaEnc(r.enc) || !r.base.Valid {
				continue // goes as it is stored
			}
			if bc, known := p.cids[r.base.Int64]; bodies[r.base.Int64] || known && p.window.has(bc) {
				continue // its base goes before it, or went: sent as a delta
			}
			if _, ok := p.copies[id]; ok {
				continue // sent as its whole copy
			}
		}
		queued[id] = true
		size += r.size
		jobs = append(jobs, id)
	}
	if len(jobs) < 2 {
		return // decode does one as well
	}
	out := make([][]byte, len(jobs))
	parallelEach(len(jobs), func(i int) { out[i] = p.decodeAhead(jobs[i], 0) })
	for i, id := range jobs {
		if out[i] != nil {
			p.decoded[id] = out[i]
		}
	}
}

// decodeAhead is decode for predecode: from prefetched rows only (nil
// when one is missing or anything fails: decode then does it, and says
// why), reading nothing else, safe to run in parallel.
func (p *planReader) decodeAhead(id int64, depth int) []byte {
	r, ok := p.rows[id]
	if !ok || depth > deltaMaxDepth {
		return nil
	}
	var out []byte
	var err error
	if !isDeltaEnc(r.enc) {
		out, err = decodeStored(nil, r.enc, r.base, r.depth, r.data) // whole: no read
	} else if r.base.Valid && r.depth <= deltaMaxDepth {
		if base := p.decodeAhead(r.base.Int64, depth+1); base != nil {
			out, err = undelta(zdec, r.enc, base, r.data)
		}
	}
	if err != nil {
		return nil
	}
	return out
}

// prefetchBlocks reads the rows of blocks ids into p.rows (up to
// planPrefetchBytes) and returns the delta bases they name that are not
// there yet.
func (p *planReader) prefetchBlocks(ids []int64) ([]int64, error) {
	rows, err := p.tx.Query(`SELECT id, cid, enc, base, depth, size, data FROM blocks WHERE id IN (SELECT value FROM json_each(?))`, idList(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bases []int64
	for rows.Next() {
		var r storedRow
		var id int64
		var cb []byte
		if err := rows.Scan(&id, &cb, &r.enc, &r.base, &r.depth, &r.size, &r.data); err != nil {
			return nil, err
		}
		if r.cid, err = cid.Cast(cb); err != nil {
			return nil, fmt.Errorf("block #%d: %w", id, err)
		}
		copied := false
		if c, ok := p.copies[id]; ok {
			if copied = isDeltaEnc(r.enc) && bytes.Equal(c.cid, cb); !copied {
				delete(p.copies, id)
			}
		}
		if p.rowsBytes+len(r.data) > planPrefetchBytes {
			continue // read again when it is sent
		}
		p.rowsBytes += len(r.data)
		p.rows[id] = r
		if isDeltaEnc(r.enc) && r.base.Valid && !copied {
			bases = append(bases, r.base.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := bases[:0]
	seen := make(map[int64]bool, len(bases))
	for _, b := range bases {
		if _, ok := p.rows[b]; !ok && !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out, nil
}

func (p *planReader) begin(ctx context.Context) error {
	p.end()
	tx, err := beginRead(ctx, p.conn)
	if err != nil {
		return err
	}
	p.tx = tx
	for _, q := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&p.rev, `SELECT r.page, r.body FROM revisions r WHERE r.id = ?`},
		{&p.block, `SELECT cid, enc, base, depth, size, data FROM blocks WHERE id = ?`},
		{&p.byCID, `SELECT id FROM blocks WHERE cid = ?`},
	} {
		if *q.st, err = p.conn.PrepareContext(ctx, q.sql); err != nil {
			return err
		}
	}
	return nil
}

func (p *planReader) end() {
	for _, st := range []**sql.Stmt{&p.rev, &p.block, &p.byCID} {
		if *st != nil {
			(*st).Close()
			*st = nil
		}
	}
	if p.tx != nil {
		p.tx.end()
		p.tx = nil
	}
}

// storedRow is a block's row as stored.
type storedRow struct {
	cid   cid.Cid
	enc   int
	base  sql.NullInt64
	depth int
	size  int
	data  []byte
}

func (p *planReader) row(ctx context.Context, id int64) (storedRow, error) {
	if r, ok := p.rows[id]; ok {
		p.remember(id, r.cid)
		return r, nil
	}
	var r storedRow
	var cb []byte
	if err := p.block.QueryRowContext(ctx, id).Scan(&cb, &r.enc, &r.base, &r.depth, &r.size, &r.data); err != nil {
		return r, fmt.Errorf("block #%d: %w", id, err)
	}
	c, err := cid.Cast(cb)
	if err != nil {
		return r, fmt.Errorf("block #%d: %w", id, err)
	}
	r.cid = c
	p.remember(id, c)
	return r, nil
}

// remember notes block id's CID for a later delta against it, and drops
// the CIDs of blocks that have left the window once there are twice as
// many as it holds.
func (p *planReader) remember(id int64, c cid.Cid) {
	if p.window == nil {
		return
	}
	p.cids[id] = c
	if len(p.cids) > 2*PackWindowBlocks {
		for k, kc := range p.cids {
			if k != id && !p.window.has(kc) {
				delete(p.cids, k)
			}
		}
	}
}

// read returns the block with row id id as the stream carries it: in its
// storage encoding when packing and the receiver can undo that, whole
// otherwise.
func (p *planReader) read(ctx context.Context, id int64) (Packed, error) {
	r, err := p.row(ctx, id)
	if err != nil {
		return Packed{}, err
	}
	if p.window != nil {
		switch {
		case r.enc == encZstd:
			p.window.add(r.cid, r.size, nil)
			return Packed{Cid: r.cid, Enc: uint8(r.enc), Data: r.data}, nil
		case isDeltaEnc(r.enc) && r.base.Valid:
			if bc, ok := p.cids[r.base.Int64]; ok && p.window.has(bc) {
				p.window.add(r.cid, r.size, nil)
				return Packed{Cid: r.cid, Enc: uint8(r.enc), Base: bc, Data: r.data}, nil
			}
			if whole, ok := p.copies[id]; ok { // its CID checked by prefetchBlocks
				p.window.add(r.cid, r.size, nil)
				return Packed{Cid: r.cid, Enc: encZstd, Data: whole.data}, nil
			}
		}
	}
	data, err := p.decode(ctx, id, r)
	if err != nil {
		return Packed{}, err
	}
	if p.window != nil {
		p.window.add(r.cid, len(data), nil)
	}
	return Packed{Cid: r.cid, Data: data}, nil
}

// decode undoes a row's storage encoding, taking delta bases from the
// page's cache (and keeping what it decodes there).
func (p *planReader) decode(ctx context.Context, id int64, r storedRow) ([]byte, error) {
	if b, ok := p.cache[id]; ok {
		return b, nil
	}
	if b, ok := p.decoded[id]; ok {
		return b, nil
	}
	var out []byte
	var err error
	switch {
	case r.enc == encPlain:
		out = r.data
	case isDeltaEnc(r.enc):
		// Same as decodeStored, but the base comes from the page's cache.
		if !r.base.Valid || r.depth > deltaMaxDepth {
			return nil, fmt.Errorf("block %s: %w", r.cid, errBadDelta)
		}
		baseData, ok := p.cache[r.base.Int64]
		if !ok {
			br, err := p.row(ctx, r.base.Int64)
			if err != nil {
				return nil, err
			}
			if baseData, err = p.decode(ctx, r.base.Int64, br); err != nil {
				return nil, err
			}
		}
		out, err = undelta(zdec, r.enc, baseData, r.data)
	default:
		out, err = decodeStored(p.tx, r.enc, r.base, r.depth, r.data)
	}
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", r.cid, err)
	}
	if p.cacheBytes+len(out) > planCacheBytes {
		clear(p.cache)
		p.cacheBytes = 0
	}
	p.cache[id] = out
	p.cacheBytes += len(out)
	return out, nil
}

// LastRevisionID returns the greatest revision row id: a watermark for
// RevisionsAfter. Row ids only grow, so revisions stored later (by any
// process) have greater ones.
func (s *Store) LastRevisionID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(id) FROM revisions`).Scan(&id)
	return id.Int64, err
}

// NewRevision is a revision stored after a watermark.
type NewRevision struct {
	Cid  cid.Cid
	Page cid.Cid
	// Head reports whether it is a head now.
	Head bool
	// Void reports whether it is void (see void.go): not worth
	// announcing, since a sync sends it only once a counting revision
	// builds on it.
	Void bool
}

// RevisionsAfter returns up to limit revisions with row ids above after,
// oldest first, and the watermark to pass next time.
func (s *Store) RevisionsAfter(ctx context.Context, after int64, limit int) ([]NewRevision, int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, b.cid, pb.cid, h.rev IS NOT NULL, v.rev IS NOT NULL FROM revisions r
		JOIN blocks b ON b.id = r.id JOIN blocks pb ON pb.id = r.page LEFT JOIN heads h ON h.rev = r.id
		LEFT JOIN void v ON v.rev = r.id WHERE r.id > ? ORDER BY r.id LIMIT ?`, after, limit)
	if err != nil {
		return nil, after, err
	}
	defer rows.Close()
	var out []NewRevision
	for rows.Next() {
		var id int64
		var cb, pb []byte
		var n NewRevision
		if err := rows.Scan(&id, &cb, &pb, &n.Head, &n.Void); err != nil {
			return nil, after, err
		}
		if n.Cid, err = cid.Cast(cb); err != nil {
			return nil, after, err
		}
		if n.Page, err = cid.Cast(pb); err != nil {
			return nil, after, err
		}
		out = append(out, n)
		after = id
	}
	return out, after, rows.Err()
}

// RevisionBlocks returns a stored revision's body blocks (a chunked
// body's chunks before their list) followed by the revision block itself:
// everything a peer that has the parents needs. It reads them in one read
// transaction with plain queries: it is on every local edit's way to its
// peers, and a sync's reader (SendPlan: statements prepared for a long
// plan) made it 0.2-0.3 ms of each announcement.
func (s *Store) RevisionBlocks(ctx context.Context, rev cid.Cid) ([]Block, error) {
	var out []Block
	err := s.readTx(ctx, func(q querier) error {
		var id, body int64
		var bodyCB []byte
		err := q.QueryRow(`SELECT r.id, r.body, bb.cid FROM revisions r JOIN blocks b ON b.id = r.id JOIN blocks bb ON bb.id = r.body
			WHERE b.cid = ?`, rev.Bytes()).Scan(&id, &body, &bodyCB)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("revision %s: %w", rev, ErrNotFound)
		} else if err != nil {
			return err
		}
		bodyCID, err := cid.Cast(bodyCB)
		if err != nil {
			return fmt.Errorf("revision %s: body: %w", rev, err)
		}
		bodyData, err := readBlockByID(q, body)
		if err != nil {
			return err
		}
		if bodyCID.Prefix().Codec == CodecDagCBOR {
			l, err := decodeChunkList(bodyData)
			if err != nil {
				return fmt.Errorf("body %s: %w", bodyCID, err)
			}
			seen := make(map[cid.Cid]bool, len(l.Chunks))
			for _, ch := range l.Chunks {
				if seen[ch.Cid] {
					continue
				}
				seen[ch.Cid] = true
				data, err := getBlock(q, ch.Cid)
				if err != nil {
					return fmt.Errorf("chunk %s: %w", ch.Cid, err)
				}
				out = append(out, Block{Cid: ch.Cid, Data: data})
			}
		}
		out = append(out, Block{Cid: bodyCID, Data: bodyData})
		revData, err := readBlockByID(q, id)
		if err != nil {
			return err
		}
		out = append(out, Block{Cid: rev, Data: revData})
		return nil
	})
	return out, err
}
