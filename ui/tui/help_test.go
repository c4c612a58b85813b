package tui

import (
	"testing"
)

// TestHelpGolden pins the help screen of the page viewer: "?" lists every
// key of the screen under it, and esc goes back (issue 16).
func TestHelpGolden(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "See [[Ideas]].\n")
	m := newModel(t, r)
	press(t, m, "enter", "?")
	if _, ok := m.top().(*helpScreen); !ok {
		t.Fatalf("? opened %T", m.top())
	}
	view := snapshot(m)
	requireContains(t, view, "keys: Home", "pgdn/space/ctrl+f", "next link", "history")
	requireGolden(t, view)
	press(t, m, "esc")
	if _, ok := m.top().(*viewer); !ok {
		t.Fatalf("esc left the help for %T", m.top())
	}
}

// TestHelpKeyIsTextWhereTextIsTyped: in the filter, the editor and a
// prompt, "?" is a character.
func TestHelpKeyIsTextWhereTextIsTyped(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Why?", "")
	m := newModel(t, r)
	press(t, m, "/", "?")
	b := m.top().(*browser)
	if b.filter != "?" || len(b.items) != 1 {
		t.Fatalf("filter %q, %d items", b.filter, len(b.items))
	}
	press(t, m, "esc", "n", "?")
	if m.prompt == nil || m.prompt.input.Value() != "?" {
		t.Fatal("? did not go into the new page's title")
	}
	press(t, m, "enter", "?")
	e, ok := m.top().(*editor)
	if !ok || e.body.Value() != "?" {
		t.Fatalf("? in the editor: %T", m.top())
	}
}
