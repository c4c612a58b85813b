package history_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

func TestPutAndReadBack(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	g := b.Put(cid.Undef, "Café notes", "first line\n")
	r2 := b.Put(g, "Café notes", "first line\nsecond line\n", g)
	p, err := s.Page(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "Café notes" || p.Heads != 1 || !p.Rev.Equals(r2) {
		t.Fatalf("page row = %+v", p)
	}
	rev, err := s.Revision(ctx, r2)
	if err != nil {
		t.Fatal(err)
	}
	body, err := s.Body(ctx, rev.Body.Cid)
	if err != nil || body != "first line\nsecond line\n" {
		t.Fatalf("body = %q, %v", body, err)
	}
	hits, err := s.Search(ctx, "cafe", 10)
	if err != nil || len(hits) != 1 {
		t.Fatalf("search cafe = %v, %v", hits, err)
	}
	hits, err = s.Search(ctx, "second", 10)
	if err != nil || len(hits) != 1 {
		t.Fatalf("search second = %v, %v", hits, err)
	}
	probs, err := s.Fsck(ctx, nil)
	if err != nil || len(probs) != 0 {
		t.Fatalf("fsck = %v, %v", probs, err)
	}
}

func TestMissingParentRefused(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	g := b.Put(cid.Undef, "A", "a\n")
	// Build a child in another store so its parent is unknown here.
	other := historytest.NewStore(t, history.Options{})
	ob := historytest.NewBuilder(t, other)
	og := ob.Put(cid.Undef, "B", "b\n")
	o1 := ob.Put(og, "B", "bb\n", og)
	child, bodies := ob.Make(og, "B", "bbb\n", o1)
	// Of a page not here: refused, but from a sync it waits (a shallow
	// replica sends such pages, not knowing that we lack them; see
	// shallow.go).
	if _, err := s.Put(ctx, append(bodies, child)); !errors.Is(err, history.ErrMissingParent) {
		t.Fatalf("err = %v, want ErrMissingParent", err)
	}
	res, err := putWaiting(ctx, s, append(bodies, child))
	if err != nil || len(res.Deferred) != 1 || !errors.Is(res.Deferred[0].Err, history.ErrShallow) {
		t.Fatalf("a revision of a page not here, without its parent, from a sync: %+v, %v", res, err)
	}
	if ok, _ := s.Has(ctx, child.Cid); ok {
		t.Fatal("child stored despite missing parent")
	}
	// Of a page here: refused.
	gb, err := other.Get(ctx, og)
	if err != nil {
		t.Fatal(err)
	}
	gbodies, _ := history.BodyBlocks("b\n")
	if _, err := s.Put(ctx, append(gbodies, history.Block{Cid: og, Data: gb})); err != nil {
		t.Fatal(err)
	}
	_, err = putWaiting(ctx, s, append(bodies, child))
	if !errors.Is(err, history.ErrMissingParent) {
		t.Fatalf("err = %v, want ErrMissingParent", err)
	}
	if ok, _ := s.Has(ctx, child.Cid); ok {
		t.Fatal("child stored despite missing parent")
	}
	_ = g
}

func TestLargeBodyDeltaAndChunks(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	var sb strings.Builder
	for i := 0; sb.Len() < 600<<10; i++ {
		sb.WriteString("line ")
		sb.WriteString(strings.Repeat(string(rune('a'+i%26)), i%40))
		sb.WriteString("\n")
	}
	big := sb.String()
	g := b.Put(cid.Undef, "Big", big)
	edited := big[:300000] + "inserted\n" + big[300000:]
	r := b.Put(g, "Big", edited, g)
	rev, _ := s.Revision(ctx, r)
	got, err := s.Body(ctx, rev.Body.Cid)
	if err != nil || got != edited {
		t.Fatalf("chunked body round trip failed: %v", err)
	}
	probs, err := s.Fsck(ctx, nil)
	if err != nil || len(probs) != 0 {
		t.Fatalf("fsck = %v, %v", probs, err)
	}
}

// A database of schema 1 (before pages counted their distinct versions)
// is upgraded when opened: heads that agree are one version, heads that
// differ a conflict, and fsck agrees.
func TestUpgradeFromSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	s, err := history.Open(path, historytest.WikiID, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := historytest.NewBuilder(t, s)
	agree := b.Put(cid.Undef, "Agree", "0\n")
	b.Put(agree, "Agree", "x\n", agree)
	b.Put(agree, "Agree", "x\n", agree)
	differ := b.Put(cid.Undef, "Differ", "0\n")
	b.Put(differ, "Differ", "x\n", differ)
	b.Put(differ, "Differ", "y\n", differ)
	undoSchema4(t, s)
	execAll(t, s, `ALTER TABLE pages DROP COLUMN versions`, `PRAGMA user_version = 1`)
	s.Close()
	if s, err = history.Open(path, historytest.WikiID, history.Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conflicted, err := s.Conflicted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicted) != 1 || !conflicted[0].ID.Equals(differ) || conflicted[0].Heads != 2 || conflicted[0].Versions != 2 {
		t.Fatalf("conflicted after the upgrade = %+v, want only Differ", conflicted)
	}
	if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck after the upgrade: %v %v", probs, err)
	}
}

// With BackgroundCheckpoint, commits leave their pages in the WAL (no
// commit pays for a checkpoint), and the store copies them into the
// database file shortly after the writes stop.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	s, err := history.Open(path, historytest.WikiID, history.Options{BackgroundCheckpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.DB().QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "P", "0\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		b.Put(page, "P", randomBody(rng, 100), page) // ~5 KB
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() < before+200<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (%d before the writes): nothing checkpointed", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Once the background checkpointer has copied the whole write-ahead log
// into the database, it starts the log over itself: the next commit (a
// revision received from a peer, on its way to being read) appends to a
// log that is already started, rather than writing the log's header and
// waiting for the disk to have it.
func TestCheckpointerRestartsTheLog(t *testing.T) {
	s := historytest.NewStore(t, history.Options{BackgroundCheckpoint: true})
	// The hook brackets the restart (a node's log watcher ignores what
	// the store writes between the two calls).
	var mu sync.Mutex
	var begun, done int
	var doneSalt [8]byte
	s.SetBackgroundWriteHook(func() func() {
		mu.Lock()
		begun++
		mu.Unlock()
		return func() {
			mu.Lock()
			defer mu.Unlock()
			done++
			doneSalt = walSalt(t, s)
		}
	})
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "P", "0\n")
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		b.Put(page, "P", randomBody(rng, 20), page)
	}
	salt := walSalt(t, s)
	if frames, _ := walFrames(t, s); frames == 0 {
		t.Fatal("the writes left no frames in the log")
	}
	deadline := time.Now().Add(10 * time.Second)
	for walSalt(t, s) == salt {
		if time.Now().After(deadline) {
			frames, copied := walFrames(t, s)
			t.Fatalf("log not restarted 10 s after the writes (%d frames, %d copied)", frames, copied)
		}
		time.Sleep(50 * time.Millisecond)
	}
	salt = walSalt(t, s)
	if frames, _ := walFrames(t, s); frames != 1 {
		t.Fatalf("the restarted log holds %d frames, want the checkpointer's 1", frames)
	}
	for finished := false; !finished; {
		mu.Lock()
		finished = done > 0
		mu.Unlock()
		if !finished && time.Now().After(deadline) {
			t.Fatal("the hook's done was not called")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if begun != 1 || done != 1 || doneSalt != salt {
		t.Errorf("hook: %d begun, %d done (want 1, 1), the log restarted before done: %v", begun, done, doneSalt == salt)
	}
	mu.Unlock()
	b.Put(page, "P", randomBody(rng, 20), page)
	if frames, _ := walFrames(t, s); walSalt(t, s) != salt || frames < 2 {
		t.Fatalf("the next write restarted the log again or wrote nothing (%d frames)", frames)
	}
}

// Closing leaves a small write-ahead log as it is (the next process reads
// it; copying it into the database at every close cost an edit 2 ms), and
// copies a large one into the database and empties it, unless a node
// runs on the file. Commits are durable on their own: synchronous=FULL.
func TestCloseKeepsOnlyASmallLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	open := func() *history.Store {
		t.Helper()
		s, err := history.Open(path, historytest.WikiID, history.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	walSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	s := open()
	var sync int
	if err := s.DB().QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "P", "0\n")
	s.Close()
	if n := walSize(); n == 0 || n > 512<<10 {
		t.Fatalf("log after a small commit: %d bytes, want it kept (0 < n <= 512 KiB)", n)
	}
	s = open()
	if _, err := s.Heads(ctx, page); err != nil {
		t.Fatalf("the page written before closing: %v", err)
	}
	b = historytest.NewBuilder(t, s)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 15 {
		b.Put(page, "P", randomBody(rng, 1000), page) // ~50 KB
	}
	s.Close()
	if n := walSize(); n != 0 {
		t.Fatalf("log after 750 KB of commits: %d bytes, want it copied and emptied", n)
	}
	// Next to a node, which checkpoints in the background, a large log is
	// left to it.
	s = open()
	s.LeaveCheckpoints()
	b = historytest.NewBuilder(t, s)
	for range 15 {
		b.Put(page, "P", randomBody(rng, 1000), page)
	}
	s.Close()
	if n := walSize(); n <= 512<<10 {
		t.Fatalf("log after 750 KB of commits next to a node: %d bytes, want it left as it was", n)
	}
	s = open()
	defer s.Close()
	if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck = %v, %v", probs, err)
	}
}

// PutSignedHere checks everything Put does except signatures: an unsigned
// revision is still refused, a CID that does not match its bytes too.
func TestPutSignedHere(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	blk, bodies := b.Make(cid.Undef, "P", "body\n")
	if _, err := s.PutSignedHere(ctx, append(bodies, blk)); err != nil {
		t.Fatal(err)
	}
	rev, err := history.DecodeRevision(blk.Data)
	if err != nil {
		t.Fatal(err)
	}
	rev.Sig = nil
	unsigned, err := rev.Block()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSignedHere(ctx, []history.Block{unsigned}); !errors.Is(err, history.ErrUnsigned) {
		t.Fatalf("unsigned revision: err = %v, want ErrUnsigned", err)
	}
	bad := history.Block{Cid: blk.Cid, Data: append([]byte(nil), unsigned.Data...)}
	if _, err := s.PutSignedHere(ctx, []history.Block{bad}); err == nil {
		t.Fatal("a block whose bytes do not match its CID was stored")
	}
}

// A long history in one batch, as a fresh replica receives it: the
// encodings Check works out in parallel read back exactly, as deltas.
func TestBatchOfALongHistory(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	body := strings.Repeat("a line of the page that stays as it was\n", 60)
	g := b.Put(cid.Undef, "P", body)
	prev, want := g, map[cid.Cid]string{g: body}
	for i := range 150 {
		body += fmt.Sprintf("line %d added\n", i)
		prev = b.Put(g, "P", body, prev)
		want[prev] = body
	}
	plan, err := src.PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var batch []history.Block
	if err := src.SendPlan(ctx, plan, func(bl history.Block) error { batch = append(batch, bl); return nil }); err != nil {
		t.Fatal(err)
	}
	dst := historytest.NewStore(t, history.Options{})
	if _, err := dst.Put(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for c, body := range want {
		rev, err := dst.Revision(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dst.Body(ctx, rev.Body.Cid)
		if err != nil || got != body {
			t.Fatalf("revision %s reads back %d bytes (%v), want %d", c, len(got), err, len(body))
		}
	}
	var deltas int
	if err := dst.DB().QueryRow(`SELECT count(*) FROM blocks WHERE base IS NOT NULL`).Scan(&deltas); err != nil || deltas < 250 {
		t.Fatalf("%d blocks stored as deltas (%v), want nearly all of 300 bodies and revisions", deltas, err)
	}
	if probs, err := dst.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck: %v %v", probs, err)
	}
}

// randomBody is lines of random hex: text that neither compresses nor
// makes a useful delta, so every version costs its full size in the WAL.
func randomBody(rng *rand.Rand, lines int) string {
	var body strings.Builder
	for range lines {
		fmt.Fprintf(&body, "%016x %016x %016x\n", rng.Uint64(), rng.Uint64(), rng.Uint64())
	}
	return body.String()
}
