package history

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// Problem is one thing fsck found wrong.
type Problem struct {
	Object string // a CID, a page id, or "database"
	What   string
	// Warning marks something fsck reports but that is no damage: the
	// repo is intact, and nothing a user can run would change it.
	Warning bool
}

func (p Problem) String() string { return p.Object + ": " + p.What }

// Fsck re-hashes every block, checks every revision's encoding, signature
// and recorded fields, recomputes heads and the page, search and link
// indexes from the revisions, and compares. It returns every problem found;
// none means the repo is intact. progress, if set, is called as blocks are
// checked.
func (s *Store) Fsck(ctx context.Context, progress func(done, total int)) ([]Problem, error) {
	var probs []Problem
	add := func(obj, format string, a ...any) {
		probs = append(probs, Problem{Object: obj, What: fmt.Sprintf(format, a...)})
	}
	var quick string
	if err := s.db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&quick); err != nil {
		add("database", "%v", classifyOpenError(err))
		return probs, nil
	} else if quick != "ok" {
		add("database", "sqlite: %s", quick)
	}
	// One snapshot for the whole check, taken without the write lock:
	// writers go on while fsck reads.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tx, err := beginRead(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer tx.end()

	var total int
	if err := tx.QueryRow(`SELECT count(*) FROM blocks`).Scan(&total); err != nil {
		add("database", "%v", err)
		return probs, nil
	}
	// SQLite skips, without a word, what a damaged write-ahead log holds
	// after the damage. Read it while this transaction's snapshot keeps
	// other processes from restarting it.
	if damage, err := walDamage(s.path + "-wal"); err != nil {
		add("database", "write-ahead log: %v", err)
	} else if damage != "" {
		add("database", "%s", damage)
	}
	ids, err := allIDs(tx, `SELECT id FROM blocks ORDER BY id`)
	if err != nil {
		add("database", "%v", err)
		return probs, nil
	}
	revIDs := map[int64]bool{}
	if rows, err := allIDs(tx, `SELECT id FROM revisions`); err == nil {
		for _, id := range rows {
			revIDs[id] = true
		}
	}
	voidIDs := map[int64]bool{}
	if rows, err := allIDs(tx, `SELECT rev FROM void`); err == nil {
		for _, id := range rows {
			voidIDs[id] = true
		}
	}
	// Shallow pages' anchors: genesis blocks without a revisions row.
	anchorIDs := map[int64]bool{}
	if rows, err := allIDs(tx, `SELECT DISTINCT r.page FROM revisions r WHERE NOT EXISTS(SELECT 1 FROM revisions g WHERE g.id = r.page)`); err == nil {
		for _, id := range rows {
			anchorIDs[id] = true
		}
	}
	reader := txReader{tx}
	for i, id := range ids {
		if progress != nil && i%500 == 0 {
			progress(i, total)
		}
		c, err := blockCID(tx, id)
		if err != nil {
			add(fmt.Sprintf("block #%d", id), "unreadable CID: %v", err)
			continue
		}
		data, err := readBlockByID(tx, id)
		if err != nil {
			add(c.String(), "unreadable: %v", err)
			continue
		}
		if err := (Block{c, data}).Verify(); err != nil {
			add(c.String(), "%v", err)
			continue
		}
		if anchorIDs[id] {
			if g, err := DecodeRevision(data); err != nil {
				add(c.String(), "shallow page's genesis: %v", err)
			} else if g.Page != nil || g.Wiki != s.wiki {
				add(c.String(), "named as a page, but is no genesis of this wiki")
			} else if !g.IsAuto() {
				if err := g.VerifySignatureOf(data); err != nil {
					add(c.String(), "%v", err)
				}
			}
			continue
		}
		if !revIDs[id] {
			if c.Prefix().Codec == CodecDagCBOR {
				if _, err := decodeChunkList(data); err != nil {
					add(c.String(), "%v", err)
				}
			}
			continue
		}
		rev, err := DecodeRevision(data)
		if err != nil {
			add(c.String(), "%v", err)
			continue
		}
		if rev.Wiki != s.wiki {
			add(c.String(), "belongs to wiki %s", rev.Wiki)
		}
		if rev.IsAuto() {
			if s.opts.VerifyAuto == nil {
				add(c.String(), "automatic merge cannot be checked")
			} else if err := s.opts.VerifyAuto(reader, c, rev); err != nil {
				add(c.String(), "automatic merge does not recompute: %v", err)
			}
		} else if err := rev.VerifySignatureOf(data); err != nil {
			add(c.String(), "%v", err)
		} else if s.opts.Counts != nil {
			// Void exactly when the member list does not count it (an
			// automatic merge: when a parent is void, checked below).
			switch counts := s.opts.Counts(c, rev); {
			case counts && voidIDs[id]:
				add(c.String(), "marked void, but the member list counts it")
			case !counts && !voidIDs[id]:
				add(c.String(), "counts, but the member list voids it (by %s)", rev.AuthorID())
			}
		}
		probs = append(probs, checkRevisionRows(tx, id, c, rev)...)
		if p, ok := futureRevision(tx, id, c, rev, s.now()); ok {
			probs = append(probs, p)
		}
	}
	if progress != nil {
		progress(total, total)
	}
	probs = append(probs, checkHeadsAndIndexes(tx, s.opts.Links)...)
	probs = append(probs, checkShallow(tx)...)
	copyProbs, badCopies, err := checkWholeCopies(tx)
	if err != nil {
		add("whole copies", "%v", err)
	}
	probs = append(probs, copyProbs...)
	tx.end()
	if len(badCopies) > 0 {
		if err := s.uncountedWrite(ctx, func(tx *connTx) error { return deleteRows(tx, "wholecopy", "id", badCopies) }); err != nil {
			add("whole copies", "removing the damaged ones: %v", err)
		}
	}
	// FTS4's own check is written as an INSERT: it takes the write lock
	// for its moment, outside the read transaction.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO search(search) VALUES('integrity-check')`); err != nil {
		add("search index", "%v", err)
	}
	return probs, nil
}

func allIDs(q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.Query(query, args...)
	return scanColumn[int64](rows, err)
}

// scanColumn reads every row of a one-column query.
func scanColumn[T any](rows *sql.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// checkRevisionRows compares the revisions and parents rows with the block.
func checkRevisionRows(q querier, id int64, c cid.Cid, rev *Revision) []Problem {
	var probs []Problem
	add := func(format string, a ...any) {
		probs = append(probs, Problem{Object: c.String(), What: fmt.Sprintf(format, a...)})
	}
	var page, body, author int64
	var height uint64
	var t int64
	var auto bool
	if err := q.QueryRow(`SELECT page, height, time, body, auto, author FROM revisions WHERE id = ?`, id).Scan(&page, &height, &t, &body, &auto, &author); err != nil {
		add("revision row: %v", err)
		return probs
	}
	if peer, err := authorOf(q, author); err != nil {
		add("author: %v", err)
	} else if peer != rev.AuthorID().String() {
		add("revision row names author %q, the block %q", peer, rev.AuthorID().String())
	}
	if pc, err := blockCID(q, page); err != nil || !pc.Equals(rev.PageID(c)) {
		add("indexed under the wrong page")
	}
	if bc, err := blockCID(q, body); err != nil || !bc.Equals(rev.Body.Cid) {
		add("indexed with the wrong body")
	}
	if height != rev.Height || t != rev.Time || auto != rev.IsAuto() {
		add("revision row disagrees with the block (height, time or auto)")
	}
	parentIDs, err := allIDs(q, `SELECT parent FROM parents WHERE child = ?`, id)
	if err != nil {
		add("parents: %v", err)
		return probs
	}
	var got []string
	// A shallow revision's parents that are not here yet.
	missing, err := scanColumn[[]byte](q.Query(`SELECT parent FROM shallow WHERE child = ?`, id))
	if err != nil {
		add("shallow: %v", err)
	}
	for _, cb := range missing {
		if pc, err := cid.Cast(cb); err == nil {
			got = append(got, pc.String())
		}
	}
	for _, pid := range parentIDs {
		pc, err := blockCID(q, pid)
		if err != nil {
			add("parent row names a missing block")
			continue
		}
		got = append(got, pc.String())
	}
	var want []string
	for _, p := range rev.Parents {
		want = append(want, p.String())
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		add("parents rows %v disagree with the block's parents %v", got, want)
	}
	return probs
}

// checkHeadsAndIndexes recomputes heads (revisions nobody names as
// parent; with void revisions, the counting ones no counting one descends
// from) and each page's index rows, and compares them with what is stored.
func checkHeadsAndIndexes(q querier, linksOf func(string) []string) []Problem {
	var probs []Problem
	add := func(obj, format string, a ...any) {
		probs = append(probs, Problem{Object: obj, What: fmt.Sprintf(format, a...)})
	}
	var voids int
	if err := q.QueryRow(`SELECT count(*) FROM void`).Scan(&voids); err != nil {
		return append(probs, Problem{Object: "void", What: err.Error()})
	}
	want, wantPages, err := wantHeads(q, voids > 0)
	if err != nil {
		return append(probs, Problem{Object: "heads", What: err.Error()})
	}
	if voids > 0 {
		if bad, err := allIDs(q, `SELECT rev FROM void WHERE rev NOT IN (SELECT id FROM revisions)`); err != nil || len(bad) > 0 {
			add("void", "void rows name no revision: %v %v", bad, err)
		}
	}
	// An automatic merge is void exactly when a parent of it is.
	if bad, err := allIDs(q, `SELECT r.id FROM revisions r WHERE r.auto = 1 AND
		EXISTS (SELECT 1 FROM void WHERE rev = r.id) != EXISTS (SELECT 1 FROM parents p JOIN void v ON v.rev = p.parent WHERE p.child = r.id)`); err != nil || len(bad) > 0 {
		add("void", "automatic merges void unlike their parents: %v %v", bad, err)
	}
	got, err := allIDs(q, `SELECT rev FROM heads ORDER BY rev`)
	if err != nil {
		return append(probs, Problem{Object: "heads", What: err.Error()})
	}
	if !slices.Equal(want, got) {
		add("heads", "stored heads %v differ from recomputed heads %v (block row ids)", got, want)
	}
	if bad, err := allIDs(q, `SELECT h.rev FROM heads h JOIN revisions r ON r.id = h.rev WHERE h.page != r.page`); err == nil && len(bad) > 0 {
		add("heads", "heads filed under the wrong page: %v", bad)
	}
	pages := wantPages
	indexed, err := allIDs(q, `SELECT id FROM pages ORDER BY id`)
	if err != nil {
		return append(probs, Problem{Object: "pages", What: err.Error()})
	}
	if !slices.Equal(pages, indexed) {
		add("page index", "indexes pages %v, revisions name pages %v", indexed, pages)
	}
	later, err := allIDs(q, `SELECT page FROM unindexed`)
	if err != nil {
		return append(probs, Problem{Object: "search index", What: err.Error()})
	}
	unindexed := make(map[int64]bool, len(later))
	for _, p := range later {
		unindexed[p] = true
	}
	if len(later) > 0 {
		probs = append(probs, Problem{Object: "search index", Warning: true,
			What: fmt.Sprintf("%d pages are not in the search index yet (the next search, sync or serve indexes them)", len(later))})
	}
	for _, page := range pages {
		pc, err := blockCID(q, page)
		if err != nil {
			add(fmt.Sprintf("page #%d", page), "%v", err)
			continue
		}
		obj := "page " + pc.String()
		p, err := computePageIndex(q, page, linksOf)
		if err != nil {
			add(obj, "cannot recompute index: %v", err)
			continue
		}
		var rev, created, updated int64
		var title, policy string
		var deleted, system bool
		var heads, versions int
		var pcid, revCID, key []byte
		err = q.QueryRow(`SELECT rev, title, deleted, policy, heads, versions, system, created, updated, cid, revcid, okey FROM pages WHERE id = ?`, page).
			Scan(&rev, &title, &deleted, &policy, &heads, &versions, &system, &created, &updated, &pcid, &revCID, &key)
		if err != nil {
			add(obj, "page row: %v", err)
			continue
		}
		if rev != p.rev || title != p.title || deleted != p.deleted || policy != p.policy || heads != p.heads || versions != p.versions || system != p.system ||
			created != p.created || updated != p.updated {
			add(obj, "page index row disagrees with the page's heads")
		} else if !bytes.Equal(pcid, p.cid.Bytes()) || !bytes.Equal(revCID, p.revCID.Bytes()) || !bytes.Equal(key, TitleOrderKey(p.title)) {
			add(obj, "page list row (CIDs, title key) disagrees with the page's heads")
		}
		var sTitle, sBody string
		err = q.QueryRow(`SELECT title, body FROM search WHERE docid = ?`, page).Scan(&sTitle, &sBody)
		searchable := p.searchable()
		switch {
		case unindexed[page]:
			// Written later (IndexPending), from the heads as they are then.
		case err == sql.ErrNoRows && searchable:
			add(obj, "missing from the search index")
		case err != nil && err != sql.ErrNoRows:
			add(obj, "search index: %v", err)
		case err == nil && !searchable:
			add(obj, "deleted page still in the search index")
		case err == nil && (sTitle != p.titles || sBody != p.text && !(p.textCut && strings.HasPrefix(sBody, p.text))):
			// (a page's whole text was indexed before maxSearchText)
			add(obj, "search index text disagrees with the page's heads")
		}
		rows, err := q.Query(`SELECT target FROM links WHERE src = ? ORDER BY target`, page)
		if err != nil {
			add(obj, "links: %v", err)
			continue
		}
		var links []string
		for rows.Next() {
			var t string
			if rows.Scan(&t) == nil {
				links = append(links, t)
			}
		}
		rows.Close()
		if !slices.Equal(links, p.links) && !(p.textCut && subset(p.links, links)) {
			// (links past a page's first MiB were indexed before maxSearchText)
			add(obj, "link index %v disagrees with the page's links %v", links, p.links)
		}
	}
	return probs
}

// wantHeads recomputes every head, and the pages that have one, sorted by
// row id; with voids, page by page.
func wantHeads(q querier, voids bool) (heads, pages []int64, err error) {
	if !voids {
		if heads, err = allIDs(q, `SELECT id FROM revisions WHERE id NOT IN (SELECT parent FROM parents) ORDER BY id`); err != nil {
			return nil, nil, err
		}
		pages, err = allIDs(q, `SELECT DISTINCT page FROM revisions ORDER BY page`)
		return heads, pages, err
	}
	all, err := allIDs(q, `SELECT DISTINCT page FROM revisions ORDER BY page`)
	if err != nil {
		return nil, nil, err
	}
	for _, page := range all {
		g, err := loadPageGraph(q, page)
		if err != nil {
			return nil, nil, err
		}
		hs := g.countingHeads()
		if len(hs) > 0 {
			pages = append(pages, page)
		}
		for _, h := range hs {
			heads = append(heads, h.id)
		}
	}
	slices.Sort(heads)
	return heads, pages, nil
}

// futureRevision reports a revision that advanced its page's clock to
// more than MaxClockDrift ahead of now: one a peer could still send
// before the drift rule existed (a store defers such revisions now).
// Every later edit of its page is dated after it, and last-writer-wins
// prefers it; it cannot be undone, only known.
func futureRevision(q querier, id int64, c cid.Cid, rev *Revision, now time.Time) (Problem, bool) {
	var parentsMax int64
	if rev.Page != nil && rev.Time > now.Add(MaxClockDrift).UnixMilli() {
		var m sql.NullInt64
		if err := q.QueryRow(`SELECT max(r.time) FROM parents p JOIN revisions r ON r.id = p.parent WHERE p.child = ?`, id).Scan(&m); err != nil {
			return Problem{}, false
		}
		parentsMax = m.Int64
	}
	if !aheadOfClock(rev, parentsMax, now) {
		return Problem{}, false
	}
	return Problem{Object: c.String(), Warning: true, What: fmt.Sprintf(
		"dated %s, %s ahead of this clock: stored before peerwiki deferred such revisions; later edits of its page are dated after it, and last-writer-wins prefers it",
		FormatTime(rev.Time), aheadBy(rev.Time, now))}, true
}

// subset reports whether every string of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// checkShallow checks the shallow rows (a parent named there must not be
// stored: it would have been linked, or its child found not to fit it,
// when it came) and says, as a warning, how much history is not here yet.
func checkShallow(q querier) []Problem {
	var probs []Problem
	var linked int
	if err := q.QueryRow(`SELECT count(*) FROM shallow s JOIN blocks b ON b.cid = s.parent JOIN revisions r ON r.id = b.id`).Scan(&linked); err != nil {
		return []Problem{{Object: "shallow", What: err.Error()}}
	}
	if linked > 0 {
		probs = append(probs, Problem{Object: "shallow", What: fmt.Sprintf("%d revisions are marked as lacking a parent that is stored", linked)})
	}
	pages, revs, err := shallowCounts(q)
	if err != nil {
		return append(probs, Problem{Object: "shallow", What: err.Error()})
	}
	if revs > 0 {
		probs = append(probs, Problem{Object: "history", Warning: true,
			What: fmt.Sprintf("the history of %d pages is not here yet (a shallow replica; 'peerwiki sync --unshallow' fetches it)", pages)})
	}
	return probs
}
