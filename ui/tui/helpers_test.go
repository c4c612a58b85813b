package tui

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/ipfs/go-cid"
	"github.com/muesli/termenv"

	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

func TestMain(m *testing.M) {
	// Screens are compared as plain text: no colour, no styling escapes.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// newRepo makes a wiki whose clock starts at a fixed time and moves one
// minute per revision, so that times on screen are the same every run.
func newRepo(t *testing.T) *wiki.Repo {
	t.Helper()
	r := wikitest.NewRepo(t, "alice")
	wikitest.StepClock(r, time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	return r
}

func mustCreate(t *testing.T, r *wiki.Repo, title, body string) cid.Cid {
	t.Helper()
	id, err := r.Create(context.Background(), title, body, "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustEdit(t *testing.T, r *wiki.Repo, page cid.Cid, e wiki.Edit) cid.Cid {
	t.Helper()
	rev, err := r.Edit(context.Background(), page, e)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// conflicted makes a page with two heads that conflict in two body hunks:
// lines 2 and 8 changed differently on each side. It returns the page and
// the heads in the order the merge screen shows them (ours first).
func conflicted(t *testing.T, r *wiki.Repo, title string) (cid.Cid, [2]string) {
	t.Helper()
	base := "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\n"
	page := mustCreate(t, r, title, base)
	a := strings.NewReplacer("line 2", "A two", "line 8", "A eight").Replace(base)
	b := strings.NewReplacer("line 2", "B two", "line 8", "B eight").Replace(base)
	mustEdit(t, r, page, wiki.Edit{Body: &a})
	mustEdit(t, r, page, wiki.Edit{Body: &b, Parent: page})
	heads, err := r.Heads(context.Background(), page)
	if err != nil || len(heads) != 2 {
		t.Fatalf("heads %v %v", heads, err)
	}
	return page, [2]string{heads[0].String(), heads[1].String()}
}

// newModel opens the UI on r at 80×24, offline, with plain Markdown.
func newModel(t *testing.T, r *wiki.Repo, opts ...func(*Options)) *Model {
	t.Helper()
	o := Options{Repo: r, MarkdownStyle: "notty", Editor: []string{"false"}}
	for _, f := range opts {
		f(&o)
	}
	m := New(context.Background(), o)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	return m
}

// keyMsg turns a key name as tmux or bubbletea spells it into a message.
func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+s":
		return tea.KeyMsg{Type: tea.KeyCtrlS}
	case "ctrl+u":
		return tea.KeyMsg{Type: tea.KeyCtrlU}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// press sends keys one by one. The commands they return are not run:
// the model's state changes in Update, and the commands are ticks (cursor
// blink, poll), processes ($EDITOR) or tea.Quit, which quits reports.
func press(t *testing.T, m *Model, keys ...string) tea.Cmd {
	t.Helper()
	var last tea.Cmd
	for _, k := range keys {
		_, last = m.Update(keyMsg(k))
	}
	return last
}

// quits reports whether cmd (or a batch it returns) is tea.Quit.
func quits(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		switch msg := msg.(type) {
		case tea.QuitMsg:
			return true
		case tea.BatchMsg:
			for _, c := range msg {
				if quits(c) {
					return true
				}
			}
		}
	case <-time.After(100 * time.Millisecond):
	}
	return false
}

// typeText sends text as one message, as a fast typist's burst arrives.
func typeText(m *Model, text string) {
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(text)})
}

var cidRE = regexp.MustCompile(`bafy[a-z2-7]{4,}…?`)

// snapshot is the model's view with revision ids masked (they differ every
// run: page genesis revisions carry a random nonce).
func snapshot(m *Model) string {
	return cidRE.ReplaceAllString(m.View(), "bafy…")
}

func requireGolden(t *testing.T, view string) {
	t.Helper()
	golden.RequireEqual(t, []byte(trimLines(view)+"\n"))
}

// trimLines drops the spaces that pad each line of a screen.
func trimLines(view string) string {
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func requireContains(t *testing.T, view string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(view, w) {
			t.Fatalf("screen lacks %q:\n%s", w, view)
		}
	}
}
