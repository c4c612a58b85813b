package history_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// What a store committed itself is told back with the very blocks a
// heads announcement would read back for it (RevisionBlocks), once;
// what came from a peer is not its own commit; a commit it cannot tell
// whole (too large to inline) makes the whole take unknown, and the
// next one starts afresh.
func TestTakeLocalCommits(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	putHere := func(blocks []history.Block) {
		t.Helper()
		if _, err := s.PutSignedHere(ctx, blocks); err != nil {
			t.Fatal(err)
		}
	}
	same := func(what string, lc history.LocalCommit, rev, page cid.Cid, head bool) {
		t.Helper()
		if lc.Rev.Cid != rev || lc.Rev.Page != page || lc.Rev.Head != head {
			t.Fatalf("%s: told %+v, want revision %s of page %s, head %v", what, lc.Rev, rev, page, head)
		}
		want, err := s.RevisionBlocks(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		if len(lc.Blocks) != len(want) {
			t.Fatalf("%s: %d blocks, RevisionBlocks has %d", what, len(lc.Blocks), len(want))
		}
		for i := range want {
			if lc.Blocks[i].Cid != want[i].Cid || !bytes.Equal(lc.Blocks[i].Data, want[i].Data) {
				t.Fatalf("%s: block %d is %s, RevisionBlocks has %s", what, i, lc.Blocks[i].Cid, want[i].Cid)
			}
		}
	}

	page, blocks := b.Batch(cid.Undef, "Notes", "first\n")
	putHere(blocks)
	got, ok := s.TakeLocalCommits()
	if !ok || len(got) != 1 {
		t.Fatalf("after a genesis: %d commits, ok %v", len(got), ok)
	}
	same("genesis", got[0], page, page, true)
	if got, ok := s.TakeLocalCommits(); !ok || len(got) != 0 {
		t.Fatalf("a second take: %d commits, ok %v", len(got), ok)
	}

	// Two commits, the second of two revisions (a parent and its child in
	// one batch): all three, parents first, the parent not a head.
	e1, blocks := b.Batch(page, "Notes", "second\n", page)
	putHere(blocks)
	e2, bl2 := b.Batch(page, "Notes", "third\n", e1)
	e3, bl3 := b.Batch(page, "Notes", "fourth\n", e2)
	putHere(append(bl3, bl2...))
	got, ok = s.TakeLocalCommits()
	if !ok || len(got) != 3 {
		t.Fatalf("after three edits: %d commits, ok %v", len(got), ok)
	}
	same("edit", got[0], e1, page, true) // a head when it was committed
	same("parent in a batch", got[1], e2, page, false)
	same("child in a batch", got[2], e3, page, true)

	// A peer's revisions are not this store's commits.
	peer := historytest.NewBuilder(t, s)
	e4, blocks := peer.Batch(page, "Notes", "from a peer\n", e3)
	if _, err := s.Put(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.TakeLocalCommits(); !ok || len(got) != 0 {
		t.Fatalf("after a peer's revision: %d commits, ok %v", len(got), ok)
	}

	// Too much to inline: the take cannot tell, with whatever came
	// before it; the next take is whole again.
	e5, blocks := b.Batch(page, "Notes", "small\n", e4)
	putHere(blocks)
	_, blocks = b.Batch(page, "Notes", strings.Repeat("big page ", 10_000), e5)
	putHere(blocks)
	if got, ok := s.TakeLocalCommits(); ok || got != nil {
		t.Fatalf("after a large commit: %d commits, ok %v", len(got), ok)
	}
	if got, ok := s.TakeLocalCommits(); !ok || len(got) != 0 {
		t.Fatalf("the take after it: %d commits, ok %v", len(got), ok)
	}
}

// OnLocalCommit's function runs once per commit of the store's own
// revisions, after it is told by TakeLocalCommits, and never for a
// peer's.
func TestOnLocalCommit(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	var told [][]history.LocalCommit
	s.OnLocalCommit(func() {
		got, ok := s.TakeLocalCommits()
		if !ok {
			t.Error("the commit could not be told")
		}
		told = append(told, got)
	})
	page, blocks := b.Batch(cid.Undef, "Notes", "first\n")
	if _, err := s.PutSignedHere(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	peer := historytest.NewBuilder(t, s)
	_, blocks = peer.Batch(page, "Notes", "from a peer\n", page)
	if _, err := s.Put(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || len(told[0]) != 1 || told[0][0].Rev.Cid != page {
		t.Fatalf("told %v, want the genesis once", told)
	}
}
