package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/klauspost/compress/s2"
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
	// ErrNotMember marks a revision deferred because Options.Admit
	// refused its author (see NotMemberError).
	ErrNotMember = errors.New("author is not a member of the wiki")
)

// schemaVersion is stored in PRAGMA user_version. 6 added the page list's
// columns (listorder.go).
const schemaVersion = 6

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
	auto   INTEGER NOT NULL,
	author INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS revisions_page ON revisions(page, height);
` + authorsSchema + `
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
	updated INTEGER NOT NULL,
	cid     BLOB,
	revcid  BLOB,
	okey    BLOB);
CREATE INDEX IF NOT EXISTS pages_title ON pages(title COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS links(src INTEGER NOT NULL, target TEXT NOT NULL, PRIMARY KEY(src, target)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_target ON links(target);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts4(title, body,
	tokenize=unicode61 "remove_diacritics=2", compress=pw_compress, uncompress=pw_uncompress);
`

func init() {
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
	// Pages sort by title in SQL (titleorder.go), so that lists stream.
	if err := c.RegisterFunc("pw_title_key", TitleOrderKey, true); err != nil {
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
	// Upgrading, when set, is told before Open upgrades the database to
	// this binary's schema in a way that rewrites every page's row
	// (seconds at 100,000 pages, once), for the person waiting.
	Upgrading func(note string)
	// Now is the clock that received revisions are held against (see
	// MaxClockDrift). Nil: time.Now.
	Now func() time.Time
	// Counts says whether a signed revision counts; one that does not is
	// stored void (see void.go). It is called once for each new signed
	// revision a Put stores (local writes included), and by Revoid; it
	// must be a function of replicated data, so that every replica that
	// holds the same revisions voids the same ones. Nil: all count.
	Counts func(c cid.Cid, r *Revision) bool
	// Admit says whether a signed revision received from elsewhere may be
	// stored now; an error defers it (PutResult.Deferred, a
	// NotMemberError) with its descendants in the batch. Not called for
	// PutSignedHere. Nil: all are admitted.
	Admit func(r *Revision) error
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
	// authors caches the row ids of the authors table (see authorRows).
	authors authorRows
	// lazy tracks received batches committed without an fsync (durable.go).
	lazy lazyWrites
	// recent holds the local commits TakeLocalCommits returns.
	recent recentLocal
	// nextVacuum is when compact may give free pages back next (unix
	// ns), and vacuuming says it is part way through the free list.
	nextVacuum atomic.Int64
	vacuuming  atomic.Bool
	// lastFreeCheck is when compact last read the free list (unix ns).
	lastFreeCheck atomic.Int64
	// nodeCheckpoints: a node on the file checkpoints it (LeaveCheckpoints).
	nodeCheckpoints atomic.Bool
	// backgroundWrite brackets the store's own background writes
	// (SetBackgroundWriteHook); nil when unset.
	backgroundWrite atomic.Pointer[func() func()]
	// uncounted counts this process's commits that wrote the log without
	// moving the commit counter (search rows, whole copies: nothing
	// replicated changed), for the background checkpointer.
	uncounted atomic.Int64
	// search is what the store knows of search rows left for later
	// (searchlater.go).
	search searchState
	// waiting counts this process's writers in the waiting room (a
	// writer that found the database busy) or waiting for the write slot,
	// for writers that hold the lock by choice to let them in soon
	// (indexSome).
	waiting atomic.Int32
	// writeSlot is held by this process's writer in its transaction
	// (turns.go: takeWriteSlot).
	writeSlot chan struct{}
	// filter answers "is this block stored" for a sync's writer while
	// this process's commits are the only ones (blockfilter.go).
	filter blockFilter
}

// Open opens (creating if needed) the store at path for the given wiki.
// A new database records wikiID; an existing one must match it.
func Open(path, wikiID string, opts Options) (*Store, error) {
	// synchronous=FULL: a commit returns once its log frames are on disk.
	// The log is not copied into the database at every close (see
	// walclose.go), so NORMAL would leave commits undurable for long.
	dsn := "file:" + path + fmt.Sprintf("?_journal_mode=WAL&_busy_timeout=%d&_txlock=immediate&_synchronous=FULL&_stmt_cache_size=64", busyTimeout.Milliseconds())
	// Incremental auto-vacuum is a property of the file, fixed when it is
	// created (before WAL mode writes its first page); asking for it on
	// every connection cost an opening half a millisecond.
	fresh := false
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		fresh = true
	}
	driver := driverName
	if opts.BackgroundCheckpoint {
		driver = driverNameNoAutoCheckpoint
	}
	createDSN := dsn
	if fresh {
		createDSN += "&_auto_vacuum=incremental"
	}
	db, err := sql.Open(driver, createDSN)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{path: path, db: db, wiki: wikiID, opts: opts, cache: newBlockCache(32 << 20), writeSlot: make(chan struct{}, 1)}
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
	if fresh {
		// The file is made: the store's connections must not ask for
		// auto-vacuum again. One that asks while another connection holds
		// the write lock waits for the lock: a read begun during a write
		// (a Put's callback reading the store) waited out the busy timeout.
		db.Close()
		if db, err = sql.Open(driver, dsn); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		s.db, s.q.querier = db, db
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
		seenUncounted := s.uncounted.Load()
		dirty, since := true, time.Now() // the WAL may hold others' commits
		lazySince := time.Now()          // when received batches last were all on disk
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if s.lazy.pending.Load() && time.Since(lazySince) >= receivedSyncDelay-checkpointPoll {
				s.SyncReceived()
			}
			if !s.lazy.pending.Load() {
				lazySince = time.Now()
			}
			cc, err := s.CommitCount(ctx)
			if err != nil {
				continue
			}
			// Writes that count no commit are writes too: a serve's first
			// pass of whole copies and the search rows of a fresh import
			// (hundreds of MB at 100,000 pages) stayed in the log until the next
			// counted commit, a joiner's redemption, and were then copied
			// into the database while the serve answered the join.
			if uc := s.uncounted.Load(); cc != seen || uc != seenUncounted {
				if !dirty {
					dirty, since = true, time.Now()
				}
				seen, seenUncounted = cc, uc
				if time.Since(since) < checkpointMaxDelay {
					continue // still writing
				}
			}
			if dirty {
				// PASSIVE: never waits for, nor blocks, readers and writers.
				var busy, frames, copied int
				if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err == nil {
					dirty = false
					if busy == 0 && frames > 0 && copied == frames {
						s.restartLog(ctx)
					}
				}
			}
		}
	}()
}

// restartLog starts the write-ahead log over, once a checkpoint has
// copied all of it into the database, with a write that changes nothing.
// The first commit into a restarted log writes the log's header and waits
// for the disk to have it (SQLite syncs the header even at
// synchronous=NORMAL: frames written after it out of order could corrupt
// the database). Left to the next write, that fsync fell on an edit's
// way: a revision received from a peer right after a checkpoint committed
// in 3.5-6.6 ms instead of about 0.2 (issue 14), and a command's edit
// paid a second fsync. Here it is paid off anybody's way; a writer that
// holds the lock now restarts the log itself, as before.
func (s *Store) restartLog(ctx context.Context) {
	if h := s.backgroundWrite.Load(); h != nil {
		done := (*h)()
		defer done()
	}
	conn, release, err := s.impatientConn(ctx)
	if err != nil {
		return
	}
	defer release()
	if beginLazy(ctx, conn) != nil { // the frame itself need not wait for the disk
		return
	}
	defer endLazy(conn)
	slot, ok := s.tryWriteSlot()
	if !ok {
		return // a writer of this process: it restarts the log
	}
	tx, err := beginWrite(ctx, conn)
	if err != nil {
		slot()
		return // busy: that writer restarts the log
	}
	tx.release = slot
	defer tx.end()
	// A write of page 1 that changes nothing: the user version as it is
	// (SQLite writes no page whose rows an UPDATE leaves as they were).
	var version int
	if tx.QueryRow(`PRAGMA user_version`).Scan(&version) != nil {
		return
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, version)); err == nil {
		tx.commit()
	}
}

// SetBackgroundWriteHook has f called before each write the store makes
// on its own (the checkpointer's restart of the log, restartLog), and the
// function f returns after it: a node keeps its watcher of the log quiet
// for them, as for its own stores. A nil f removes the hook.
func (s *Store) SetBackgroundWriteHook(f func() (done func())) {
	if f == nil {
		s.backgroundWrite.Store(nil)
		return
	}
	s.backgroundWrite.Store(&f)
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
	if version > shallowSchemaVersion {
		return fmt.Errorf("database schema %d is newer than this peerwiki (%d)", version, shallowSchemaVersion)
	}
	if version == 0 {
		tx, err := s.db.Begin()
		if err != nil {
			return classifyOpenError(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(schema + shallowSchema + unindexedSchema + wholeCopySchema); err != nil {
			return classifyOpenError(err)
		}
		// Merge search index segments as writes go, so updates do not pile up.
		if _, err := tx.Exec(`INSERT INTO search(search) VALUES('automerge=4')`); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT OR IGNORE INTO meta(key, value) VALUES('wiki', ?), ('commits', '0'), ('listed', '0'), ('titlekeys', ?)`, s.wiki, titleKeysVersion); err != nil {
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
	if version >= 1 && version <= 3 {
		if err := s.migrateAuthors(); err != nil {
			return fmt.Errorf("upgrade the database to schema 4: %w", err)
		}
	}
	if version >= 1 {
		if err := s.ensureLaterTables(); err != nil {
			return classifyOpenError(err)
		}
	}
	if version >= 1 && version < schemaVersion {
		if s.opts.Upgrading != nil {
			s.opts.Upgrading(fmt.Sprintf("upgrading the repo's database from schema %d to %d, once (a few seconds for a large wiki); older peerwiki versions cannot open it afterwards", version, schemaVersion))
		}
		if err := s.migrateListOrder(); err != nil {
			return fmt.Errorf("upgrade the database to schema %d: %w", schemaVersion, err)
		}
	} else if err := s.checkListColumns(); err != nil {
		return classifyOpenError(err)
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
	return s.migrate(2, `ALTER TABLE pages ADD COLUMN versions INTEGER NOT NULL DEFAULT 1`,
		`SELECT id FROM pages WHERE heads > 1`, `UPDATE pages SET versions = ? WHERE id = ?`,
		func(p *pageIndex) any { return p.versions })
}

// migratePolicies upgrades schema 2, whose page index read a resolution
// pinned by an earlier version (see carriedPolicy) as the page's
// override: it re-reads the policy of every page the index says has one.
func (s *Store) migratePolicies() error {
	return s.migrate(3, ``, `SELECT id FROM pages WHERE policy != '' AND policy NOT LIKE '=%'`,
		`UPDATE pages SET policy = ? WHERE id = ?`, func(p *pageIndex) any { return p.policy })
}

// migrate upgrades the schema to version in one transaction: it runs
// alter (if any), then recomputes the index of the pages selected and
// writes value of it back with update.
func (s *Store) migrate(version int, alter, selectPages, update string, value func(*pageIndex) any) error {
	tx, err := s.db.Begin()
	if err != nil {
		return classifyOpenError(err)
	}
	defer tx.Rollback()
	if alter != "" {
		if _, err := tx.Exec(alter); err != nil {
			return err
		}
	}
	pages, err := allIDs(tx, selectPages)
	if err != nil {
		return err
	}
	for _, page := range pages {
		p, err := computePageIndex(tx, page, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(update, value(p), page); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
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
	s.SyncReceived()
	if s.nodeCheckpoints.Load() {
		return s.db.Close()
	}
	if st, err := os.Stat(s.path + "-wal"); err == nil && st.Size() > walKeepBytes {
		s.checkpointIdle()
	}
	return s.db.Close()
}

// LeaveCheckpoints makes Close leave the write-ahead log as it is, and
// the process's commits too, for a process that runs next to a node on
// the same file: the node's background checkpointer copies the log into
// the database once writing pauses. (A command's own checkpoint at exit,
// a copy and two fsyncs every few edits, ran while the node was sending
// the command's commit to its peers; and SQLite's automatic checkpoint at
// a commit, while a node had just filled the log writing a joined wiki's
// search index, made an `edit` of 0.4-0.6 s instead of 20 ms.)
func (s *Store) LeaveCheckpoints() { s.nodeCheckpoints.Store(true) }

// checkpointIdle copies the log into the database and truncates it,
// without waiting for other processes: if they hold the database, it copies
// what it can and leaves the rest.
func (s *Store) checkpointIdle() {
	ctx := context.Background()
	conn, release, err := s.impatientConn(ctx)
	if err != nil {
		return
	}
	defer release()
	conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
}

// impatientConn takes a connection that does not wait for the lock
// (busy_timeout 0); release gives it back as it was.
func (s *Store) impatientConn(ctx context.Context) (*sql.Conn, func(), error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, pragmaNoWait); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, func() {
		conn.ExecContext(context.Background(), pragmaWait)
		conn.Close()
	}, nil
}

// Wiki returns the wiki id the store belongs to.
func (s *Store) Wiki() string { return s.wiki }

// Path is the database file's path (its write-ahead log is Path()+"-wal").
func (s *Store) Path() string { return s.path }

// DB exposes the database handle to this package's tests and fsck.
func (s *Store) DB() *sql.DB { return s.db }

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

// KeepReaders keeps up to n idle database connections open, for a
// long-lived process that reads from several goroutines at once (a node:
// syncs, gossip, the commit watcher): reopening one on a hot path costs a
// schema read.
func (s *Store) KeepReaders(n int) { s.db.SetMaxIdleConns(n) }
