package history

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// Errors callers branch on.
var (
	ErrNotFound      = errors.New("not found")
	ErrMissingParent = errors.New("parent revision is not stored")
	// ErrForgedMerge marks an automatic merge revision that is not what
	// its parents and policy give (Options.VerifyAuto's verdict).
	ErrForgedMerge     = errors.New("forged automatic merge")
	ErrMissingBody     = errors.New("body block is not stored")
	ErrWrongWiki       = errors.New("revision belongs to another wiki")
	ErrCorruptDatabase = errors.New("database file is corrupt or not a peerwiki database")
)

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 3

// deltaMaxDepth bounds storage delta chains so a read never rebuilds more
// than this many versions of a body.
const deltaMaxDepth = 24

// Block storage encodings (blocks.enc).
const (
	encPlain     = 0
	encZstd      = 1
	encDeltaZstd = 2
	encDelta     = 3
)

const schema = `
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks(
	id    INTEGER PRIMARY KEY,
	cid   BLOB NOT NULL UNIQUE,
	enc   INTEGER NOT NULL,
	base  INTEGER,
	depth INTEGER NOT NULL,
	size  INTEGER NOT NULL,
	data  BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS revisions(
	id     INTEGER PRIMARY KEY,
	page   INTEGER NOT NULL,
	height INTEGER NOT NULL,
	time   INTEGER NOT NULL,
	body   INTEGER NOT NULL,
	auto   INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS revisions_page ON revisions(page, height);
CREATE TABLE IF NOT EXISTS parents(child INTEGER NOT NULL, parent INTEGER NOT NULL, PRIMARY KEY(child, parent)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS parents_parent ON parents(parent);
CREATE TABLE IF NOT EXISTS heads(rev INTEGER PRIMARY KEY, page INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS heads_page ON heads(page);
CREATE TABLE IF NOT EXISTS pages(
	id      INTEGER PRIMARY KEY,
	rev     INTEGER NOT NULL,
	title   TEXT NOT NULL,
	deleted INTEGER NOT NULL,
	policy  TEXT NOT NULL,
	heads   INTEGER NOT NULL,
	versions INTEGER NOT NULL DEFAULT 1,
	system  INTEGER NOT NULL,
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pages_title ON pages(title COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS links(src INTEGER NOT NULL, target TEXT NOT NULL, PRIMARY KEY(src, target)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_target ON links(target);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts4(title, body,
	tokenize=unicode61 "remove_diacritics=2", compress=pw_compress, uncompress=pw_uncompress);
`

var (
	// zenc compresses blocks and the search index's copy of page text.
	// The fastest level: on this history the repo is 1% larger than with
	// the default level, and a command's first use of the encoder (its
	// tables) costs 0.35 ms instead of 1.3, which was a tenth of an edit.
	zenc *zstd.Encoder
	zdec *zstd.Decoder
)

func init() {
	var err error
	if zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20)); err != nil {
		panic(err)
	}
	if zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxBodySize)); err != nil {
		panic(err)
	}
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error { return setUpConn(c, true) }})
	sql.Register(driverNameNoAutoCheckpoint, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error { return setUpConn(c, false) }})
}

const (
	driverName                 = "sqlite3_peerwiki"
	driverNameNoAutoCheckpoint = "sqlite3_peerwiki_bgcheckpoint"
)

// setUpConn prepares every connection SQLite opens for a Store.
func setUpConn(c *sqlite3.SQLiteConn, autoCheckpoint bool) error {
	// Keep the WAL file between processes: every CLI command would
	// otherwise create it anew (and fsync the directory) and delete it at
	// exit...
	if err := c.SetFileControlInt("main", sqlite3.SQLITE_FCNTL_PERSIST_WAL, 1); err != nil {
		return err
	}
	// ...but cut it back to 1 MiB after each checkpoint.
	if _, err := c.Exec("PRAGMA journal_size_limit = 1048576", nil); err != nil {
		return err
	}
	if !autoCheckpoint {
		if _, err := c.Exec("PRAGMA wal_autocheckpoint = 0", nil); err != nil {
			return err
		}
	}
	// The search index keeps its copy of page text compressed.
	if err := c.RegisterFunc("pw_compress", compressSearchText, true); err != nil {
		return err
	}
	return c.RegisterFunc("pw_uncompress", uncompressSearchText, true)
}

// searchS2 tags search-index text compressed with S2. The index's copy of
// a page is local (never replicated), so it need not use the blocks' zstd:
// a process's first zstd compression costs 0.2 ms (its tables), S2's
// 20 us, and an edit whose change is small compresses nothing else. S2
// leaves this history's text at 58% of its size, zstd at 46% (the repo
// grows by about 0.35 MB). Text stored before is zstd, told apart by the
// frame's magic number.
const searchS2 = 0x01

func compressSearchText(s string) []byte {
	return append([]byte{searchS2}, s2.Encode(nil, []byte(s))...)
}

func uncompressSearchText(b []byte) (string, error) {
	if len(b) > 0 && b[0] == searchS2 {
		out, err := s2.Decode(nil, b[1:])
		return string(out), err
	}
	out, err := zdec.DecodeAll(b, nil)
	return string(out), err
}

// Options configure a Store.
type Options struct {
	// Links extracts the link targets a body names, already normalised;
	// the store keeps them in step for backlinks. Nil: no links.
	Links func(body string) []string
	// VerifyAuto checks an unsigned automatic merge revision against the
	// store (by recomputing it). Nil: automatic merges are refused.
	VerifyAuto func(r Reader, c cid.Cid, rev *Revision) error
	// BackgroundCheckpoint is for long-lived processes (serve, the UI,
	// sync): commits no longer copy the WAL into the database themselves
	// (SQLite's auto-checkpoint, whose fsync once every thousand pages
	// delayed an edit arriving from a peer by tens of milliseconds); a
	// goroutine does it once writes pause, or every few seconds under a
	// steady stream of them.
	BackgroundCheckpoint bool
	// Now is the clock that received revisions are held against (see
	// MaxClockDrift). Nil: time.Now.
	Now func() time.Time
}

// now reads the store's clock.
func (s *Store) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// Store is a repo's SQLite database of blocks, revisions and indexes. It
// is safe for concurrent use, and several processes may open one file.
type Store struct {
	path  string
	db    *sql.DB
	q     cachedQuerier // db with the block cache
	wiki  string
	opts  Options
	cache *blockCache
	// deferred remembers what Put deferred, for the children that follow.
	deferred recentlyDeferred
	// stopCheckpoints ends the background checkpointer; nil without one.
	stopCheckpoints func()
}

// Open opens (creating if needed) the store at path for the given wiki.
// A new database records wikiID; an existing one must match it.
func Open(path, wikiID string, opts Options) (*Store, error) {
	// synchronous=FULL: a commit returns once its log frames are on disk.
	// The log is not copied into the database at every close (see
	// walclose.go), so NORMAL would leave commits undurable for long.
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_txlock=immediate&_synchronous=FULL&_stmt_cache_size=64"
	// Incremental auto-vacuum is a property of the file, fixed when it is
	// created (before WAL mode writes its first page); asking for it on
	// every connection cost an opening half a millisecond.
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		dsn += "&_auto_vacuum=incremental"
	}
	driver := driverName
	if opts.BackgroundCheckpoint {
		driver = driverNameNoAutoCheckpoint
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{path: path, db: db, wiki: wikiID, opts: opts, cache: newBlockCache(32 << 20)}
	s.q = cachedQuerier{querier: db, cache: s.cache}
	// SQLite answers "busy" without waiting in a few cases the busy timeout
	// does not cover, such as another process recovering the WAL index
	// after a crash: retry the opening a few times before giving up.
	for attempt := 0; ; attempt++ {
		err = s.init()
		if err == nil || !isBusy(err) || attempt == 8 {
			break
		}
		time.Sleep(time.Duration(25<<min(attempt, 4)) * time.Millisecond)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if opts.BackgroundCheckpoint {
		s.startCheckpointer()
	}
	return s, nil
}

// Timing of the background checkpointer: it looks at the commit counter
// every checkpointPoll and checkpoints once a poll finds no new commit, or
// after checkpointMaxDelay of continuous writing.
const (
	checkpointPoll     = 250 * time.Millisecond
	checkpointMaxDelay = 5 * time.Second
)

// startCheckpointer runs the background checkpointer until Close.
func (s *Store) startCheckpointer() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopCheckpoints = func() { cancel(); <-done }
	go func() {
		defer close(done)
		tick := time.NewTicker(checkpointPoll)
		defer tick.Stop()
		seen, _ := s.CommitCount(ctx)
		dirty, since := true, time.Now() // the WAL may hold others' commits
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cc, err := s.CommitCount(ctx)
			if err != nil {
				continue
			}
			if cc != seen {
				if !dirty {
					dirty, since = true, time.Now()
				}
				seen = cc
				if time.Since(since) < checkpointMaxDelay {
					continue // still writing
				}
			}
			if dirty {
				// PASSIVE: never waits for, nor blocks, readers and writers.
				if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err == nil {
					dirty = false
				}
			}
		}
	}()
}

// isBusy reports whether err is SQLite's "database is locked" or "busy".
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

func (s *Store) init() error {
	var version int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return classifyOpenError(err)
	}
	if version > schemaVersion {
		return fmt.Errorf("database schema %d is newer than this peerwiki (%d)", version, schemaVersion)
	}
	if version == 0 {
		tx, err := s.db.Begin()
		if err != nil {
			return classifyOpenError(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(schema); err != nil {
			return classifyOpenError(err)
		}
		// Merge search index segments as writes go, so updates do not pile up.
		if _, err := tx.Exec(`INSERT INTO search(search) VALUES('automerge=4')`); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT OR IGNORE INTO meta(key, value) VALUES('wiki', ?), ('commits', '0')`, s.wiki); err != nil {
			return err
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if version == 1 {
		if err := s.migrateVersions(); err != nil {
			return fmt.Errorf("upgrade the database to schema 2: %w", err)
		}
	}
	if version == 1 || version == 2 {
		if err := s.migratePolicies(); err != nil {
			return fmt.Errorf("upgrade the database to schema 3: %w", err)
		}
	}
	var wiki string
	if err := s.db.QueryRow(`SELECT value FROM meta WHERE key='wiki'`).Scan(&wiki); err != nil {
		return classifyOpenError(err)
	}
	if wiki != s.wiki {
		return fmt.Errorf("%w: database is of wiki %s, repo config says %s", ErrWrongWiki, wiki, s.wiki)
	}
	return nil
}

// migrateVersions upgrades schema 1, which did not count a page's distinct
// versions: it adds the column and counts them for pages with several heads.
func (s *Store) migrateVersions() error {
	tx, err := s.db.Begin()
	if err != nil {
		return classifyOpenError(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`ALTER TABLE pages ADD COLUMN versions INTEGER NOT NULL DEFAULT 1`); err != nil {
		return err
	}
	pages, err := allIDs(tx, `SELECT id FROM pages WHERE heads > 1`)
	if err != nil {
		return err
	}
	for _, page := range pages {
		p, err := computePageIndex(tx, page, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE pages SET versions = ? WHERE id = ?`, p.versions, page); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`PRAGMA user_version = 2`); err != nil {
		return err
	}
	return tx.Commit()
}

// migratePolicies upgrades schema 2, whose page index read a resolution
// pinned by an earlier version (see carriedPolicy) as the page's
// override: it re-reads the policy of every page the index says has one.
func (s *Store) migratePolicies() error {
	tx, err := s.db.Begin()
	if err != nil {
		return classifyOpenError(err)
	}
	defer tx.Rollback()
	pages, err := allIDs(tx, `SELECT id FROM pages WHERE policy != '' AND policy NOT LIKE '=%'`)
	if err != nil {
		return err
	}
	for _, page := range pages {
		p, err := computePageIndex(tx, page, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE pages SET policy = ? WHERE id = ?`, p.policy, page); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`PRAGMA user_version = 3`); err != nil {
		return err
	}
	return tx.Commit()
}

func classifyOpenError(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return ErrCorruptDatabase
	}
	return err
}

// Close closes the database. A write-ahead log grown past walKeepBytes is
// copied into the database and truncated first, unless another process is
// using it at that moment (then whoever closes later does it, and a
// running daemon checkpoints on its own).
func (s *Store) Close() error {
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
	}
	if st, err := os.Stat(s.path + "-wal"); err == nil && st.Size() > walKeepBytes {
		s.checkpointIdle()
	}
	return s.db.Close()
}

// checkpointIdle copies the log into the database and truncates it,
// without waiting for other processes: if they hold the database, it copies
// what it can and leaves the rest.
func (s *Store) checkpointIdle() {
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return
	}
	conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
}

// Wiki returns the wiki id the store belongs to.
func (s *Store) Wiki() string { return s.wiki }

// DB exposes the database handle to this package's tests and fsck.
func (s *Store) DB() *sql.DB { return s.db }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
	Exec(query string, args ...any) (sql.Result, error)
}

// CommitCount is a counter bumped by every write transaction; a daemon
// polls it to notice commits made by other processes.
func (s *Store) CommitCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key='commits'`).Scan(&n)
	return n, err
}

// blockID returns the row id of a stored block, or ErrNotFound.
func blockID(q querier, c cid.Cid) (int64, error) {
	var id int64
	err := q.QueryRow(`SELECT id FROM blocks WHERE cid = ?`, c.Bytes()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("block %s: %w", c, ErrNotFound)
	}
	return id, err
}

func blockCID(q querier, id int64) (cid.Cid, error) {
	var b []byte
	if err := q.QueryRow(`SELECT cid FROM blocks WHERE id = ?`, id).Scan(&b); err != nil {
		return cid.Undef, fmt.Errorf("block #%d: %w", id, err)
	}
	return cid.Cast(b)
}

// readBlockByID returns a stored block's bytes, undoing compression and
// storage deltas. Through a cachedQuerier it remembers decoded blocks by
// CID: content addressing means a cached entry can never go stale, even
// across a rolled-back transaction.
func readBlockByID(q querier, id int64) ([]byte, error) {
	var cb []byte
	var enc, depth int
	var base sql.NullInt64
	var data []byte
	if err := q.QueryRow(`SELECT cid, enc, base, depth, data FROM blocks WHERE id = ?`, id).Scan(&cb, &enc, &base, &depth, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("block #%d: %w", id, ErrNotFound)
		}
		return nil, err
	}
	cache := cacheOf(q)
	if enc == encPlain {
		return data, nil
	}
	if b, ok := cache.get(string(cb)); ok {
		return b, nil
	}
	b, err := decodeStored(q, enc, base, depth, data)
	if err == nil {
		cache.put(string(cb), b)
	}
	return b, err
}

func decodeStored(q querier, enc int, base sql.NullInt64, depth int, data []byte) ([]byte, error) {
	switch enc {
	case encPlain:
		return data, nil
	case encZstd:
		return zdec.DecodeAll(data, nil)
	case encDeltaZstd, encDelta:
		if !base.Valid || depth > deltaMaxDepth {
			return nil, errBadDelta
		}
		baseData, err := readChain(q, base.Int64)
		if err != nil {
			return nil, err
		}
		return undelta(zdec, enc, baseData, data)
	}
	return nil, fmt.Errorf("unknown block encoding %d", enc)
}

// chainQuery yields a block's row and then the rows of its delta bases,
// nearest first (a recursive query emits its rows in that order), so a
// reader can stop at the first one it has already decoded.
const chainQuery = `WITH RECURSIVE chain(id, cid, enc, base, depth, data, n) AS (
	SELECT id, cid, enc, base, depth, data, 0 FROM blocks WHERE id = ?
	UNION ALL
	SELECT b.id, b.cid, b.enc, b.base, b.depth, b.data, c.n + 1 FROM blocks b JOIN chain c ON b.id = c.base
		WHERE c.enc IN (2, 3) AND c.n <= 25)
SELECT cid, enc, base, depth, data FROM chain`

// readChain is readBlockByID in one query for a whole delta chain: reading
// the latest version of a page took one query a version back to the last
// whole one (up to deltaMaxDepth), which was most of reading a page.
func readChain(q querier, id int64) ([]byte, error) {
	rows, err := q.Query(chainQuery, id)
	if err != nil {
		return nil, err
	}
	type link struct {
		cid   []byte
		enc   int
		data  []byte
		depth int
	}
	var chain []link
	var data []byte
	found := false
	cache := cacheOf(q)
	for rows.Next() {
		var l link
		var base sql.NullInt64
		if err := rows.Scan(&l.cid, &l.enc, &base, &l.depth, &l.data); err != nil {
			rows.Close()
			return nil, err
		}
		if l.enc != encPlain {
			if b, ok := cache.get(string(l.cid)); ok {
				data, found = b, true
				break
			}
		}
		if !isDeltaEnc(l.enc) {
			if data, err = decodeStored(q, l.enc, base, l.depth, l.data); err != nil {
				rows.Close()
				return nil, err
			}
			if l.enc != encPlain {
				cache.put(string(l.cid), data)
			}
			found = true
			break
		}
		if !base.Valid || l.depth > deltaMaxDepth || len(chain) > deltaMaxDepth {
			rows.Close()
			return nil, errBadDelta
		}
		chain = append(chain, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		if len(chain) == 0 {
			return nil, fmt.Errorf("block #%d: %w", id, ErrNotFound)
		}
		return nil, errBadDelta // the chain ends in a base that is not stored
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if data, err = undelta(zdec, chain[i].enc, data, chain[i].data); err != nil {
			return nil, err
		}
		cache.put(string(chain[i].cid), data)
	}
	return data, nil
}

// encodeStored picks the smallest storage form of data, as a delta
// against base when one is given. Revision blocks (compress false) are
// mostly CIDs and a signature, which zstd cannot shrink; they are stored
// plain or as a plain delta against the parent revision.
func encodeStored(data []byte, base []byte, hasBase, compress bool) (enc int, stored []byte) {
	return encodeStoredWith(zenc, data, base, hasBase, compress)
}

// zencParallel is zenc for several goroutines at once (zenc has one
// encoder, which its callers take in turn); made on first use.
var zencParallel = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
	if err != nil {
		panic(err)
	}
	return e
})

// encodeStoredWith is encodeStored with a given zstd encoder.
func encodeStoredWith(zenc *zstd.Encoder, data []byte, base []byte, hasBase, compress bool) (enc int, stored []byte) {
	enc, stored = encPlain, data
	if hasBase {
		d := makeDelta(base, data)
		if compress && len(d) >= 64 {
			if z := zenc.EncodeAll(d, nil); len(z) < len(d) {
				if len(z) < len(stored) {
					enc, stored = encDeltaZstd, z
				}
			} else if len(d) < len(stored) {
				enc, stored = encDelta, d
			}
		} else if len(d) < len(stored) {
			enc, stored = encDelta, d
		}
		// A delta well under a quarter of the block will not be beaten by
		// compressing the whole block: skip that work.
		if enc != encPlain && len(stored)*4 < len(data) {
			return enc, stored
		}
	}
	if compress && len(data) >= 64 {
		if z := zenc.EncodeAll(data, nil); len(z) < len(stored) {
			enc, stored = encZstd, z
		}
	}
	return enc, stored
}

// Has reports whether a block is stored.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	_, err := blockID(s.db, c)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Get returns a stored block's bytes.
func (s *Store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return getBlock(s.q, c)
}

func getBlock(q querier, c cid.Cid) ([]byte, error) {
	if o := overlayOf(q); o != nil {
		if data, ok := o.blocks[c]; ok {
			return data, nil
		}
	}
	cache := cacheOf(q)
	if b, ok := cache.get(c.KeyString()); ok {
		return b, nil
	}
	var enc, depth int
	var base sql.NullInt64
	var data []byte
	if err := q.QueryRow(`SELECT enc, base, depth, data FROM blocks WHERE cid = ?`, c.Bytes()).Scan(&enc, &base, &depth, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("block %s: %w", c, ErrNotFound)
		}
		return nil, err
	}
	if enc == encPlain {
		return data, nil
	}
	b, err := decodeStored(q, enc, base, depth, data)
	if err == nil {
		cache.put(c.KeyString(), b)
	}
	return b, err
}

// Revision returns a stored revision.
func (s *Store) Revision(ctx context.Context, c cid.Cid) (*Revision, error) {
	return getRevision(s.q, c)
}

func getRevision(q querier, c cid.Cid) (*Revision, error) {
	if c.Prefix().Codec != CodecDagCBOR {
		return nil, fmt.Errorf("revision %s: %w", c, ErrNotFound)
	}
	if r, ok := overlayRevision(q, c); ok {
		return r, nil
	}
	data, err := getBlock(q, c)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", c, err)
	}
	r, err := DecodeRevision(data)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", c, err)
	}
	return r, nil
}

// Body returns the text a body root CID addresses.
func (s *Store) Body(ctx context.Context, root cid.Cid) (string, error) {
	return getBody(s.q, root)
}

func getBody(q querier, root cid.Cid) (string, error) {
	data, err := getBlock(q, root)
	if err != nil {
		return "", fmt.Errorf("body %s: %w", root, err)
	}
	if root.Prefix().Codec == CodecRaw {
		return string(data), nil
	}
	l, err := decodeChunkList(data)
	if err != nil {
		return "", err
	}
	return joinChunks(l, func(c cid.Cid) ([]byte, error) { return getBlock(q, c) })
}

// Reader is the read view handed to Options.VerifyAuto: it sees the blocks
// of the transaction in progress.
type Reader interface {
	// Revision returns a stored revision.
	Revision(c cid.Cid) (*Revision, error)
	// Body returns the text a body root addresses.
	Body(root cid.Cid) (string, error)
	// MergeBase returns the deterministic merge base of two revisions.
	MergeBase(a, b cid.Cid) (cid.Cid, error)
	// PageDAG returns every revision of a page with its parents.
	PageDAG(page cid.Cid) (map[cid.Cid]*DAGNode, error)
	// CarriedPolicy returns the policy override a revision carries.
	CarriedPolicy(c cid.Cid) (string, error)
}

type txReader struct{ q querier }

func (r txReader) Revision(c cid.Cid) (*Revision, error) { return getRevision(r.q, c) }
func (r txReader) Body(c cid.Cid) (string, error)        { return getBody(r.q, c) }
func (r txReader) MergeBase(a, b cid.Cid) (cid.Cid, error) {
	return mergeBase(r.q, a, b)
}

// Reader returns a read view of the committed store.
func (s *Store) Reader() Reader { return txReader{s.q} }

// connTx is a transaction on one connection, and a querier for it,
// begun with SQL rather than BeginTx. database/sql ties a Tx to a context
// of its own, and then gives every query inside it a goroutine that
// watches that context: a dozen goroutines, each a wake-up of another
// thread, in a local edit's write transaction.
type connTx struct {
	ctx  context.Context // for the queries
	conn *sql.Conn
}

// beginRead opens a read transaction on conn; end closes it. A plain
// BEGIN is deferred: BeginTx would send the DSN's BEGIN IMMEDIATE (right
// for writes), which takes the write lock, so every local write would wait
// for a long read such as a sync being served. Its queries follow ctx.
func beginRead(ctx context.Context, conn *sql.Conn) (*connTx, error) {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	return &connTx{ctx, conn}, nil
}

// beginWrite opens a write transaction on conn; commit or end closes it.
// Waiting for the write lock follows ctx; once it is held, the
// transaction (one batch: milliseconds, a few hundred at most) runs to
// its end and the caller sees a cancellation after it.
func beginWrite(ctx context.Context, conn *sql.Conn) (*connTx, error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, err
	}
	return &connTx{context.Background(), conn}, nil
}

func (t *connTx) QueryRow(query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(t.ctx, query, args...)
}

func (t *connTx) Query(query string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(t.ctx, query, args...)
}

func (t *connTx) Exec(query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(t.ctx, query, args...)
}

// commit commits the transaction.
func (t *connTx) commit() error {
	if _, err := t.conn.ExecContext(context.Background(), "COMMIT"); err != nil {
		return err
	}
	t.conn = nil
	return nil
}

// end rolls the transaction back unless it was committed; a connection
// it cannot end is discarded, not returned to the pool inside a
// transaction.
func (t *connTx) end() {
	if t.conn == nil {
		return
	}
	if _, err := t.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	t.conn = nil
}
