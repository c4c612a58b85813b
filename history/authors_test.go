package history_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// undoSchema4 takes an open store's database back to schema 3, before
// authors and void revisions were recorded.
func undoSchema4(t *testing.T, s *history.Store) {
	t.Helper()
	undoListOrder(t, s)
	execAll(t, s, `DROP INDEX revisions_author`, `ALTER TABLE revisions DROP COLUMN author`,
		`DROP TABLE authors`, `DROP TABLE void`, `PRAGMA user_version = 3`)
}

// AuthorFrontier is an author's latest revisions on each page they wrote
// (others' revisions in between do not hide theirs); AuthoredWithin takes
// a frontier back to the author's revisions at or below it.
func TestAuthorFrontier(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	a, b := historytest.NewBuilder(t, s), historytest.NewBuilder(t, s)
	// Page P:  a1 <- a2 <- a3
	//                  a2 <- b1 <- a4
	//          a1 <- b2
	a1 := a.Put(cid.Undef, "P", "a1\n")
	a2 := a.Put(a1, "P", "a2\n", a1)
	a3 := a.Put(a1, "P", "a3\n", a2)
	b1 := b.Put(a1, "P", "b1\n", a2)
	a4 := a.Put(a1, "P", "a4\n", b1)
	b2 := b.Put(a1, "P", "b2\n", a1)
	// Page Q: a's genesis alone.
	q1 := a.Put(cid.Undef, "Q", "q1\n")
	other := historytest.NewStore(t, history.Options{})
	stranger := historytest.NewBuilder(t, other).Put(cid.Undef, "R", "r\n")

	A, B := a.ID.ID.String(), b.ID.ID.String()
	for _, tc := range []struct {
		author string
		want   []cid.Cid
	}{
		{A, []cid.Cid{a3, a4, q1}},
		{B, []cid.Cid{b1, b2}},
		{"12D3KooWNobodyNobodyNobodyNobodyNobodyNobodyNobody", nil},
	} {
		got, err := s.AuthorFrontier(ctx, tc.author)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(tc.want)
		history.SortCIDs(want)
		if !sameCIDs(got, want, false) {
			t.Errorf("AuthorFrontier(%s) = %v, want %v (sorted)", tc.author, got, want)
		}
	}
	for _, tc := range []struct {
		name     string
		author   string
		frontier []cid.Cid
		want     []cid.Cid
	}{
		{"a linear run", A, []cid.Cid{a3}, []cid.Cid{a1, a2, a3}},
		{"through another's revision; unknown CIDs ignored", A, []cid.Cid{b1, stranger}, []cid.Cid{a1, a2}},
		{"the whole frontier", A, []cid.Cid{a3, a4, q1}, []cid.Cid{a1, a2, a3, a4, q1}},
		{"the other author", B, []cid.Cid{a4}, []cid.Cid{b1}},
		{"nothing", B, nil, nil},
	} {
		got, err := s.AuthoredWithin(ctx, tc.author, tc.frontier)
		if err != nil {
			t.Fatal(err)
		}
		var gotList []cid.Cid
		for c, ok := range got {
			if ok {
				gotList = append(gotList, c)
			}
		}
		if !sameCIDs(gotList, tc.want, true) {
			t.Errorf("%s: AuthoredWithin = %v, want %v", tc.name, gotList, tc.want)
		}
	}
}

// Authors, RevisionAuthors and EarliestAuthor read the recorded authors;
// the wiki's own pages do not make anyone the earliest author.
func TestAuthorsRecorded(t *testing.T) {
	ctx := context.Background()
	e := newVoidEnv(t, history.Options{})
	s := e.s
	if _, err := s.EarliestAuthor(ctx); !errors.Is(err, history.ErrNotFound) {
		t.Fatalf("EarliestAuthor of an empty store: %v, want ErrNotFound", err)
	}
	list := systemPage(t, s, "members")
	early, bodies := signedAt(t, e.outsider, list, "members", 5, list)
	if _, err := s.Put(ctx, append(bodies, early)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EarliestAuthor(ctx); !errors.Is(err, history.ErrNotFound) {
		t.Fatalf("EarliestAuthor with only the members page: %v, want ErrNotFound", err)
	}
	p := e.member.Put(cid.Undef, "P", "p\n")
	v := e.outsider.Put(p, "P", "v\n", p)
	h := e.member.Put(p, "P", "h\n", p)
	a := e.autoMerge(p, "h and v\n", h, v)
	// An outsider's page dated before everything: void, yet the earliest.
	old, bodies := signedAt(t, e.outsider, cid.Undef, "Old", 1_000)
	if _, err := s.Put(ctx, append(bodies, old)); err != nil {
		t.Fatal(err)
	}
	M, O := e.member.ID.ID.String(), e.outsider.ID.ID.String()
	if got, err := s.EarliestAuthor(ctx); err != nil || got != O {
		t.Errorf("EarliestAuthor = %q, %v; want the outsider", got, err)
	}
	want := []string{M, O}
	slices.Sort(want)
	if got, err := s.Authors(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("Authors = %v, %v; want %v", got, err, want)
	}
	got, err := s.RevisionAuthors(ctx, []cid.Cid{p, v, h, a, list, early.Cid, old.Cid, history.NewBlock(history.CodecDagCBOR, []byte("not stored")).Cid})
	if err != nil {
		t.Fatal(err)
	}
	wantAuthors := map[cid.Cid]string{p: M, v: O, h: M, a: "", list: "", early.Cid: O, old.Cid: O}
	if len(got) != len(wantAuthors) {
		t.Errorf("RevisionAuthors = %v, want %v", got, wantAuthors)
	}
	for c, w := range wantAuthors {
		if got[c] != w {
			t.Errorf("RevisionAuthors[%s] = %q, want %q", c, got[c], w)
		}
	}
}

// A database made before authors were recorded is upgraded when opened:
// every revision's author is read back from its block.
func TestMigrateAuthors(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	opts := history.Options{VerifyAuto: acceptAuto}
	s, err := history.Open(path, historytest.WikiID, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &voidEnv{t: t, ctx: ctx, s: s, member: historytest.NewBuilder(t, s), outsider: historytest.NewBuilder(t, s)}
	list := systemPage(t, s, "settings")
	l1 := e.member.Put(list, "settings", "policy = merge\n", list)
	p := e.member.Put(cid.Undef, "P", "p\n")
	h1 := e.member.Put(p, "P", "h1\n", p)
	h2 := e.outsider.Put(p, "P", "h2\n", p)
	a := e.autoMerge(p, "both\n", h1, h2)
	q := e.outsider.Put(cid.Undef, "Q", "q\n")
	undoSchema4(t, s)
	s.Close()

	if s, err = history.Open(path, historytest.WikiID, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version int
	if err := s.DB().QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != 6 {
		t.Fatalf("user_version = %d, %v; want 6", version, err)
	}
	M, O := e.member.ID.ID.String(), e.outsider.ID.ID.String()
	got, err := s.RevisionAuthors(ctx, []cid.Cid{list, l1, p, h1, h2, a, q})
	if err != nil {
		t.Fatal(err)
	}
	want := map[cid.Cid]string{list: "", l1: M, p: M, h1: M, h2: O, a: "", q: O}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("after the upgrade, %s is by %q, want %q", c, got[c], w)
		}
	}
	if fr, err := s.AuthorFrontier(ctx, O); err != nil || !sameCIDs(fr, []cid.Cid{h2, q}, true) {
		t.Errorf("AuthorFrontier after the upgrade = %v, %v", fr, err)
	}
	// Writing goes on: a new author gets a row of its own.
	nb := historytest.NewBuilder(t, s)
	r := nb.Put(p, "P", "new\n", a)
	if got, err := s.RevisionAuthors(ctx, []cid.Cid{r}); err != nil || got[r] != nb.ID.ID.String() {
		t.Errorf("a new author after the upgrade: %v, %v", got, err)
	}
	if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck after the upgrade: %v %v", probs, err)
	}
}

// TestMigrateAuthorsTime times the upgrade of 10,000 revisions (100 pages
// of 100, 4 authors), the figure in migrateAuthors' comment. It runs only
// with PEERWIKI_MIGRATE_TIME=1: building the history takes a while.
func TestMigrateAuthorsTime(t *testing.T) {
	if os.Getenv("PEERWIKI_MIGRATE_TIME") == "" {
		t.Skip("PEERWIKI_MIGRATE_TIME is not set")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	s, err := history.Open(path, historytest.WikiID, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []*history.Identity
	for range 4 {
		id, err := history.NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	clock := int64(1_700_000_000_000)
	for page := range 100 {
		var batch []history.Block
		var prev *history.Revision
		var prevCID, genesis cid.Cid
		for i := range 100 {
			bodies, err := history.BodyBlocks(fmt.Sprintf("page %d\nversion %d\n", page, i))
			if err != nil {
				t.Fatal(err)
			}
			clock++
			r := &history.Revision{Wiki: historytest.WikiID, Title: fmt.Sprintf("Page %d", page), Body: history.Link{Cid: bodies[0].Cid}, Time: clock, Height: 1}
			if prev == nil {
				r.Nonce = []byte(r.Title)
			} else {
				r.Page = &history.Link{Cid: genesis}
				r.SetParents([]cid.Cid{prevCID})
				r.Height = prev.Height + 1
			}
			if err := r.Sign(ids[i%len(ids)].Key); err != nil {
				t.Fatal(err)
			}
			blk, err := r.Block()
			if err != nil {
				t.Fatal(err)
			}
			if prev == nil {
				genesis = blk.Cid
			}
			prev, prevCID = r, blk.Cid
			batch = append(append(batch, bodies...), blk)
		}
		if _, err := s.Put(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	undoSchema4(t, s)
	s.Close()
	start := time.Now()
	if s, err = history.Open(path, historytest.WikiID, history.Options{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	defer s.Close()
	if authors, err := s.Authors(ctx); err != nil || len(authors) != 4 {
		t.Fatalf("Authors = %v, %v", authors, err)
	}
	t.Logf("opening with the upgrade of 10,000 revisions took %v", took)
}
