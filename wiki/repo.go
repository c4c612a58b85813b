package wiki

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// Errors callers branch on.
var (
	ErrNotInitialised = errors.New("not a peerwiki repo")
	ErrAlreadyInit    = errors.New("repo is already initialised")
	ErrNotFound       = errors.New("no such page")
	ErrAmbiguous      = errors.New("ambiguous")
	ErrConflict       = errors.New("page has several heads")
	ErrNoChange       = errors.New("nothing to change")
	ErrInvalid        = errors.New("invalid input")
)

// File names inside a repo directory.
const (
	ConfigFile   = "config.json"
	IdentityFile = "identity.key"
	KeyFile      = "wiki.key"
	DBFile       = "peerwiki.db"
)

// Config is the repo's config.json.
type Config struct {
	Version int    `json:"version"`
	Wiki    string `json:"wiki"`
	Name    string `json:"name"`
}

// Repo is an opened peerwiki repository.
type Repo struct {
	Dir    string
	Config Config
	store  *history.Store
	ID     *history.Identity
	// Now is the wall clock; tests replace it.
	Now func() time.Time
	// Logger receives what this replica's resolvers did (a long-lived
	// process such as serve sets it); nil logs nothing.
	Logger *slog.Logger

	// settingsCache is the settings page, parsed, for the heads it was
	// read from: an edit reads it to stamp the wiki's policy and again
	// for the confirmation default.
	// members is the member list the store's hooks consult.
	members *memberCache
	// voidWrites counts this process's writes stored void (VoidWrites).
	voidWrites atomic.Int64

	settingsCache struct {
		sync.Mutex
		heads  []cid.Cid
		values map[string]string
	}
}

// DefaultDir is $PEERWIKI_REPO, else $XDG_DATA_HOME/peerwiki, else
// ~/.local/share/peerwiki.
func DefaultDir() string {
	if d := os.Getenv("PEERWIKI_REPO"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "peerwiki")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".", ".peerwiki")
	}
	return filepath.Join(home, ".local", "share", "peerwiki")
}

// DefaultName is the display name a new repo gets without --name.
func DefaultName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			return u.Username + "@" + h
		}
		return u.Username
	}
	return "anonymous"
}

// Initialised reports whether dir holds a repo.
func Initialised(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ConfigFile))
	return err == nil
}

// NewWikiID returns a fresh random wiki id (26 base32 characters).
func NewWikiID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// NewKey returns a fresh 32-byte pre-shared wiki key.
func NewKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

// Init creates a new wiki in dir: identity, wiki id, database, and the
// member list, founded by this replica (its first admin). The wiki id is
// bound to the founder (FoundedWikiID).
func Init(dir, name string) (*Repo, error) {
	id, err := history.NewIdentity()
	if err != nil {
		return nil, err
	}
	nonce := newNonce()
	r, err := initRepo(dir, name, FoundedWikiID(id.ID, nonce), nil, id)
	if err != nil {
		return nil, err
	}
	if err := r.found(context.Background(), nonce); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// InitReplica makes a repo in dir for a replica of the wiki with the given
// id. key is the pre-shared key of a wiki made before membership (kept for
// its upgrade); nil for others.
func InitReplica(dir, name, wikiID string, key []byte) (*Repo, error) {
	id, err := history.NewIdentity()
	if err != nil {
		return nil, err
	}
	return initRepo(dir, name, wikiID, key, id)
}

func initRepo(dir, name, wikiID string, key []byte, id *history.Identity) (*Repo, error) {
	if Initialised(dir) {
		return nil, fmt.Errorf("%w: %s", ErrAlreadyInit, dir)
	}
	if key != nil && len(key) != 32 {
		return nil, fmt.Errorf("%w: wiki key must be 32 bytes", ErrInvalid)
	}
	if name = strings.TrimSpace(name); name == "" {
		name = DefaultName()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create repo: %w", err)
	}
	if err := id.Save(filepath.Join(dir, IdentityFile)); err != nil {
		return nil, err
	}
	if key != nil {
		if err := writeSecret(filepath.Join(dir, KeyFile), []byte(hex.EncodeToString(key)+"\n")); err != nil {
			return nil, err
		}
	}
	cfg := Config{Version: 1, Wiki: wikiID, Name: name}
	mc := &memberCache{self: id.ID}
	store, err := history.Open(filepath.Join(dir, DBFile), wikiID, storeOptions(mc))
	if err != nil {
		return nil, err
	}
	r := &Repo{Dir: dir, Config: cfg, store: store, ID: id, Now: time.Now, members: mc}
	ctx := context.Background()
	if err := r.ensureSettings(ctx); err != nil {
		store.Close()
		return nil, err
	}
	if err := r.ensureMembersPage(ctx); err != nil {
		store.Close()
		return nil, err
	}
	if _, err := r.Members(ctx); err != nil {
		store.Close()
		return nil, err
	}
	// config.json is written last: its presence marks a complete repo.
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), append(b, '\n'), 0o600); err != nil {
		store.Close()
		return nil, fmt.Errorf("create repo: %w", err)
	}
	return r, nil
}

func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Open opens an existing repo.
func Open(dir string) (*Repo, error) { return OpenWith(dir, OpenOptions{}) }

// OpenOptions tune how a repo is opened.
type OpenOptions struct {
	// LongLived is for processes that keep the repo open (serve, the UI,
	// sync): the database is checkpointed in the background rather than
	// by whichever commit fills the WAL (history.Options.BackgroundCheckpoint).
	LongLived bool
	// Upgrading is history.Options.Upgrading: told before the database is
	// upgraded to this binary's schema in a way that takes a while.
	Upgrading func(note string)
}

// OpenWith opens an existing repo with options.
func OpenWith(dir string, o OpenOptions) (*Repo, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (run 'peerwiki init' first)", ErrNotInitialised, dir)
	} else if err != nil {
		return nil, fmt.Errorf("open repo: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Wiki == "" {
		return nil, fmt.Errorf("open repo: %s is corrupt", filepath.Join(dir, ConfigFile))
	}
	id, err := history.LoadIdentity(filepath.Join(dir, IdentityFile))
	if err != nil {
		return nil, err
	}
	mc := &memberCache{self: id.ID}
	opts := storeOptions(mc)
	opts.BackgroundCheckpoint = o.LongLived
	opts.Upgrading = o.Upgrading
	store, err := history.Open(filepath.Join(dir, DBFile), cfg.Wiki, opts)
	if err != nil {
		return nil, err
	}
	r := &Repo{Dir: dir, Config: cfg, store: store, ID: id, Now: time.Now, members: mc}
	// The member list is read before anything is stored: the store's
	// hooks consult it.
	if _, err := r.Members(context.Background()); err != nil {
		store.Close()
		return nil, err
	}
	return r, nil
}

// Close closes the database.
func (r *Repo) Close() error { return r.store.Close() }

// NodeRunsHere tells the repo that a node runs on it (a command next to a
// serve or the UI): the node keeps the database's write-ahead log in
// check, and Close leaves it alone.
func (r *Repo) NodeRunsHere() { r.store.LeaveCheckpoints() }

// Key reads the wiki's 32-byte pre-shared key.
func (r *Repo) Key() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(r.Dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("read wiki key: %w", err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("wiki key %s is corrupt", filepath.Join(r.Dir, KeyFile))
	}
	return k, nil
}

// storeOptions wires wiki semantics into the store: link syntax, and the
// recomputation that checks automatic merges.
func storeOptions(mc *memberCache) history.Options {
	return history.Options{Links: LinkTargets, VerifyAuto: verifyAuto, Counts: mc.counts, Admit: mc.admit}
}

// Status summarises the repo.
type Status struct {
	Wiki            string   `json:"wiki"`
	PeerID          string   `json:"peer_id"`
	Name            string   `json:"name"`
	Pages           int      `json:"pages"`
	Revisions       int      `json:"revisions"`
	Conflicts       []string `json:"conflicts"`
	DuplicateTitles []string `json:"duplicate_titles"`
}

// Status counts pages and revisions and lists conflicts and duplicate titles.
func (r *Repo) Status(ctx context.Context) (*Status, error) {
	st, err := r.store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	dups, err := r.store.DuplicateTitles(ctx)
	if err != nil {
		return nil, err
	}
	out := &Status{Wiki: r.Config.Wiki, PeerID: r.ID.ID.String(), Name: r.Config.Name,
		Pages: st.Pages, Revisions: st.Revisions, Conflicts: []string{}, DuplicateTitles: []string{}}
	for _, c := range st.Conflicts {
		out.Conflicts = append(out.Conflicts, c.String())
	}
	out.DuplicateTitles = append(out.DuplicateTitles, dups...)
	return out, nil
}

// ReplicationStore is the history store behind the repo, for the
// replication node alone (p2p.Config.store): the node moves blocks
// between replicas, so it must see the store itself. Everything else
// reads and writes the wiki through the repo's methods.
func (r *Repo) ReplicationStore() *history.Store { return r.store }

// Page reads the page with this id: its title, latest revision, whether
// it is deleted or in conflict (history.ErrNotFound when there is none).
func (r *Repo) Page(ctx context.Context, page cid.Cid) (history.PageRow, error) {
	return r.store.Page(ctx, page)
}

// Pages are every page's row, deleted ones too, by title (SQLite's
// NOCASE order): the cheap listing, for completion. List says more of
// each page, and orders them as people read.
func (r *Repo) Pages(ctx context.Context) ([]history.PageRow, error) {
	return r.store.Pages(ctx)
}

// Heads are the page's latest revisions: one, or several while the page
// is in conflict (or while heads that agree wait to be joined).
func (r *Repo) Heads(ctx context.Context, page cid.Cid) ([]cid.Cid, error) {
	return r.store.Heads(ctx, page)
}

// Revision reads one revision (its parents, author, time and title)
// without its body; RevisionVersion reads the body too.
func (r *Repo) Revision(ctx context.Context, c cid.Cid) (*history.Revision, error) {
	return r.store.Revision(ctx, c)
}

// IsAncestor reports whether revision a is in the history of revision b.
func (r *Repo) IsAncestor(ctx context.Context, a, b cid.Cid) (bool, error) {
	return r.store.IsAncestor(ctx, a, b)
}

// Search finds pages by their text (a full-text query), the most recently
// changed first, at most limit of them. Pages a sync left out of the
// search index for later (history.IndexPending) are indexed first, so
// that no search misses one: progress, if not nil, hears how that goes.
func (r *Repo) Search(ctx context.Context, query string, limit int) ([]history.SearchHit, error) {
	return r.SearchWithProgress(ctx, query, limit, nil)
}

// SearchWithProgress is Search, with progress called as pages left for
// later are indexed (done, total).
func (r *Repo) SearchWithProgress(ctx context.Context, query string, limit int, progress func(done, total int)) ([]history.SearchHit, error) {
	if _, err := r.store.IndexPending(ctx, progress); err != nil {
		return nil, err
	}
	return r.store.Search(ctx, query, limit)
}

// ConflictedPages are the pages in conflict, by title.
func (r *Repo) ConflictedPages(ctx context.Context) ([]history.PageRow, error) {
	return r.store.Conflicted(ctx)
}

// ChangeCount is a number that moves with every write to the repo, by
// this process, another command or a peer's sync: a UI polls it to know
// when to read the wiki again.
func (r *Repo) ChangeCount(ctx context.Context) (int64, error) {
	return r.store.CommitCount(ctx)
}

// Fsck checks the whole repo as 'peerwiki fsck' does: every block, its
// CID and signature, and the indexes rebuilt from the revisions and
// compared. progress, when not nil, hears how far the blocks are.
func (r *Repo) Fsck(ctx context.Context, progress func(done, total int)) ([]history.Problem, error) {
	return r.store.Fsck(ctx, progress)
}

// Totals counts what the repo holds: blocks, revisions and pages, with
// the wiki's own pages, the deleted ones and the void revisions among them.
func (r *Repo) Totals(ctx context.Context) (history.Totals, error) {
	return r.store.Totals(ctx)
}
