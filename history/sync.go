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
// by page and parents first, plus the peer's heads we lack.
type SyncPlan struct {
	revs []int64 // revision row ids, in send order
	// Unknown are the peer's heads this store does not hold.
	Unknown []cid.Cid
}

// Revisions is how many revisions the plan sends.
func (p *SyncPlan) Revisions() int { return len(p.revs) }

// PlanSync computes, from the peer's head set, which revisions to send it:
// per page, every revision that is not an ancestor (or one) of the peer's
// heads that this store knows. A page whose heads the peer already has is
// skipped without reading its DAG; a page of which the peer knows nothing
// is sent whole.
func (s *Store) PlanSync(ctx context.Context, theirHeads []cid.Cid) (*SyncPlan, error) {
	plan := &SyncPlan{}
	ours := map[string][2]int64{} // cid bytes -> (rev id, page id)
	ourByPage := map[int64][]int64{}
	var pages []int64
	rows, err := s.db.QueryContext(ctx, `SELECT h.rev, h.page, b.cid FROM heads h JOIN blocks b ON b.id = h.rev ORDER BY h.page`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var rev, page int64
		var cb []byte
		if err := rows.Scan(&rev, &page, &cb); err != nil {
			rows.Close()
			return nil, err
		}
		ours[string(cb)] = [2]int64{rev, page}
		if _, ok := ourByPage[page]; !ok {
			pages = append(pages, page)
		}
		ourByPage[page] = append(ourByPage[page], rev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	theirByPage := map[int64][]int64{}
	for _, c := range theirHeads {
		if h, ok := ours[string(c.Bytes())]; ok {
			theirByPage[h[1]] = append(theirByPage[h[1]], h[0])
			continue
		}
		var rev, page int64
		err := s.db.QueryRowContext(ctx, `SELECT r.id, r.page FROM revisions r JOIN blocks b ON b.id = r.id WHERE b.cid = ?`, c.Bytes()).Scan(&rev, &page)
		if errors.Is(err, sql.ErrNoRows) {
			plan.Unknown = append(plan.Unknown, c)
			continue
		} else if err != nil {
			return nil, err
		}
		theirByPage[page] = append(theirByPage[page], rev)
	}

	for _, page := range pages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		theirs := theirByPage[page]
		if containsAll(theirs, ourByPage[page]) {
			continue
		}
		revs, err := s.pageRevisionsNotBelow(ctx, page, theirs)
		if err != nil {
			return nil, fmt.Errorf("plan sync of page #%d: %w", page, err)
		}
		plan.revs = append(plan.revs, revs...)
	}
	return plan, nil
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

// pageRevisionsNotBelow returns the page's revisions that are neither one
// of known nor an ancestor of one, ordered by height (parents first).
func (s *Store) pageRevisionsNotBelow(ctx context.Context, page int64, known []int64) ([]int64, error) {
	type node struct {
		id      int64
		height  int64
		parents []int64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.height, p.parent FROM revisions r
		LEFT JOIN parents p ON p.child = r.id WHERE r.page = ? ORDER BY r.height, r.id`, page)
	if err != nil {
		return nil, err
	}
	var order []*node
	byID := map[int64]*node{}
	for rows.Next() {
		var id, height int64
		var parent sql.NullInt64
		if err := rows.Scan(&id, &height, &parent); err != nil {
			rows.Close()
			return nil, err
		}
		n := byID[id]
		if n == nil {
			n = &node{id: id, height: height}
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
	below := map[int64]bool{}
	stack := append([]int64(nil), known...)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if below[x] {
			continue
		}
		below[x] = true
		if n := byID[x]; n != nil {
			stack = append(stack, n.parents...)
		}
	}
	var out []int64
	for _, n := range order {
		if !below[n.id] {
			out = append(out, n.id)
		}
	}
	return out, nil
}

// SendPlan reads the plan's blocks and hands them to emit in send order:
// each revision right after the body blocks it names that were not sent
// before (a chunked body's list, then its chunks). It reads through
// prepared statements on one connection, and undoes storage deltas with
// a per-page cache, so a page's history is decoded once.
func (s *Store) SendPlan(ctx context.Context, plan *SyncPlan, emit func(Block) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rd := &planReader{db: s.db, cache: map[int64][]byte{}}
	for _, q := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&rd.rev, `SELECT r.page, r.body FROM revisions r WHERE r.id = ?`},
		{&rd.block, `SELECT cid, enc, base, depth, data FROM blocks WHERE id = ?`},
		{&rd.byCID, `SELECT id FROM blocks WHERE cid = ?`},
	} {
		if *q.st, err = conn.PrepareContext(ctx, q.sql); err != nil {
			return err
		}
		defer (*q.st).Close()
	}
	sent := map[int64]bool{}
	var lastPage int64 = -1
	for _, rev := range plan.revs {
		if err := ctx.Err(); err != nil {
			return err
		}
		var page, body int64
		if err := rd.rev.QueryRowContext(ctx, rev).Scan(&page, &body); err != nil {
			return fmt.Errorf("revision #%d: %w", rev, err)
		}
		if page != lastPage {
			clear(rd.cache)
			lastPage = page
		}
		if !sent[body] {
			sent[body] = true
			b, err := rd.read(ctx, body, true)
			if err != nil {
				return err
			}
			if err := emit(b); err != nil {
				return err
			}
			if b.Cid.Prefix().Codec == CodecDagCBOR {
				l, err := decodeChunkList(b.Data)
				if err != nil {
					return fmt.Errorf("body %s: %w", b.Cid, err)
				}
				for _, ch := range l.Chunks {
					var id int64
					if err := rd.byCID.QueryRowContext(ctx, ch.Bytes()).Scan(&id); err != nil {
						return fmt.Errorf("chunk %s: %w", ch.Cid, err)
					}
					if sent[id] {
						continue
					}
					sent[id] = true
					cb, err := rd.read(ctx, id, false)
					if err != nil {
						return err
					}
					if err := emit(cb); err != nil {
						return err
					}
				}
			}
		}
		b, err := rd.read(ctx, rev, false)
		if err != nil {
			return err
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	return nil
}

// planReader reads blocks for SendPlan.
type planReader struct {
	db                *sql.DB
	rev, block, byCID *sql.Stmt
	cache             map[int64][]byte // decoded bodies of the current page
}

// read returns a block by row id, resolving storage deltas through the
// cache and, when keep is set, remembering the decoded bytes there.
func (p *planReader) read(ctx context.Context, id int64, keep bool) (Block, error) {
	var cb []byte
	var enc, depth int
	var base sql.NullInt64
	var data []byte
	if err := p.block.QueryRowContext(ctx, id).Scan(&cb, &enc, &base, &depth, &data); err != nil {
		return Block{}, fmt.Errorf("block #%d: %w", id, err)
	}
	c, err := cid.Cast(cb)
	if err != nil {
		return Block{}, fmt.Errorf("block #%d: %w", id, err)
	}
	var out []byte
	switch enc {
	case encDeltaZstd, encDelta:
		// Same as decodeStored, but the base comes from the page's cache.
		if !base.Valid || depth > deltaMaxDepth {
			return Block{}, errBadDelta
		}
		baseData, ok := p.cache[base.Int64]
		if !ok {
			bb, err := p.read(ctx, base.Int64, true)
			if err != nil {
				return Block{}, err
			}
			baseData = bb.Data
		}
		delta := data
		if enc == encDeltaZstd {
			delta, err = zdec.DecodeAll(data, nil)
		}
		if err == nil {
			out, err = applyDelta(baseData, delta)
		}
	default:
		out, err = decodeStored(p.db, enc, base, depth, data)
	}
	if err != nil {
		return Block{}, fmt.Errorf("block %s: %w", c, err)
	}
	if keep {
		p.cache[id] = out
	}
	return Block{Cid: c, Data: out}, nil
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
}

// RevisionsAfter returns up to limit revisions with row ids above after,
// oldest first, and the watermark to pass next time.
func (s *Store) RevisionsAfter(ctx context.Context, after int64, limit int) ([]NewRevision, int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, b.cid, pb.cid, h.rev IS NOT NULL FROM revisions r
		JOIN blocks b ON b.id = r.id JOIN blocks pb ON pb.id = r.page LEFT JOIN heads h ON h.rev = r.id
		WHERE r.id > ? ORDER BY r.id LIMIT ?`, after, limit)
	if err != nil {
		return nil, after, err
	}
	defer rows.Close()
	var out []NewRevision
	for rows.Next() {
		var id int64
		var cb, pb []byte
		var n NewRevision
		if err := rows.Scan(&id, &cb, &pb, &n.Head); err != nil {
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

// RevisionBlocks returns a stored revision's body blocks followed by the
// revision block itself: everything a peer that has the parents needs.
func (s *Store) RevisionBlocks(ctx context.Context, rev cid.Cid) ([]Block, error) {
	var id, body int64
	err := s.db.QueryRowContext(ctx, `SELECT r.id, r.body FROM revisions r JOIN blocks b ON b.id = r.id WHERE b.cid = ?`, rev.Bytes()).Scan(&id, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("revision %s: %w", rev, ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	var out []Block
	err = s.SendPlan(ctx, &SyncPlan{revs: []int64{id}}, func(b Block) error {
		out = append(out, b)
		return nil
	})
	return out, err
}
