package history

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Whole copies of current versions (issue 19).
//
// A page's current version is mostly stored as a delta of its parent's
// body. A shallow join is sent each page's current version without its
// parents, so the answering node rebuilt every one from its delta chain
// and sent it uncompressed, and the joiner compressed every one again to
// store it: at 100,000 pages, several seconds of CPU on each side of a
// join that both share. A running node (serve, the UI) of a wiki too large
// to be sent whole to a joiner keeps, for each current version stored as a
// delta, a zstd frame of the whole body (the wholecopy table). A packed
// send that would have to rebuild such a body sends the frame instead,
// as it sends a body stored whole: the receiver checks it and stores it as
// it came.
//
// The copies are derived data, kept only here: the blocks' rows are
// unchanged, the writer and every reader ignore the table, and an older
// binary leaves it alone. A copy names its block's row id and CID, and a
// sender uses it only when the CID matches. A copy of a body that is no
// longer a current version is removed by the next pass; fsck checks every
// copy and removes a damaged one.

const wholeCopySchema = `
CREATE TABLE IF NOT EXISTS wholecopy(id INTEGER PRIMARY KEY, cid BLOB NOT NULL, data BLOB NOT NULL);
`

// wholeCopyChunk and wholeCopyBytes bound the copies one transaction of
// KeepWholeCopies writes (each made first, outside it): a writer waiting
// its turn waits for one chunk.
const (
	wholeCopyChunk = 256
	wholeCopyBytes = 8 << 20
)

// WholeCopies says what a KeepWholeCopies pass did.
type WholeCopies struct {
	// Kept is counted by a whole pass only (after = 0).
	Added, Dropped, Kept int
	// Through is the greatest revision row id the pass saw: a pass
	// given it looks only at what was stored after.
	Through int64
}

// KeepWholeCopies brings the whole copies in line with the current
// versions (see above): a copy of every current version stored as a
// delta, and no other, when the store holds more than minRevisions
// revisions (a join of a smaller wiki is sent all of it, packed); none
// otherwise. With after > 0 (a former pass's Through) it looks only at
// the revisions stored since: their current versions get copies, and
// their parents' bodies lose theirs unless still current on the same
// page (a body that is current on another page too loses its copy until
// a whole pass, after = 0, makes it again; at 100,000 pages a whole pass
// reads every head, about 0.4 s of CPU). It writes in short
// transactions, letting waiting writers go first between them, and can
// be cut short by ctx at any point: the next pass goes on.
func (s *Store) KeepWholeCopies(ctx context.Context, minRevisions int, after int64) (WholeCopies, error) {
	var res WholeCopies
	add, drop, kept, through, err := s.wholeCopyPlan(ctx, minRevisions, after)
	if err != nil {
		return res, err
	}
	res.Kept, res.Through = kept, through
	if len(drop) > 0 {
		if err := s.uncountedWrite(ctx, func(tx *connTx) error { return deleteRows(tx, "wholecopy", "id", drop) }); err != nil {
			return res, err
		}
		res.Dropped = len(drop)
	}
	for len(add) > 0 {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rows, rest, err := s.makeWholeCopies(ctx, add)
		if err != nil {
			return res, err
		}
		add = rest
		if len(rows) == 0 {
			continue
		}
		if err := s.uncountedWrite(ctx, func(tx *connTx) error {
			return insertRowsVerb(tx, "INSERT OR REPLACE", "wholecopy", "id, cid, data", rows)
		}); err != nil {
			return res, err
		}
		res.Added += len(rows)
	}
	return res, nil
}

// blockRef is a block's row id and CID.
type blockRef struct {
	id  int64
	cid []byte
}

// wholeCopyPlan reads, in one snapshot, the current versions stored as
// deltas that have no copy (in row id order: the blocks' pages in order,
// and the table's too), the copies to remove (of no current version
// stored as a delta, or all of them when the store is small), how many
// stay, and the greatest revision row id; with after > 0, only what the
// revisions after it changed. The joins are SQLite's: the plan of a wiki
// whose copies are all made holds next to nothing in memory.
func (s *Store) wholeCopyPlan(ctx context.Context, minRevisions int, after int64) (add []blockRef, drop [][]any, kept int, through int64, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer conn.Close()
	tx, err := beginRead(ctx, conn)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer tx.end()
	// Counting the copies reads the whole table (60 ms at 100,000
	// pages): a short pass only asks whether there are any.
	var total, copies int
	count := `SELECT count(*) FROM wholecopy`
	if after > 0 {
		count = `SELECT EXISTS (SELECT 1 FROM wholecopy)`
	}
	if err := tx.QueryRow(`SELECT (SELECT count(*) FROM revisions), (SELECT coalesce(max(id), 0) FROM revisions), (`+count+`)`).
		Scan(&total, &through, &copies); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("whole copies: %w", err)
	}
	dropQuery, dropArgs := `SELECT id FROM wholecopy`, []any(nil)
	if total > minRevisions {
		rows, err := tx.Query(`SELECT b.id, b.cid FROM heads h JOIN revisions r ON r.id = h.rev JOIN blocks b ON b.id = r.body
			LEFT JOIN wholecopy w ON w.id = b.id AND w.cid = b.cid
			WHERE h.rev > ? AND b.enc IN (?, ?) AND w.id IS NULL GROUP BY b.id ORDER BY b.id`, after, encDeltaZstd, encDelta)
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("current versions: %w", err)
		}
		for rows.Next() {
			var r blockRef
			if err := rows.Scan(&r.id, &r.cid); err != nil {
				rows.Close()
				return nil, nil, 0, 0, err
			}
			add = append(add, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, 0, 0, err
		}
		if after > 0 {
			dropQuery = `SELECT DISTINCT w.id FROM parents p JOIN revisions r ON r.id = p.parent JOIN wholecopy w ON w.id = r.body
				WHERE p.child > ? AND NOT EXISTS (SELECT 1 FROM heads h JOIN revisions hr ON hr.id = h.rev WHERE h.page = r.page AND hr.body = w.id)`
			dropArgs = []any{after}
		} else {
			dropQuery = `SELECT w.id FROM wholecopy w LEFT JOIN blocks b ON b.id = w.id AND b.cid = w.cid
				WHERE b.id IS NULL OR b.enc NOT IN (2, 3) OR w.id NOT IN (SELECT r.body FROM heads h JOIN revisions r ON r.id = h.rev)`
		}
	}
	if copies > 0 {
		rows, err := tx.Query(dropQuery, dropArgs...)
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("whole copies: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, nil, 0, 0, err
			}
			drop = append(drop, []any{id})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	// A copy whose CID is not its block's is dropped and made again.
	if after > 0 {
		return add, drop, 0, through, nil // not counted
	}
	return add, drop, copies - len(drop), through, nil
}

// makeWholeCopies rebuilds the bodies of the first of refs (up to a
// chunk), checks each against its CID, and compresses them in parallel;
// it returns the rows to store and the refs left. A body that does not
// rebuild to its CID gets no copy (fsck reports the block); one that
// zstd does not shrink gets none either (it goes rebuilt, as before).
func (s *Store) makeWholeCopies(ctx context.Context, refs []blockRef) (rows [][]any, rest []blockRef, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	tx, err := beginRead(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	defer tx.end()
	type job struct {
		ref  blockRef
		data []byte
	}
	var jobs []job
	size := 0
	for len(refs) > 0 && len(jobs) < wholeCopyChunk && size < wholeCopyBytes {
		r := refs[0]
		refs = refs[1:]
		data, err := readBlockByID(tx, r.id)
		if err != nil {
			continue // fsck says why
		}
		jobs = append(jobs, job{r, data})
		size += len(data)
	}
	tx.end()
	conn.Close()
	out := make([][]byte, len(jobs))
	parallelEach(len(jobs), func(i int) {
		c, err := cid.Cast(jobs[i].ref.cid)
		if err != nil || (Block{c, jobs[i].data}).Verify() != nil {
			return
		}
		if z := zencParallel().EncodeAll(jobs[i].data, nil); len(z) < len(jobs[i].data) {
			out[i] = z
		}
	})
	for i, j := range jobs {
		if out[i] != nil {
			rows = append(rows, []any{j.ref.id, j.ref.cid, out[i]})
		}
	}
	return rows, refs, nil
}

// wholeCopy is a copy as a send reads it.
type wholeCopy struct {
	cid, data []byte
}

// readWholeCopies reads the copies of those of ids that have one into
// out; the caller compares each one's CID with its block's.
func readWholeCopies(q querier, ids []int64, out map[int64]wholeCopy) error {
	res, err := q.Query(`SELECT id, cid, data FROM wholecopy WHERE id IN (SELECT value FROM json_each(?))`, idList(ids))
	if err != nil {
		return fmt.Errorf("whole copies: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var id int64
		var c wholeCopy
		if err := res.Scan(&id, &c.cid, &c.data); err != nil {
			return err
		}
		out[id] = c
	}
	return res.Err()
}

// checkWholeCopies is fsck's check of the copies: each must name a stored
// block by its row id and CID and hold a zstd frame of exactly its bytes.
// It returns the problems and the row ids of the copies that fail, for
// fsck to remove (they are derived data) once its snapshot is done.
func checkWholeCopies(q querier) (probs []Problem, bad [][]any, err error) {
	rows, err := q.Query(`SELECT w.id, w.cid, b.cid, w.data FROM wholecopy w LEFT JOIN blocks b ON b.id = w.id`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var id int64
		var wc, bc, data []byte
		if err := rows.Scan(&id, &wc, &bc, &data); err != nil {
			rows.Close()
			return nil, nil, err
		}
		why := ""
		c, err := cid.Cast(wc)
		switch {
		case err != nil:
			why = "unreadable CID"
		case !bytes.Equal(wc, bc):
			why = "names another block"
		default:
			if body, err := zdec.DecodeAll(data, nil); err != nil {
				why = "unreadable: " + err.Error()
			} else if err := (Block{c, body}).Verify(); err != nil {
				why = "holds other bytes"
			}
		}
		if why != "" {
			bad = append(bad, []any{id})
			obj := fmt.Sprintf("block #%d", id)
			if err == nil {
				obj = c.String()
			}
			probs = append(probs, Problem{Object: obj, What: "the whole copy kept for joins " + why + ": removed (the history is intact; a running node makes it again)"})
		}
	}
	rows.Close()
	return probs, bad, rows.Err()
}
