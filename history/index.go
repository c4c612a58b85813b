package history

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// compact keeps the file small without a manual step: a batch that
// brought at least half as many pages as the wiki then has merges the
// search index into one segment, and once free pages pass a margin the
// free list goes back to the file system, vacuumStep pages a write, a
// step every vacuumAgain, starting at most once every vacuumEvery. A sync stores batch
// after batch: merging after every large one rewrote the whole index each
// time (about 47 s of a 114 s join of 100,000 pages), and vacuuming after
// every one moved pages the next batch would have reused (34 s of 175);
// a sync that brought much merges once at its end, as a batched import
// does. Failures only cost disk space or search speed.
func (s *Store) compact(ctx context.Context, pages int) {
	var all int
	if pages >= 200 && s.db.QueryRowContext(ctx, `SELECT count(*) FROM pages`).Scan(&all) == nil && 2*pages >= all {
		s.MergeSearchIndex(ctx)
	}
	now := time.Now().UnixNano()
	if next := s.nextVacuum.Load(); now < next {
		return
	}
	// Reading the free list cost every write about 20 us (of about 600 in
	// SQLite for an edit a node receives): look once every freeCheckEvery.
	if last := s.lastFreeCheck.Load(); last != 0 && now-last < int64(freeCheckEvery) {
		return
	}
	s.lastFreeCheck.Store(now)
	var free, total int
	if s.db.QueryRowContext(ctx, `SELECT f.freelist_count, p.page_count FROM pragma_freelist_count() f, pragma_page_count() p`).Scan(&free, &total) != nil {
		return
	}
	// Past the margin, the free list goes back whole, a step at a time:
	// given back at once, the 30,000 free pages a 100,000-page import
	// leaves took 1.4 s of the first write after it (a joiner's
	// redemption at the serve), about 30 us a page moved.
	if s.vacuuming.Load() || (free > 256 && free*8 > total) {
		// The pragma frees one page per step: read it to the end.
		if rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumStep)); err == nil {
			for rows.Next() {
			}
			rows.Close()
		}
		more := free > vacuumStep
		s.vacuuming.Store(more)
		wait := vacuumEvery
		if more {
			wait = vacuumAgain
		}
		s.nextVacuum.Store(time.Now().Add(wait).UnixNano())
	}
}

// vacuumEvery is how often compact starts giving free pages back at the
// most, vacuumStep how many pages one write gives back (about 30 ms
// here), vacuumAgain how soon a write gives back the next step, and
// freeCheckEvery how often compact looks whether to.
const (
	vacuumEvery    = 30 * time.Second
	vacuumStep     = 1024
	vacuumAgain    = time.Second
	freeCheckEvery = time.Second
)

// MergeSearchIndex merges the search index into one segment. FTS4 merges
// segments a little at each write; a few large transactions (a fresh
// replica's sync) leave more than that keeps up with, and the next small
// write then pays for a large merge: in a mesh of ten serves copied from
// one clone, the second edit reached every replica 40-60 ms late while
// each merged. Callers that stored much in few transactions call this
// at the end; failures only cost search speed. It is a write like any
// other: it waits its turn, and a writer of this process waits for it by
// the write slot's handover rather than by polling SQLite's lock.
func (s *Store) MergeSearchIndex(ctx context.Context) {
	_ = s.uncountedWrite(ctx, func(tx *connTx) error {
		_, err := tx.Exec(`INSERT INTO search(search) VALUES('optimize')`)
		return err
	})
}

// headInfo is a page head with the fields the page index needs.
type headInfo struct {
	id  int64
	cid cid.Cid
	rev *Revision
}

// sortHeads orders heads deterministically, the latest (time, CID) first:
// lists show the first one's title; a conflicted page still shows every head elsewhere.
func sortHeads(hs []headInfo) {
	sort.Slice(hs, func(i, j int) bool {
		if hs[i].rev.Time != hs[j].rev.Time {
			return hs[i].rev.Time > hs[j].rev.Time
		}
		return hs[i].cid.KeyString() > hs[j].cid.KeyString()
	})
}

// loadHeads returns a page's first MaxPageHeads heads in sortHeads order
// and how many it has: a page that took more before the cap existed is
// indexed from its latest heads, at a cost bounded by the cap.
func loadHeads(q querier, page int64) ([]headInfo, int, error) {
	var total int
	if err := q.QueryRow(`SELECT count(*) FROM heads WHERE page = ?`, page).Scan(&total); err != nil {
		return nil, 0, err
	}
	hs, err := latestHeads(q, page)
	return hs, total, err
}

func latestHeads(q querier, page int64) ([]headInfo, error) {
	rows, err := q.Query(`SELECT b.id, b.cid FROM heads h JOIN blocks b ON b.id = h.rev JOIN revisions r ON r.id = h.rev
		WHERE h.page = ? ORDER BY r.time DESC, b.cid DESC LIMIT ?`, page, MaxPageHeads)
	if err != nil {
		return nil, err
	}
	var hs []headInfo
	for rows.Next() {
		var h headInfo
		var cb []byte
		if err := rows.Scan(&h.id, &cb); err != nil {
			rows.Close()
			return nil, err
		}
		if h.cid, err = cid.Cast(cb); err != nil {
			rows.Close()
			return nil, err
		}
		hs = append(hs, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range hs {
		if r, ok := overlayRevision(q, hs[i].cid); ok {
			hs[i].rev = r
			continue
		}
		data, err := readBlockByID(q, hs[i].id)
		if err != nil {
			return nil, err
		}
		if hs[i].rev, err = DecodeRevision(data); err != nil {
			return nil, err
		}
	}
	sortHeads(hs)
	return hs, nil
}

// pageIndex is what the pages, search and links tables hold for a page;
// it is a pure function of the page's heads.
type pageIndex struct {
	rev     int64
	cid     cid.Cid // the page's
	revCID  cid.Cid // rev's
	title   string
	deleted bool
	policy  string
	system  bool
	heads   int
	// versions counts the distinct (title, body, deleted) among the heads:
	// heads that agree are one version, not a conflict.
	versions int
	created  int64
	updated  int64
	text     string // bodies of all heads, for search (maxSearchText)
	textCut  bool   // text holds less than every head's body
	titles   string // titles of all heads, for search
	links    []string
	headCIDs []cid.Cid
}

func computePageIndex(q querier, page int64, linksOf func(string) []string) (*pageIndex, error) {
	hs, total, err := loadHeads(q, page)
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("page #%d has no heads", page)
	}
	created, genesisAuto, err := genesisInfo(q, page)
	if err != nil {
		return nil, err
	}
	return pageIndexOf(q, hs, total, created, genesisAuto, linksOf)
}

// pageIndexOf is computePageIndex once the page's heads are known: hs, its
// first MaxPageHeads in sortHeads order, total, how many it has, and its
// genesis's time and whether that is unsigned.
func pageIndexOf(q querier, hs []headInfo, total int, created int64, genesisAuto bool, linksOf func(string) []string) (*pageIndex, error) {
	var err error
	p := &pageIndex{rev: hs[0].id, cid: hs[0].cid, revCID: hs[0].cid, title: hs[0].rev.Title, deleted: hs[0].rev.Deleted,
		heads: total, created: created, updated: hs[0].rev.Time}
	if hs[0].rev.Page != nil {
		p.cid = hs[0].rev.Page.Cid
	}
	// The page's policy override is the one its heads carry; heads that
	// disagree leave it unset here (the merge layer decides what that means).
	memo := map[cid.Cid]string{}
	if p.policy, err = carriedPolicy(q, hs[0].cid, memo); err != nil {
		return nil, err
	}
	// A page whose genesis is unsigned is the wiki's own (settings), not a
	// person's: lists and search leave it out.
	p.system = genesisAuto
	type version struct {
		title   string
		body    cid.Cid
		deleted bool
	}
	versions := map[version]bool{}
	for _, h := range hs {
		versions[version{h.rev.Title, h.rev.Body.Cid, h.rev.Deleted}] = true
	}
	p.versions = len(versions)
	for _, h := range hs {
		p.headCIDs = append(p.headCIDs, h.cid)
		if hp, err := carriedPolicy(q, h.cid, memo); err != nil {
			return nil, err
		} else if hp != p.policy {
			p.policy = ""
		}
	}
	links := map[string]bool{}
	if p.titles, p.text, p.textCut, err = headsText(q, hs, p.versions, func(body string) {
		if linksOf != nil {
			for _, l := range linksOf(body) {
				links[l] = true
			}
		}
	}); err != nil {
		return nil, err
	}
	for l := range links {
		p.links = append(p.links, l)
	}
	sort.Strings(p.links)
	return p, nil
}

// headsText is what the search index holds of a page whose heads are hs
// (of versions distinct versions): the heads' titles, and their bodies up
// to maxSearchText (cut reports that something was left out); each body
// read is handed to body as well (for its links).
func headsText(q querier, hs []headInfo, versions int, body func(string)) (titles, text string, cut bool, err error) {
	seenBody := map[cid.Cid]bool{}
	seenTitle := map[string]bool{}
	// Parts joined at the end: most pages have one head, whose title and
	// body are then the text as they are, without a copy.
	var tis, parts []string
	size := 0
	for _, h := range hs {
		if !seenTitle[h.rev.Title] {
			seenTitle[h.rev.Title] = true
			tis = append(tis, h.rev.Title)
		}
		if h.rev.Deleted && versions == 1 {
			continue
		}
		if seenBody[h.rev.Body.Cid] {
			continue
		}
		seenBody[h.rev.Body.Cid] = true
		b, bodyCut, err := getBodyPrefix(q, h.rev.Body.Cid, maxSearchText)
		if err != nil {
			return "", "", false, err
		}
		cut = cut || bodyCut
		if room := maxSearchText - size; room > 0 {
			if len(parts) > 0 {
				size++ // the newline before it
			}
			part := prefixUTF8(b, room)
			parts = append(parts, part)
			size += len(part)
			cut = cut || len(part) < len(b)
		} else {
			cut = true
		}
		body(b)
	}
	return strings.Join(tis, "\n"), strings.Join(parts, "\n"), cut, nil
}

// maxSearchText bounds what the index reads of a page: the first MiB of
// each version's body for links, and of its versions together for the
// search index. SQLite's full-text index of one 35 MB body took 30 s and
// 800 MB inside the write transaction, and reading the whole body again
// for its links held the transaction a second; a wiki page is rarely a
// thousandth of that, and its title is always indexed.
const maxSearchText = 1 << 20

// getBodyPrefix returns at most the first n bytes of a body (cut at a
// character boundary), reading only the chunks it needs, and whether it
// left anything out.
func getBodyPrefix(q querier, root cid.Cid, n int) (string, bool, error) {
	data, err := getBlock(q, root)
	if err != nil {
		return "", false, fmt.Errorf("body %s: %w", root, err)
	}
	if root.Prefix().Codec == CodecRaw {
		s := prefixUTF8(string(data), n)
		return s, len(s) < len(data), nil
	}
	l, err := decodeChunkList(data)
	if err != nil {
		return "", false, err
	}
	var sb strings.Builder
	for _, c := range l.Chunks {
		if sb.Len() > n {
			break
		}
		b, err := getBlock(q, c.Cid)
		if err != nil {
			return "", false, err
		}
		sb.Write(b)
	}
	s := prefixUTF8(sb.String(), n)
	return s, uint64(len(s)) < l.Size, nil
}

// prefixUTF8 is at most n bytes of s, cut at a character boundary.
func prefixUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// refreshPage rewrites a page's rows in pages, search and links from its
// heads, and reports whether its heads differ (a conflict). With
// searchLater its search row is left for IndexPending (searchlater.go).
func refreshPage(q querier, page int64, linksOf func(string) []string, searchLater bool) (bool, error) {
	p, err := computePageIndex(q, page, linksOf)
	if err != nil {
		return false, err
	}
	return p.versions > 1, writePageIndex(q, page, p, searchLater)
}

// writePageIndex replaces a page's rows in pages, search and links with
// p; with searchLater, it lists the page in unindexed instead of
// replacing its search row.
func writePageIndex(q querier, page int64, p *pageIndex, searchLater bool) error {
	// An upsert, not INSERT OR REPLACE: REPLACE of a new row cost about
	// 80 us here (against 6), a tenth of a fresh replica's writer. The
	// title is set apart, and only when it changed: naming it in the
	// upsert rewrote its index entry, a page of the log, at every edit.
	key := TitleOrderKey(p.title) // the list's order (listorder.go)
	if _, err := q.Exec(`INSERT INTO pages(id, rev, title, deleted, policy, heads, versions, system, created, updated, cid, revcid, okey) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET rev = excluded.rev, deleted = excluded.deleted, policy = excluded.policy,
		heads = excluded.heads, versions = excluded.versions, system = excluded.system, created = excluded.created, updated = excluded.updated,
		cid = excluded.cid, revcid = excluded.revcid`,
		page, p.rev, p.title, p.deleted, p.policy, p.heads, p.versions, p.system, p.created, p.updated,
		p.cid.Bytes(), p.revCID.Bytes(), key); err != nil {
		return err
	}
	if _, err := q.Exec(`UPDATE pages SET title = ?, okey = ? WHERE id = ? AND (title IS NOT ? COLLATE BINARY OR okey IS NOT ?)`, p.title, key, page, p.title, key); err != nil {
		return err
	}
	if searchLater {
		if _, err := q.Exec(`INSERT OR IGNORE INTO unindexed(page) VALUES(?)`, page); err != nil {
			return err
		}
	} else if err := writeSearchRow(q, page, p); err != nil {
		return err
	}
	if _, err := q.Exec(`DELETE FROM links WHERE src = ?`, page); err != nil {
		return err
	}
	for _, l := range p.links {
		if _, err := q.Exec(`INSERT INTO links(src, target) VALUES(?, ?)`, page, l); err != nil {
			return err
		}
	}
	return nil
}

// writeSearchRow replaces a page's row in the search index with p's.
func writeSearchRow(q querier, page int64, p *pageIndex) error {
	if _, err := q.Exec(`DELETE FROM search WHERE docid = ?`, page); err != nil {
		return err
	}
	if p.searchable() {
		if _, err := q.Exec(`INSERT INTO search(docid, title, body) VALUES(?, ?, ?)`, page, p.titles, p.text); err != nil {
			return err
		}
	}
	return nil
}

// searchable says whether a page belongs in the search index.
func (p *pageIndex) searchable() bool { return !p.system && !(p.deleted && p.versions == 1) }
