package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/wiki"
)

// The text of a member whose client writes terminal escapes into
// everything: set the window title, clear the screen, overwrite with a
// carriage return, a C1 CSI, a right-to-left override.
const (
	hostileBody = "Pay now\x1b]0;pwned\a\x1b[2J\n" +
		"safe\rforged, csi \u009b31m, \u202efdp.exe\n" +
		"a\ttab stays\n"
	hostileName = "mallory\x1b[31m\u202e"
	hostileMsg  = "fix\x1b[2J\nforged line"
	// A title stored before titles were checked; the store refuses it now.
	storedBadTitle = "Old\x1b]0;pwned\a\x1b[2J\nforged line"
)

// requireInert fails when the screen holds anything that acts on a
// terminal. The tests run without colour, so no escape is ours.
func requireInert(t *testing.T, view string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\a", "\r", "\u009b", "\u202e", "\u2066"} {
		if strings.Contains(view, bad) {
			t.Fatalf("screen holds %q raw:\n%s", bad, view)
		}
	}
}

func hostileRepo(t *testing.T) (*wiki.Repo, cid.Cid) {
	t.Helper()
	r := newRepo(t)
	r.Config.Name = hostileName // what every revision of this replica carries
	page, err := r.Create(context.Background(), "Invoice \u202efdp.exe", hostileBody, hostileMsg)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, r, "Links", "See [[Invoice \u202efdp.exe]] and [[Ghost\u2066x]].\n")
	return r, page
}

func TestHostileTextShowsQuoted(t *testing.T) {
	r, page := hostileRepo(t)
	m := newModel(t, r)

	t.Run("browser", func(t *testing.T) {
		b := m.top().(*browser)
		b.pages = append(b.pages, wiki.PageInfo{ID: page, Title: storedBadTitle, Updated: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)})
		b.refilter(cid.Undef)
		view := snapshot(m)
		requireInert(t, view)
		requireContains(t, view, `Invoice \u202efdp.exe`, `Old\e]0;pwned\a\e[2J\nforged line`)
		if strings.Contains(view, "\nforged line") {
			t.Fatalf("a title forged a line:\n%s", view)
		}
		requireGolden(t, view)
		b.pages = b.pages[:len(b.pages)-1]
		b.refilter(cid.Undef)
	})
	t.Run("viewer", func(t *testing.T) {
		press(t, m, "enter")
		v := m.top().(*viewer)
		view := snapshot(m)
		requireInert(t, view)
		requireContains(t, view, `Pay now\e]0;pwned\a\e[2J`, `safe\rforged, csi \u009b31m, \u202efdp.exe`, "peerwiki · Invoice \\u202efdp.exe")
		requireGolden(t, view)
		v.pv.Title = storedBadTitle
		v.contentWidth = 0
		view = snapshot(m)
		requireInert(t, view)
		requireContains(t, view, `Old\e]0;pwned\a\e[2J\nforged line`)
	})
	t.Run("history", func(t *testing.T) {
		press(t, m, "h")
		view := snapshot(m)
		requireInert(t, view)
		requireContains(t, view, `mallory\e[31m\u202e: fix\e[2J\nfor`, `# Invoice \u202efdp.exe`)
		press(t, m, "esc", "esc")
	})
	t.Run("links", func(t *testing.T) {
		press(t, m, "down", "enter", "tab")
		view := snapshot(m)
		requireInert(t, view)
		requireContains(t, view, `> Invoice \u202efdp.exe`, `Ghost\u2066x`)
		press(t, m, "esc")
	})
}

func TestHostilePresenceNameShowsQuoted(t *testing.T) {
	r, page := hostileRepo(t)
	heard := func(p cid.Cid) []Editor {
		if p != page {
			return nil
		}
		return []Editor{{Name: "eve\x1b]0;x\a\nforged", Since: time.Now()}}
	}
	m := newModel(t, r, func(o *Options) { o.Presence = heard })
	press(t, m, "enter")
	view := snapshot(m)
	requireInert(t, view)
	requireContains(t, view, `[being edited by eve\e]0;x\a\nforged since`)
}

// TestEditorKeepsATitleItCannotShow: the title field shows a stored title
// quoted, and saving a body keeps the title as stored, not as shown.
func TestEditorKeepsATitleItCannotShow(t *testing.T) {
	r := newRepo(t)
	page := mustCreate(t, r, "Plain", "body\n")
	m := newModel(t, r)
	heads, _ := r.Heads(context.Background(), page)
	for _, title := range []string{storedBadTitle, strings.Repeat("long title ", 2000), "Invoice \u202efdp.exe"} {
		e := newEditor(m, page, heads[0], title, "body\n")
		m.push(e)
		if e.dirty() || e.titleText() != title {
			t.Fatalf("a freshly opened editor is dirty or changed the title %.40q to %.40q", title, e.titleText())
		}
		requireInert(t, snapshot(m))
		m.pop()
	}
	e := newEditor(m, page, heads[0], "Invoice \u202efdp.exe", "body\n")
	m.push(e)
	e.title.SetValue("Invoice fixed")
	if got := e.titleText(); got != "Invoice fixed" {
		t.Fatalf("a title the person typed is saved as %q", got)
	}
}

func TestEditorSendsFormatCharactersToExternalEditor(t *testing.T) {
	r := newRepo(t)
	page := mustCreate(t, r, "Bidi", "abc \u202edcba\u202c\n")
	m := newModel(t, r)
	press(t, m, "enter", "e")
	e, ok := m.top().(*editor)
	if !ok || !e.external || e.bodyText() != "abc \u202edcba\u202c\n" {
		t.Fatalf("a body with a bidi override went to the built-in editor: %T", m.top())
	}
	view := snapshot(m)
	requireInert(t, view)
	requireContains(t, view, "invisible format characters", "$EDITOR")
	_ = page
}
