package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestViewerGolden(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "# Welcome\n\nSee [[Ideas]] and [[Someday]].\n\n- one\n- **two**\n")
	mustCreate(t, r, "Ideas", "Back to [[home]].\n")
	m := newModel(t, r)
	press(t, m, "enter", "tab")
	requireGolden(t, snapshot(m))
}

func TestViewerFollowsLinksAndBacklinks(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "See [[Ideas]] and [[Someday]].\n")
	mustCreate(t, r, "Ideas", "Back to [[home]].\n")
	mustCreate(t, r, "Journal", "Today: [[Home]].\n")
	m := newModel(t, r)
	press(t, m, "enter")
	v := m.top().(*viewer)
	if v.pv.Title != "Home" {
		t.Fatalf("opened %q", v.pv.Title)
	}
	var got []string
	for _, tg := range v.targets {
		got = append(got, tg.title)
	}
	// Links in body order, then the pages that link here.
	if want := "Ideas,Someday,Ideas,Journal"; join(got) != want {
		t.Fatalf("targets %s, want %s", join(got), want)
	}
	press(t, m, "tab", "enter")
	if v2 := m.top().(*viewer); v2.pv.Title != "Ideas" {
		t.Fatalf("followed to %q", v2.pv.Title)
	}
	press(t, m, "esc", "tab", "enter") // Someday does not exist yet
	if m.prompt == nil {
		t.Fatal("following a missing page did not offer to write it")
	}
	press(t, m, "y")
	e, ok := m.top().(*editor)
	if !ok || e.title.Value() != "Someday" || e.page.Defined() {
		t.Fatalf("y did not open a new page called Someday: %T", m.top())
	}
	press(t, m, "esc", "shift+tab", "shift+tab", "enter")
	if v3 := m.top().(*viewer); v3.pv.Title != "Journal" {
		t.Fatalf("backlink followed to %q", v3.pv.Title)
	}
}

func TestViewerShowsEveryVersionOfAConflict(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r)
	press(t, m, "enter")
	requireContains(t, snapshot(m), "[conflict: 2 heads]", "version 1 of 2", "m merge")
	press(t, m, "m")
	if _, ok := m.top().(*mergeScreen); !ok {
		t.Fatalf("m opened %T", m.top())
	}
	press(t, m, "q")
	press(t, m, "e") // a conflicted page has no single head to edit: merge instead
	if s, ok := m.top().(*mergeScreen); !ok || !s.page.Equals(page) {
		t.Fatalf("e on a conflicted page opened %T", m.top())
	}
	_ = context.Background()
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// TestViewerStatusShowsScrollPosition: a page longer than the screen
// says where the view is; a short one says nothing (issue 16).
func TestViewerStatusShowsScrollPosition(t *testing.T) {
	r := newRepo(t)
	long := ""
	for i := 1; i <= 60; i++ {
		long += fmt.Sprintf("line %d\n\n", i)
	}
	mustCreate(t, r, "Long", long)
	mustCreate(t, r, "Short", "one line\n")
	m := newModel(t, r)
	press(t, m, "enter")
	requireContains(t, lastLine(m.View()), "lines 1–", "(0%)")
	press(t, m, "G")
	requireContains(t, lastLine(m.View()), "(100%)")
	press(t, m, "esc", "down", "enter")
	if last := lastLine(m.View()); strings.Contains(last, "lines") {
		t.Fatalf("a short page shows a position: %q", last)
	}
}

func lastLine(view string) string { return view[strings.LastIndex(view, "\n")+1:] }
