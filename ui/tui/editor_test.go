package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"peerwiki/wiki"
)

func TestEditorSaveBuildsOnTheOpenedRevision(t *testing.T) {
	r := newRepo(t)
	page := mustCreate(t, r, "Notes", "first\n")
	m := newModel(t, r)
	press(t, m, "e")
	e, ok := m.top().(*editor)
	if !ok {
		t.Fatalf("e opened %T", m.top())
	}
	opened := e.parent
	typeText(m, "mine")

	// A peer's edit arrives while the editor is open.
	theirs := "first\ntheirs\n"
	mustEdit(t, r, page, wiki.Edit{Body: &theirs})
	m.Update(pollMsg{})
	if e.bodyText() != "first\nmine" {
		t.Fatalf("the arriving edit changed the buffer: %q", e.bodyText())
	}

	press(t, m, "ctrl+s")
	heads, err := r.Heads(context.Background(), page)
	if err != nil || len(heads) != 2 {
		t.Fatalf("saving over a concurrent edit: %d heads, %v (want a divergence)", len(heads), err)
	}
	for _, h := range heads {
		rev, _ := r.Revision(context.Background(), h)
		v, _, _ := r.RevisionVersion(context.Background(), h)
		if v.Body == "first\nmine" && (len(rev.Parents) != 1 || !rev.Parents[0].Equals(opened)) {
			t.Fatalf("the save's parent is %v, want the opened revision %s", rev.Parents, opened)
		}
	}
	if m.prompt == nil || !strings.Contains(m.prompt.question, "Merge now?") {
		t.Fatalf("no merge offer after a divergent save:\n%s", snapshot(m))
	}
	press(t, m, "y")
	if _, ok := m.top().(*mergeScreen); !ok {
		t.Fatalf("y did not open the merge screen: %T", m.top())
	}
}

func TestEditorTitleCancelAndNoChange(t *testing.T) {
	r := newRepo(t)
	page := mustCreate(t, r, "Notes", "body\n")
	m := newModel(t, r)
	press(t, m, "e", "shift+tab") // to the title
	e := m.top().(*editor)
	if e.onBody {
		t.Fatal("shift+tab did not move to the title")
	}
	typeText(m, " 2")
	press(t, m, "esc")
	if m.prompt == nil {
		t.Fatal("esc with changes did not ask")
	}
	press(t, m, "n", "ctrl+s")
	if p, _ := r.Page(context.Background(), page); p.Title != "Notes 2" {
		t.Fatalf("title not saved: %q", p.Title)
	}
	press(t, m, "e", "ctrl+s") // nothing changed
	requireContains(t, snapshot(m), "no changes to save")
	if _, ok := m.top().(*editor); ok {
		t.Fatal("still in the editor")
	}
}

func TestEditorNeverSavesATruncatedBody(t *testing.T) {
	r := newRepo(t)
	var b strings.Builder
	for i := 0; i < textareaLines+2000; i++ {
		b.WriteString("line\n")
	}
	big := b.String()
	page := mustCreate(t, r, "Big", big)
	m := newModel(t, r)
	press(t, m, "e")
	e := m.top().(*editor)
	if !e.external {
		t.Fatal("a body past the textarea's limit went into the textarea")
	}
	requireContains(t, snapshot(m), "$EDITOR")
	// What $EDITOR gives back is saved whole.
	edited := big + "one more\n"
	m.Update(editorDoneMsg{body: edited})
	press(t, m, "ctrl+s")
	_, v := pageState(t, r, page)
	if v.Body != edited {
		t.Fatalf("saved %d bytes, want %d", len(v.Body), len(edited))
	}

	// A textarea that reached the limit (a huge paste) is not saved.
	small := mustCreate(t, r, "Small", "x\n")
	_ = small
	m2 := newModel(t, r)
	press(t, m2, "/")
	typeText(m2, "Small")
	press(t, m2, "enter", "e")
	e2 := m2.top().(*editor)
	e2.body.InsertString(strings.Repeat("p\n", textareaLines+10))
	press(t, m2, "ctrl+s")
	if _, v := pageState(t, r, small); v.Body != "x\n" {
		t.Fatal("a buffer at the textarea's limit was saved")
	}
	requireContains(t, snapshot(m2), "not saved")
}

func TestCtrlCAsksBeforeLosingAnEdit(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Notes", "x\n")
	m := newModel(t, r)
	if !quits(press(t, m, "ctrl+c")) {
		t.Fatal("ctrl+c with nothing unsaved did not quit")
	}
	press(t, m, "e")
	typeText(m, "more")
	if quits(press(t, m, "ctrl+c")) || m.prompt == nil {
		t.Fatal("ctrl+c with an unsaved edit quit without asking")
	}
	if !quits(press(t, m, "ctrl+c")) {
		t.Fatal("a second ctrl+c did not quit")
	}
}

// Tab indents the body (with the four spaces the textarea makes of a tab);
// shift+tab goes to the title and tab back to the body; the keys shown
// follow.
func TestEditorTabIndentsTheBody(t *testing.T) {
	r := newRepo(t)
	page := mustCreate(t, r, "List", "- one\n")
	m := newModel(t, r)
	press(t, m, "e")
	e := m.top().(*editor)
	if !e.onBody {
		t.Fatal("the editor did not open on the body")
	}
	requireContains(t, snapshot(m), "tab indent", "shift+tab title")
	// The cursor starts at the end of the body.
	typeText(m, "\n")
	press(t, m, "tab")
	typeText(m, "- nested")
	if got := e.bodyText(); got != "- one\n\n    - nested" {
		t.Fatalf("body after tab = %q", got)
	}
	press(t, m, "shift+tab")
	if e.onBody {
		t.Fatal("shift+tab did not move to the title")
	}
	requireContains(t, snapshot(m), "tab body")
	press(t, m, "tab")
	if !e.onBody {
		t.Fatal("tab on the title did not move to the body")
	}
	press(t, m, "ctrl+s")
	if _, v := pageState(t, r, page); v.Body != "- one\n\n    - nested" {
		t.Fatalf("saved body = %q", v.Body)
	}
}

// A body the textarea would change (its input filter turns tabs into
// spaces and CR into a line break, and drops control characters) is not
// put in it: it goes to $EDITOR, and comes back byte for byte.
func TestEditorKeepsTabsAndCarriageReturns(t *testing.T) {
	r := newRepo(t)
	for i, body := range []string{"col\tcol\n", "windows\r\nlines\r\n", "bell\a\n"} {
		title := fmt.Sprintf("Page %d", i)
		page := mustCreate(t, r, title, body)
		heads, _ := pageState(t, r, page)
		m := newModel(t, r)
		m.push(newEditor(m, page, heads[0], title, body))
		e := m.top().(*editor)
		if !e.external {
			t.Fatalf("%q went into the textarea, which gives back %q", body, e.body.Value())
		}
		requireContains(t, snapshot(m), "tabs, carriage returns or control characters", "$EDITOR")
		m.Update(editorDoneMsg{body: body + "more\n"})
		press(t, m, "ctrl+s")
		if _, v := pageState(t, r, page); v.Body != body+"more\n" {
			t.Fatalf("saved %q, want %q", v.Body, body+"more\n")
		}
	}
}
