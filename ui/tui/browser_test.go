package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peerwiki/wiki"

	tea "github.com/charmbracelet/bubbletea"
)

func titles(b *browser) []string {
	var out []string
	for _, it := range b.items {
		out = append(out, it.page.Title)
	}
	return out
}

func TestBrowserGolden(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "Welcome. See [[Ideas]].\n")
	mustCreate(t, r, "Ideas", "- a\n- b\n")
	conflicted(t, r, "Plan")
	gone := mustCreate(t, r, "Old notes", "x\n")
	if _, err := r.Delete(context.Background(), gone, ""); err != nil {
		t.Fatal(err)
	}
	m := newModel(t, r)
	press(t, m, "x") // deleted pages shown, with their marker
	requireGolden(t, snapshot(m))
}

func TestBrowserFilterAsYouType(t *testing.T) {
	r := newRepo(t)
	for _, title := range []string{"Home", "Plan for March", "Planets", "Recipes"} {
		mustCreate(t, r, title, "body of "+title+"\n")
	}
	m := newModel(t, r)
	b := m.top().(*browser)
	press(t, m, "/")
	typeText(m, "plan")
	if got := strings.Join(titles(b), ","); got != "Plan for March,Planets" {
		t.Fatalf("after typing 'plan': %s", got)
	}
	press(t, m, "space")
	typeText(m, "mar")
	if got := strings.Join(titles(b), ","); got != "Plan for March" {
		t.Fatalf("after typing 'plan mar': %s", got)
	}
	requireContains(t, snapshot(m), "filter: plan mar")
	press(t, m, "enter") // leaves the input, keeps the filter
	if b.mode != inputNone || len(b.items) != 1 {
		t.Fatalf("enter: input mode %v, items %v", b.mode, titles(b))
	}
	press(t, m, "enter")
	if v, ok := m.top().(*viewer); !ok || v.pv.Title != "Plan for March" {
		t.Fatalf("enter did not open the filtered page: %T", m.top())
	}
	press(t, m, "esc", "esc") // back to the list, then clear the filter
	if len(b.items) != 4 {
		t.Fatalf("esc did not clear the filter: %v", titles(b))
	}
}

func TestBrowserFullTextSearch(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "nothing here\n")
	mustCreate(t, r, "Trip", "we took the zeppelin to Oslo\n")
	mustCreate(t, r, "Log", "the zeppelin was late\n")
	m := newModel(t, r)
	b := m.top().(*browser)
	press(t, m, "s")
	typeText(m, "zeppelin")
	press(t, m, "enter")
	got := titles(b)
	if len(got) != 2 || strings.Contains(strings.Join(got, ","), "Home") {
		t.Fatalf("search zeppelin: %v", got)
	}
	requireContains(t, snapshot(m), "search: zeppelin", "[zeppelin]")
	press(t, m, "esc")
	if len(b.items) != 3 {
		t.Fatalf("esc did not end the search: %v", titles(b))
	}
}

func TestBrowserSortByRecentChange(t *testing.T) {
	r := newRepo(t)
	a := mustCreate(t, r, "Alpha", "1\n")
	mustCreate(t, r, "Beta", "2\n")
	body := "changed\n"
	mustEdit(t, r, a, wiki.Edit{Body: &body})
	m := newModel(t, r)
	b := m.top().(*browser)
	if got := strings.Join(titles(b), ","); got != "Alpha,Beta" {
		t.Fatalf("by title: %s", got)
	}
	press(t, m, "o", "G")
	if got := strings.Join(titles(b), ","); got != "Alpha,Beta" {
		// Alpha changed last, so it stays first by recent change too;
		// make Beta the latest and check the order flips.
		t.Fatalf("by recent: %s", got)
	}
	beta, err := r.FindPage(context.Background(), "Beta")
	if err != nil {
		t.Fatal(err)
	}
	mustEdit(t, r, beta.ID, wiki.Edit{Body: &body})
	m.reloadAll()
	if got := strings.Join(titles(b), ","); got != "Beta,Alpha" {
		t.Fatalf("by recent after editing Beta: %s", got)
	}
	requireContains(t, snapshot(m), "by recent change")
}

func TestBrowserNewRenameDelete(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	m := newModel(t, r)
	requireContains(t, snapshot(m), "No pages yet")
	press(t, m, "n")
	typeText(m, "Groceries")
	press(t, m, "enter")
	e, ok := m.top().(*editor)
	if !ok {
		t.Fatalf("n + title did not open the editor: %T", m.top())
	}
	typeText(m, "milk")
	press(t, m, "enter")
	typeText(m, "eggs")
	press(t, m, "ctrl+s")
	_ = e
	p, err := r.FindPage(ctx, "Groceries")
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := r.RevisionVersion(ctx, p.Rev)
	if err != nil || v.Body != "milk\neggs" {
		t.Fatalf("created body %q, %v", v.Body, err)
	}
	if _, ok := m.top().(*viewer); !ok {
		t.Fatalf("after saving a new page: %T", m.top())
	}
	press(t, m, "esc", "r")
	if m.prompt == nil {
		t.Fatal("r opened no prompt")
	}
	press(t, m, "ctrl+u")
	typeText(m, "Shopping")
	press(t, m, "enter")
	if p2, err := r.Page(ctx, p.ID); err != nil || p2.Title != "Shopping" {
		t.Fatalf("rename: %+v %v", p2, err)
	}
	press(t, m, "d")
	requireContains(t, snapshot(m), `Delete "Shopping"?`)
	press(t, m, "n") // no: nothing happens
	if p2, _ := r.Page(ctx, p.ID); p2.Deleted {
		t.Fatal("n deleted the page")
	}
	press(t, m, "d", "y")
	if p2, _ := r.Page(ctx, p.ID); !p2.Deleted {
		t.Fatal("d y did not delete the page")
	}
	b := m.top().(*browser)
	if len(b.items) != 0 {
		t.Fatalf("deleted page still listed: %v", titles(b))
	}
	press(t, m, "x")
	requireContains(t, snapshot(m), "Shopping [deleted]")
}

func TestKeyBurstIsSeveralPresses(t *testing.T) {
	r := newRepo(t)
	for _, title := range []string{"A", "B", "C", "D"} {
		mustCreate(t, r, title, "x\n")
	}
	m := newModel(t, r)
	typeText(m, "jj") // tmux send-keys and fast typists deliver bursts
	if b := m.top().(*browser); b.cursor != 2 {
		t.Fatalf("cursor %d after 'jj', want 2", b.cursor)
	}
}

func TestNewWithAnExistingTitleOpensThePage(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "x\n")
	m := newModel(t, r)
	press(t, m, "n")
	typeText(m, "home") // a burst that spells a key name is still text
	press(t, m, "enter")
	if v, ok := m.top().(*viewer); !ok || v.pv.Title != "Home" {
		t.Fatalf("n with an existing title opened %T\n%s", m.top(), snapshot(m))
	}
	if pages, _ := r.List(context.Background(), true, false); len(pages) != 1 {
		t.Fatalf("%d pages", len(pages))
	}
}

// TestBrowserSortsNaturallyAndRanksTheFilter: "Note 2" before "Note 10",
// and the filter "note 2" puts "Note 2" first (issue 16).
func TestBrowserSortsNaturallyAndRanksTheFilter(t *testing.T) {
	r := newRepo(t)
	for _, title := range []string{"Note 10", "Note 12", "Note 2", "Another note 2", "Note 20"} {
		mustCreate(t, r, title, "")
	}
	m := newModel(t, r)
	b := m.top().(*browser)
	if got, want := strings.Join(titles(b), ", "), "Another note 2, Note 2, Note 10, Note 12, Note 20"; got != want {
		t.Fatalf("pages: %s, want %s", got, want)
	}
	press(t, m, "/")
	typeText(m, "note 2")
	if got, want := strings.Join(titles(b), ", "), "Note 2, Note 20, Another note 2, Note 12"; got != want {
		t.Fatalf("filtered: %s, want %s", got, want)
	}
	if b.cursor != 0 {
		t.Fatalf("cursor %d", b.cursor)
	}
}

// TestRenameOffersToUpdateLinks: renaming a page others link to asks
// whether their links should follow (issue 16).
func TestRenameOffersToUpdateLinks(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Old", "")
	mustCreate(t, r, "Zed", "see [[Old]]\n")
	m := newModel(t, r)
	press(t, m, "r", "ctrl+u")
	typeText(m, "New")
	press(t, m, "enter")
	requireContains(t, snapshot(m), `1 page links to "Old". Make it link to "New"?`)
	press(t, m, "y")
	p, err := r.FindPage(context.Background(), "Zed")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.View(context.Background(), p)
	if v.Body != "see [[New]]\n" {
		t.Fatalf("body %q", v.Body)
	}
}

// A wiki longer than firstScreen shows its first pages at once and reads
// the rest in the background; the cursor stays where it was.
func TestBrowserReadsALongListInTheBackground(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	n := firstScreen + 40
	for i := range n {
		body := fmt.Sprintf("# Page %d\n\nbody %d\n", i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.md", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Import(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	m := New(context.Background(), Options{Repo: r, MarkdownStyle: "notty", Editor: []string{"false"}, PollInterval: time.Millisecond})
	load := m.Init()
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	b := m.top().(*browser)
	if !b.partial || len(b.pages) != firstScreen {
		t.Fatalf("first screen: partial %v, %d pages; want the first %d", b.partial, len(b.pages), firstScreen)
	}
	requireContains(t, m.View(), "Page 0", "Page 1", fmt.Sprintf("%d pages so far", firstScreen), "reading the rest")
	press(t, m, "down", "down")
	batch, ok := load().(tea.BatchMsg)
	if !ok {
		t.Fatalf("Init returned no batch of commands: the list is not being read")
	}
	got := false
	for _, cmd := range batch {
		if msg := cmd(); msg != nil {
			if _, isList := msg.(pageList); isList {
				got = true
			}
			m.Update(msg)
		}
	}
	if !got || b.partial || len(b.pages) != n {
		t.Fatalf("after the background read: read %v, partial %v, %d pages; want %d", got, b.partial, len(b.pages), n)
	}
	if p, _ := b.selected(); p.Title != "Page 2" {
		t.Fatalf("the cursor moved to %q", p.Title)
	}
	requireContains(t, m.View(), fmt.Sprintf("%d pages, by title", n))
	if strings.Contains(m.View(), "reading the rest") {
		t.Fatalf("still reading:\n%s", m.View())
	}
}
