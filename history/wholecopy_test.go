package history_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// encZstd is the storage encoding of a block sent whole as a zstd frame.
const encZstd = 1

// sendShallow sends a shallow plan of the whole store packed, and
// returns what went out and the blocks the receiver rebuilds from it.
func sendShallow(t *testing.T, s *history.Store) ([]history.Packed, []history.Block) {
	t.Helper()
	ctx := context.Background()
	plan, err := s.PlanShallow(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	sent := sendPacked(t, s, plan)
	u := history.NewUnpacker()
	blocks := make([]history.Block, len(sent))
	for i, p := range sent {
		b, err := u.Unpack(p)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if err := b.Verify(); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		blocks[i] = b
	}
	return sent, blocks
}

func countZstd(sent []history.Packed) int {
	n := 0
	for _, p := range sent {
		if p.Enc == encZstd {
			n++
		}
	}
	return n
}

// A store of pages whose current versions are deltas of their parents'
// bodies keeps a whole copy of each once asked, sends a shallow plan with
// the copies (the same blocks, now as zstd frames the receiver stores as
// they come), follows the current versions as they change, drops every
// copy when the store is small enough to be sent whole, and ignores a
// copy that names another block.
func TestWholeCopies(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	base := strings.Repeat("a line of text that stays the same across versions\n", 40)
	const pages = 700 // over one read-ahead run of the send
	firsts := make([]cid.Cid, pages)
	heads := make([]cid.Cid, pages)
	var middles []cid.Cid // what a replica one version behind holds
	for i := range pages {
		page := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), base+fmt.Sprintf("genesis %d\n", i))
		head := page
		for v := range 2 {
			head = b.Put(page, fmt.Sprintf("Page %d", i), base+fmt.Sprintf("version %d of page %d\n", v, i), head)
			if v == 0 {
				middles = append(middles, head)
			}
		}
		firsts[i], heads[i] = page, head
	}
	behind := func() []history.Packed {
		plan, err := s.PlanSync(ctx, middles)
		if err != nil {
			t.Fatal(err)
		}
		return sendPacked(t, s, plan)
	}
	behindBefore := behind()
	before, beforeBlocks := sendShallow(t, s)

	res, err := s.KeepWholeCopies(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != pages || res.Dropped != 0 || res.Kept != 0 {
		t.Fatalf("first pass: %+v, want %d added", res, pages)
	}
	through := res.Through
	if res, err := s.KeepWholeCopies(ctx, 0, 0); err != nil || res != (history.WholeCopies{Kept: pages, Through: through}) {
		t.Fatalf("second pass: %+v, %v; want all kept", res, err)
	}
	after, afterBlocks := sendShallow(t, s)
	if len(after) != len(before) {
		t.Fatalf("%d blocks sent with copies, %d without", len(after), len(before))
	}
	for i := range afterBlocks {
		if afterBlocks[i].Cid != beforeBlocks[i].Cid || !bytes.Equal(afterBlocks[i].Data, beforeBlocks[i].Data) {
			t.Fatalf("block %d differs: %s against %s", i, afterBlocks[i].Cid, beforeBlocks[i].Cid)
		}
	}
	if got, was := countZstd(after), countZstd(before); got != was+pages {
		t.Fatalf("%d blocks sent as zstd with copies, %d without: want %d more", got, was, pages)
	}
	if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck with copies: %v %v", probs, err)
	}
	// A sync to a replica one version behind: the current versions'
	// bases (the versions it holds) are not in the stream, so they went
	// rebuilt, and go as their copies now; the same blocks arrive.
	behindAfter := behind()
	if len(behindAfter) != len(behindBefore) || countZstd(behindAfter) != countZstd(behindBefore)+pages {
		t.Fatalf("one version behind: %d blocks (%d zstd) with copies, %d (%d) without",
			len(behindAfter), countZstd(behindAfter), len(behindBefore), countZstd(behindBefore))
	}
	ua, ub := history.NewUnpacker(), history.NewUnpacker()
	for i := range behindAfter {
		x, errA := ua.Unpack(behindAfter[i])
		y, errB := ub.Unpack(behindBefore[i])
		if errA != nil || errB != nil || x.Cid != y.Cid || !bytes.Equal(x.Data, y.Data) || x.Verify() != nil {
			t.Fatalf("one version behind, block %d: %v %v", i, errA, errB)
		}
	}

	// An edit: the page's new current version gets a copy, the old one's
	// goes.
	// A pass that looks only at what came since the last one does the
	// same as a whole pass, which then finds nothing to do.
	heads[0] = b.Put(firsts[0], "Page 0", base+"version 3 of page 0\n", heads[0])
	res, err = s.KeepWholeCopies(ctx, 0, through)
	if err != nil || res.Added != 1 || res.Dropped != 1 || res.Through <= through {
		t.Fatalf("after an edit, since the last pass: %+v, %v", res, err)
	}
	if res, err := s.KeepWholeCopies(ctx, 0, 0); err != nil || res.Added+res.Dropped != 0 || res.Kept != pages {
		t.Fatalf("a whole pass after it: %+v, %v", res, err)
	}
	heads[1] = b.Put(firsts[1], "Page 1", base+"version 3 of page 1\n", heads[1])
	if res, err := s.KeepWholeCopies(ctx, 0, 0); err != nil || res.Added != 1 || res.Dropped != 1 || res.Kept != pages-1 {
		t.Fatalf("after an edit, a whole pass: %+v, %v", res, err)
	}

	// A copy that names another block's CID is not sent; one whose bytes
	// are wrong is found by fsck and removed.
	db := s.DB()
	if _, err := db.Exec(`UPDATE wholecopy SET cid = (SELECT cid FROM blocks WHERE id = 1) WHERE id = (SELECT max(id) FROM wholecopy)`); err != nil {
		t.Fatal(err)
	}
	mixed, _ := sendShallow(t, s)
	if got, was := countZstd(mixed), countZstd(before); got != was+pages-1 {
		t.Fatalf("%d blocks sent as zstd with a copy naming another block: want %d", got, was+pages-1)
	}
	if _, err := db.Exec(`UPDATE wholecopy SET data = (SELECT data FROM wholecopy WHERE id = (SELECT max(id) FROM wholecopy)) WHERE id = (SELECT min(id) FROM wholecopy)`); err != nil {
		t.Fatal(err)
	}
	probs, err := s.Fsck(ctx, nil)
	if err != nil || len(probs) != 2 {
		t.Fatalf("fsck with two bad copies: %v %v", probs, err)
	}
	for _, p := range probs {
		if !strings.Contains(p.What, "whole copy") || p.Warning {
			t.Fatalf("fsck: %s", p)
		}
	}
	if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck after removing them: %v %v", probs, err)
	}
	if res, err := s.KeepWholeCopies(ctx, 0, 0); err != nil || res.Added != 2 || res.Kept != pages-2 {
		t.Fatalf("the pass after fsck: %+v, %v", res, err)
	}

	// A store a join is sent whole keeps no copies.
	if res, err := s.KeepWholeCopies(ctx, 10*pages, 0); err != nil || res.Dropped != pages || res.Added+res.Kept != 0 {
		t.Fatalf("a small store: %+v, %v", res, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM wholecopy`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d copies left, %v", n, err)
	}
}

// A pass cut short leaves what it wrote, and the next one goes on.
func TestWholeCopiesCutShort(t *testing.T) {
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	base := strings.Repeat("the same line again and again, with a number: ", 60)
	for i := range 600 {
		page := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), base+"0")
		b.Put(page, fmt.Sprintf("Page %d", i), base+fmt.Sprint(i+1), page)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.KeepWholeCopies(ctx, 0, 0); err == nil {
		t.Fatal("a cancelled pass did not say so")
	}
	res, err := s.KeepWholeCopies(context.Background(), 0, 0)
	if err != nil || res.Added+res.Kept != 600 {
		t.Fatalf("%+v, %v", res, err)
	}
}

// walFrames returns how many frames s's log holds and how many of them a
// checkpoint copied into the database, as the wal-index's header says
// (SQLite's WAL format: mxFrame at byte 16, nBackfill at byte 96, in the
// machine's byte order).
func walFrames(t *testing.T, s *history.Store) (frames, backfilled uint32) {
	t.Helper()
	shm, err := os.ReadFile(s.Path() + "-shm")
	if err != nil || len(shm) < 100 {
		t.Fatalf("wal-index: %v", err)
	}
	return binary.LittleEndian.Uint32(shm[16:]), binary.LittleEndian.Uint32(shm[96:])
}

// walSalt is the salt of the write-ahead log's current run, from the
// wal-index: it changes when the log starts over.
func walSalt(t *testing.T, s *history.Store) (salt [8]byte) {
	t.Helper()
	shm, err := os.ReadFile(s.Path() + "-shm")
	if err != nil || len(shm) < 100 {
		t.Fatalf("wal-index: %v", err)
	}
	copy(salt[:], shm[32:40])
	return salt
}

// A process next to a node (LeaveCheckpoints) leaves the log to the
// node's checkpointer at its commits too, not only when it closes: an
// edit next to a serve that had just filled the log (a joined wiki's
// search index) took 0.4-0.6 s, SQLite's own checkpoint at its commit.
func TestCommitsNextToANodeLeaveTheLog(t *testing.T) {
	s := historytest.NewStore(t, history.Options{})
	s.LeaveCheckpoints()
	b := historytest.NewBuilder(t, s)
	base := strings.Repeat("a line of text that is the same on every page\n", 200)
	for i := range 400 { // over SQLite's checkpoint threshold of 1,000 pages
		b.Put(cid.Undef, fmt.Sprintf("Page %d", i), base+fmt.Sprintf("page %d\n", i))
	}
	if frames, backfilled := walFrames(t, s); frames < 1000 || backfilled != 0 {
		t.Fatalf("the log holds %d frames, %d of them checkpointed: want over 1,000 and none", frames, backfilled)
	}
}

// Writes that count no commit (a pass of whole copies, here) are
// checkpointed by a node's background checkpointer as counted commits
// are: the copies reach the database file with no commit after them. A
// serve's first pass over a freshly imported wiki, with its search rows,
// left 300 MB in the log until a joiner's redemption, and the checkpoint
// then shared the cores with the join.
func TestBackgroundCheckpointAfterUncountedWrites(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{BackgroundCheckpoint: true})
	b := historytest.NewBuilder(t, s)
	base := strings.Repeat("a line of text that stays the same across versions\n", 40)
	for i := range 300 {
		page := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), base+fmt.Sprintf("genesis %d\n", i))
		b.Put(page, fmt.Sprintf("Page %d", i), base+fmt.Sprintf("version %d of page %d\n", i, i), page)
	}
	// Copied whole: every frame of the log, or the log started over (the
	// checkpointer does that once it has copied all of it).
	var salt [8]byte
	copied := func() bool {
		frames, backfilled := walFrames(t, s)
		return (frames > 0 && backfilled == frames) || walSalt(t, s) != salt
	}
	waitCopied := func(what string) {
		deadline := time.Now().Add(10 * time.Second)
		for !copied() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still in the log, not in the database, after 10 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	salt = walSalt(t, s)
	waitCopied("the pages' commits")
	salt = walSalt(t, s)
	if res, err := s.KeepWholeCopies(ctx, 0, 0); err != nil || res.Added != 300 {
		t.Fatalf("whole copies: %+v, %v", res, err)
	}
	if copied() {
		t.Fatal("the pass wrote nothing to the log")
	}
	waitCopied("the whole copies")
}

// A run of whole-copy transactions checkpoints the log as it goes once
// the log passes its bound, as a sync's groups do: a serve's first pass
// over a freshly imported 100,000 x 3 wiki (after the search index's)
// left a 1.3 GB log behind for a 955 MB database. Here the bound is 256
// KiB and the pass writes over 2 MiB; SQLite's own checkpoint (every
// thousand pages, 4 MB) does not come into it.
func TestWholeCopiesBoundTheLog(t *testing.T) {
	defer history.SetGroupLogBytes(256 << 10)()
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	rng := rand.New(rand.NewPCG(19, 7))
	words := strings.Fields("replica peer sync merge page note wiki graph node edge hash commit revision history branch conflict offline")
	for i := range 600 {
		var text strings.Builder
		for text.Len() < 16000 {
			text.WriteString(words[rng.IntN(len(words))])
			text.WriteByte(' ')
		}
		page := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), text.String())
		b.Put(page, fmt.Sprintf("Page %d", i), text.String()+fmt.Sprintf("\nversion %d\n", i), page)
	}
	if _, err := s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	res, err := s.KeepWholeCopies(ctx, 0, 0)
	if err != nil || res.Added != 600 {
		t.Fatalf("whole copies: %+v, %v", res, err)
	}
	var bytes int64
	if err := s.DB().QueryRow(`SELECT sum(length(data)) FROM wholecopy`).Scan(&bytes); err != nil || bytes < 2<<20 {
		t.Fatalf("%d bytes of copies (%v): the test wants over 2 MiB", bytes, err)
	}
	st, err := os.Stat(s.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 3<<19 {
		t.Fatalf("the log is %d bytes after %d bytes of copies: not bounded", st.Size(), bytes)
	}
}
