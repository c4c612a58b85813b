package history_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// EachPage lists the pages, whole or read in two halves and merged, in
// the order of their titles (digit runs by value, case folded), then
// title bytes, then pages of one title by id, pages with several heads
// with all of them; a page renamed moves. And a walk that fn stops ends,
// with fn's error, leaving nothing running.
func TestEachPageIsInTitleOrder(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	rng := rand.New(rand.NewPCG(4, 2))
	words := []string{"Note", "note", "NOTE", "Ärger", "ärger", "Zebra", "alpha", "Alpha", "10", "2", "02", "007", "7", "é", "日本"}
	title := func() string {
		var t []string
		for range 1 + rng.IntN(3) {
			t = append(t, words[rng.IntN(len(words))])
		}
		return strings.Join(t, " ")
	}
	var conflicted []cid.Cid
	for i := range 300 {
		g := b.Put(cid.Undef, title(), fmt.Sprintf("page %d\n", i))
		switch {
		case i%25 == 0: // two heads
			t := title()
			b.Put(g, "Edited "+t, "one\n", g)
			b.Put(g, "Edited "+t, "two\n", g)
			conflicted = append(conflicted, g)
		case i%7 == 0: // renamed
			b.Put(g, title(), "renamed\n", g)
		}
	}
	type listed struct {
		id    cid.Cid
		title string
		heads int
	}
	walk := func(split int64) []listed {
		defer history.SetSplitPagesAt(split)()
		var out []listed
		err := s.EachPage(ctx, func(p history.PageRow, heads []cid.Cid) error {
			if len(heads) != p.Heads {
				t.Fatalf("page %q: %d heads, the row says %d", p.Title, len(heads), p.Heads)
			}
			out = append(out, listed{p.ID, p.Title, len(heads)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	whole, halves := walk(1<<40), walk(1)
	if !slices.Equal(whole, halves) {
		t.Fatalf("in halves:\n%v\nwhole:\n%v", halves, whole)
	}
	all, err := s.Pages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 300 || len(all) != 300 {
		t.Fatalf("listed %d pages, Pages has %d, want 300", len(whole), len(all))
	}
	sorted := make([]listed, 0, len(all))
	for _, p := range all {
		sorted = append(sorted, listed{p.ID, p.Title, p.Heads})
	}
	slices.SortFunc(sorted, func(a, b listed) int {
		if c := history.CompareTitles(a.title, b.title); c != 0 {
			return c
		}
		return bytes.Compare(a.id.Bytes(), b.id.Bytes())
	})
	if !slices.Equal(whole, sorted) {
		t.Fatalf("not in title order:\n%v\nwant:\n%v", whole, sorted)
	}
	for _, c := range conflicted {
		if i := slices.IndexFunc(whole, func(l listed) bool { return l.id.Equals(c) }); i < 0 || whole[i].heads != 2 {
			t.Fatalf("conflicted page %s not listed with its two heads", c)
		}
	}
	// Stopped by fn, early and late: its error, and no half left running.
	defer history.SetSplitPagesAt(1)()
	before := runtime.NumGoroutine()
	stop := errors.New("stop")
	for _, after := range []int{0, 1, 150, 299} {
		n := 0
		err := s.EachPage(ctx, func(history.PageRow, []cid.Cid) error {
			if n == after {
				return stop
			}
			n++
			return nil
		})
		if !errors.Is(err, stop) || n != after {
			t.Fatalf("stopped after %d: %v after %d pages", after, err, n)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the stopped walks, %d before", n, before)
	}
}

// execAll runs statements on s's database, in order.
func execAll(t *testing.T, s *history.Store, statements ...string) {
	t.Helper()
	for _, q := range statements {
		if _, err := s.DB().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// storeAt opens the store at path.
func storeAt(t *testing.T, path string) *history.Store {
	t.Helper()
	s, err := history.Open(path, historytest.WikiID, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// undoListOrder takes a store back to schema 4: no page list columns.
func undoListOrder(t *testing.T, s *history.Store) {
	t.Helper()
	execAll(t, s, `ALTER TABLE pages DROP COLUMN okey`, `ALTER TABLE pages DROP COLUMN revcid`,
		`ALTER TABLE pages DROP COLUMN cid`, `DELETE FROM meta WHERE key = 'titlekeys'`, `PRAGMA user_version = 4`)
}

// A store of schema 4 (no page list columns) is upgraded when opened, and
// so are title keys made with other Unicode tables than this binary's:
// the list is in title order, renames included, and fsck is clean.
func TestUpgradeToTheListOrder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	s := storeAt(t, path)
	b := historytest.NewBuilder(t, s)
	var want []string
	for i := range 40 {
		g := b.Put(cid.Undef, fmt.Sprintf("Page %d", 40-i), "x\n")
		if i%5 == 0 {
			b.Put(g, fmt.Sprintf("Renamed %d", i), "y\n", g)
			want = append(want, fmt.Sprintf("Renamed %d", i))
		} else {
			want = append(want, fmt.Sprintf("Page %d", 40-i))
		}
	}
	slices.SortFunc(want, history.CompareTitles)
	titles := func(s *history.Store) []string {
		var got []string
		if err := s.EachPage(ctx, func(p history.PageRow, _ []cid.Cid) error {
			got = append(got, p.Title)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	var notes []string // what the person waiting is told
	reopen := func() *history.Store {
		t.Helper()
		s.Close()
		s, err := history.Open(path, historytest.WikiID, history.Options{Upgrading: func(n string) { notes = append(notes, n) }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(when string) {
		t.Helper()
		if got := titles(s); !slices.Equal(got, want) {
			t.Fatalf("%s: listed %q, want %q", when, got, want)
		}
		if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
			t.Fatalf("%s: fsck %v %v", when, probs, err)
		}
	}
	undoListOrder(t, s)
	s = reopen()
	defer func() { s.Close() }()
	if v := userVersion(t, s); v != 6 {
		t.Fatalf("user_version %d after the upgrade, want 6", v)
	}
	check("upgraded from schema 4")
	if len(notes) != 1 || !strings.Contains(notes[0], "from schema 4 to 6") {
		t.Fatalf("told %q of the upgrade, want one note of schema 4 to 6", notes)
	}

	execAll(t, s, `UPDATE pages SET okey = x'00'`, `UPDATE meta SET value = '1/0.0.0' WHERE key = 'titlekeys'`)
	s = reopen()
	check("keys of other Unicode tables")
	if len(notes) != 1 {
		t.Fatalf("told %q; a store at this schema is no upgrade", notes)
	}
}

// An older peerwiki writing to the store (a serve left running across an
// upgrade) leaves the list's columns as they were: the list computes
// them instead, through this binary's later commits too, and the next
// open makes them again.
func TestListAfterAnOlderPeerwikiWrote(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	s := storeAt(t, path)
	defer func() { s.Close() }()
	b := historytest.NewBuilder(t, s)
	a := b.Put(cid.Undef, "Alpha", "a\n")
	z := b.Put(cid.Undef, "Zulu", "z\n")
	listed := func() []string {
		t.Helper()
		var got []string
		if err := s.EachPage(ctx, func(p history.PageRow, heads []cid.Cid) error {
			got = append(got, p.Title+" "+p.Rev.String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	// The older binary renames Alpha: its row's title and rev change, the
	// list's columns stay, and the commit is counted.
	var okey, revcid []byte
	if err := s.DB().QueryRow(`SELECT okey, revcid FROM pages WHERE title = 'Alpha'`).Scan(&okey, &revcid); err != nil {
		t.Fatal(err)
	}
	renamed := b.Put(a, "Zz renamed", "a\n", a)
	if _, err := s.DB().Exec(`UPDATE pages SET okey = ?, revcid = ? WHERE title = 'Zz renamed'`, okey, revcid); err != nil {
		t.Fatal(err)
	}
	execAll(t, s, `UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commits'`)
	later := b.Put(z, "Zulu", "z2\n", z) // this binary's commit after it
	want := []string{"Zulu " + later.String(), "Zz renamed " + renamed.String()}
	if got := listed(); !slices.Equal(got, want) {
		t.Fatalf("listed %q after an older peerwiki's rename, want %q", got, want)
	}
	s.Close()
	s = storeAt(t, path)
	var kept bool
	if err := s.DB().QueryRow(`SELECT (SELECT value FROM meta WHERE key = 'listed') = (SELECT value FROM meta WHERE key = 'commits')`).Scan(&kept); err != nil || !kept {
		t.Fatalf("the list's columns not made again at the next open (%v)", err)
	}
	if got := listed(); !slices.Equal(got, want) {
		t.Fatalf("listed %q after the next open, want %q", got, want)
	}
	if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
		t.Fatalf("fsck: %v %v", probs, err)
	}
}

// Opening a store whose list columns an older peerwiki left behind does
// not wait for another process's write to make them again: it opens at
// once (the list computes them meanwhile), and a later open makes them.
// It waited out the busy timeout, 10 s, behind a serve's sync.
func TestOpenDoesNotWaitToMakeTheListColumns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "peerwiki.db")
	s := storeAt(t, path)
	b := historytest.NewBuilder(t, s)
	b.Put(cid.Undef, "Alpha", "a\n")
	execAll(t, s, `UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commits'`) // an older binary's commit
	s.Close()

	other, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=200")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil { // another process writing
		t.Fatal(err)
	}
	opened := make(chan *history.Store, 1)
	go func() {
		s, err := history.Open(path, historytest.WikiID, history.Options{})
		if err != nil {
			t.Error(err)
		}
		opened <- s
	}()
	select {
	case s = <-opened:
	case <-time.After(5 * time.Second): // the busy timeout is 10 s
		t.Fatal("opening waited for the other process's write")
	}
	if s == nil {
		return
	}
	var n int
	if err := s.EachPage(ctx, func(history.PageRow, []cid.Cid) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("listed %d pages (%v), want 1", n, err)
	}
	s.Close()
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	s = storeAt(t, path)
	defer s.Close()
	var kept bool
	if err := s.DB().QueryRow(`SELECT (SELECT value FROM meta WHERE key = 'listed') = (SELECT value FROM meta WHERE key = 'commits')`).Scan(&kept); err != nil || !kept {
		t.Fatalf("the list's columns not made at the open after the write (%v)", err)
	}
}
