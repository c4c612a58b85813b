package tui

import (
	"context"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ipfs/go-cid"

	"peerwiki/ui/mergesession"
	"peerwiki/wiki"
)

// pageState reads a page's heads and its first head's version.
func pageState(t *testing.T, r *wiki.Repo, page cid.Cid) ([]cid.Cid, wiki.Version) {
	t.Helper()
	ctx := context.Background()
	heads, err := r.Heads(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := r.RevisionVersion(ctx, heads[0])
	if err != nil {
		t.Fatal(err)
	}
	return heads, v
}

// sides returns what the merge screen calls ours and theirs at the
// conflicted lines 2 and 8.
func sides(t *testing.T, s *mergeScreen) (ours, theirs string) {
	t.Helper()
	if strings.HasPrefix(s.vers[0].Body, "line 1\nA two") {
		return "A", "B"
	}
	return "B", "A"
}

func TestMergeOursThenTheirsSaves(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	s := m.top().(*mergeScreen)
	if len(s.sess.Entries()) != 2 || s.sess.Entries()[0].Kind != mergesession.BodyHunk {
		t.Fatalf("entries %+v", s.sess.Entries())
	}
	ours, theirs := sides(t, s)
	press(t, m, "o")
	if s.sess.Entries()[0].Choice != mergesession.Ours || s.sess.Current() != 1 {
		t.Fatalf("after o: choice %v cur %d", s.sess.Entries()[0].Choice, s.sess.Current())
	}
	press(t, m, "t")
	cmd := press(t, m, "s")
	if !quits(cmd) {
		t.Fatal("saving the merge of `merge PAGE` did not leave the UI")
	}
	heads, v := pageState(t, r, page)
	want := "line 1\n" + ours + " two\nline 3\nline 4\nline 5\nline 6\nline 7\n" + theirs + " eight\nline 9\n"
	if len(heads) != 1 || v.Body != want {
		t.Fatalf("after o, t, s: %d heads, body %q, want %q", len(heads), v.Body, want)
	}
	rev, err := r.Revision(context.Background(), heads[0])
	if err != nil || len(rev.Parents) != 2 {
		t.Fatalf("resolution parents %v %v", rev.Parents, err)
	}
}

func TestMergeBothEditUndoAndRefusal(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	s := m.top().(*mergeScreen)
	ours, theirs := sides(t, s)

	press(t, m, "s") // nothing decided: refused, nothing written
	if heads, _ := pageState(t, r, page); len(heads) != 2 {
		t.Fatal("s with undecided conflicts wrote a resolution")
	}
	requireContains(t, snapshot(m), "2 of 2 conflicts undecided")

	press(t, m, "b")
	if got := strings.Join(s.sess.Entries()[0].Lines(), ""); got != ours+" two\n"+theirs+" two\n" {
		t.Fatalf("both: %q", got)
	}
	press(t, m, "u")
	if s.sess.Entries()[0].Choice != mergesession.Undecided || s.sess.Current() != 0 {
		t.Fatalf("undo: choice %v cur %d", s.sess.Entries()[0].Choice, s.sess.Current())
	}
	press(t, m, "n", "e")
	if !s.editing {
		t.Fatal("e did not open the hunk editor")
	}
	for i := 0; i < len("A eight\nB eight")+2; i++ {
		press(t, m, "backspace") // clear the prefilled ours and theirs
	}
	typeText(m, "hand made eight")
	press(t, m, "ctrl+s")
	if s.sess.Entries()[1].Choice != mergesession.Edited || strings.Join(s.sess.Entries()[1].Edited, "") != "hand made eight\n" {
		t.Fatalf("edit: %v %q", s.sess.Entries()[1].Choice, s.sess.Entries()[1].Edited)
	}
	if s.sess.Current() != 0 {
		t.Fatalf("after deciding, the cursor should go to the undecided entry, is %d", s.sess.Current())
	}
	press(t, m, "t", "s")
	heads, v := pageState(t, r, page)
	want := "line 1\n" + theirs + " two\nline 3\nline 4\nline 5\nline 6\nline 7\nhand made eight\nline 9\n"
	if len(heads) != 1 || v.Body != want {
		t.Fatalf("%d heads, body %q, want %q", len(heads), v.Body, want)
	}
}

func TestMergeQuitAsksWhenChoicesAreUnsaved(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	if cmd := press(t, m, "o", "q"); quits(cmd) || m.prompt == nil {
		t.Fatal("q with an unsaved choice did not ask")
	}
	press(t, m, "n")
	if _, ok := m.top().(*mergeScreen); !ok || m.prompt != nil {
		t.Fatal("answering no did not stay on the merge screen")
	}
	press(t, m, "q")
	if cmd := press(t, m, "y"); !quits(cmd) {
		t.Fatal("q, y did not leave")
	}
	if heads, _ := pageState(t, r, page); len(heads) != 2 {
		t.Fatal("quitting wrote something")
	}
}

// titleConflict makes a page whose two heads renamed it to a and to b.
func titleConflict(t *testing.T, r *wiki.Repo, title, body, a, b string) cid.Cid {
	t.Helper()
	page := mustCreate(t, r, title, body)
	mustEdit(t, r, page, wiki.Edit{Title: &a})
	mustEdit(t, r, page, wiki.Edit{Title: &b, Parent: page})
	return page
}

func TestMergeTitleAndDeleteConflicts(t *testing.T) {
	r := newRepo(t)
	page := titleConflict(t, r, "Draft", "text\n", "Draft X", "Draft Y")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	s := m.top().(*mergeScreen)
	if len(s.sess.Entries()) != 1 || s.sess.Entries()[0].Kind != mergesession.Title {
		t.Fatalf("entries %+v", s.sess.Entries())
	}
	requireContains(t, snapshot(m), "conflict 1 of 1: the title", "Draft X", "Draft Y")
	press(t, m, "b")
	if s.sess.Entries()[0].Choice != mergesession.Undecided {
		t.Fatal("b on a title decided it")
	}
	press(t, m, "e", "ctrl+u")
	typeText(m, "Draft Z")
	press(t, m, "ctrl+s", "s")
	if _, v := pageState(t, r, page); v.Title != "Draft Z" || v.Body != "text\n" {
		t.Fatalf("title resolution: %+v", v)
	}

	// Delete against edit: the deleting side taken deletes the page.
	page2 := mustCreate(t, r, "Temp", "a\n")
	edited := "a\nb\n"
	mustEdit(t, r, page2, wiki.Edit{Body: &edited})
	if _, err := r.Edit(context.Background(), page2, wiki.Edit{Delete: true, Parent: page2}); err != nil {
		t.Fatal(err)
	}
	m = newModel(t, r, func(o *Options) { o.MergePage = page2 })
	s = m.top().(*mergeScreen)
	if len(s.sess.Entries()) != 1 || s.sess.Entries()[0].Kind != mergesession.Deleted {
		t.Fatalf("entries %+v", s.sess.Entries())
	}
	requireContains(t, snapshot(m), "delete or keep", "[deleted]")
	choice := "o"
	if !s.sess.Ours().Deleted {
		choice = "t"
	}
	press(t, m, choice, "s")
	if heads, v := pageState(t, r, page2); len(heads) != 1 || !v.Deleted {
		t.Fatalf("taking the deletion: %d heads, %+v", len(heads), v)
	}
}

func TestMergeThreeHeadsFold(t *testing.T) {
	r := newRepo(t)
	page := mustCreate(t, r, "Tri", "a\nb\nc\n")
	for _, body := range []string{"a1\nb\nc\n", "a2\nb\nc\n", "a\nb\nc3\n"} {
		body := body
		mustEdit(t, r, page, wiki.Edit{Body: &body, Parent: page})
	}
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	s := m.top().(*mergeScreen)
	if len(s.heads) != 3 {
		t.Fatalf("%d heads", len(s.heads))
	}
	steps := 0
	for steps = 0; steps < 3 && s.sess.Step() < len(s.heads); steps++ {
		for i := 0; i < len(s.sess.Entries()) && i < 5; i++ {
			press(t, m, "b")
		}
		if s.sess.Step() == len(s.heads)-1 {
			press(t, m, "s")
			break
		}
		requireContains(t, snapshot(m), "next head")
		press(t, m, "s")
	}
	heads, v := pageState(t, r, page)
	if len(heads) != 1 {
		t.Fatalf("%d heads after the fold", len(heads))
	}
	for _, want := range []string{"a1\n", "a2\n", "c3\n"} {
		if !strings.Contains(v.Body, want) {
			t.Fatalf("fold lost %q: %q", want, v.Body)
		}
	}
	rev, _ := r.Revision(context.Background(), heads[0])
	if len(rev.Parents) != 3 {
		t.Fatalf("resolution has %d parents, want all 3 heads", len(rev.Parents))
	}
}

func TestMergeNoticesHeadsChanging(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	s := m.top().(*mergeScreen)
	press(t, m, "o")
	// A new edit of one head arrives (another process, a peer): it
	// touches line 5 only, so the conflicted hunks stay the same.
	old := s.heads[1]
	v, _, err := r.RevisionVersion(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	late := strings.Replace(v.Body, "line 5", "LATE five", 1)
	mustEdit(t, r, page, wiki.Edit{Body: &late, Parent: old})
	m.Update(pollMsg{})
	if s.heads[1].Equals(old) {
		t.Fatal("the merge screen did not pick up the new head")
	}
	if s.sess.Entries()[0].Choice != mergesession.Ours {
		t.Fatal("the choice for an unchanged hunk was lost")
	}
	requireContains(t, snapshot(m), "heads changed")

	// A third head: the merge is recomputed over all three.
	third := "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n"
	mustEdit(t, r, page, wiki.Edit{Body: &third, Parent: page})
	m.Update(pollMsg{})
	if len(s.heads) != 3 {
		t.Fatalf("merge screen still merges %d heads", len(s.heads))
	}
}

func TestMergeGoldenNarrowAndWide(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	t.Run("80x24", func(t *testing.T) {
		requireGolden(t, snapshot(m))
	})
	t.Run("120x30", func(t *testing.T) {
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
		press(t, m, "o")
		requireGolden(t, snapshot(m))
	})
}

func TestMergeWholeResultView(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	s := m.top().(*mergeScreen)
	ours, _ := sides(t, s)
	press(t, m, "o", "v")
	view := snapshot(m)
	// The first conflict is decided (ours, "+"), the second is current
	// and undecided (">" with markers), and the clean lines are there.
	requireContains(t, view, "+ "+ours+" two", "> <<<<<<< ours", "> =======", "> >>>>>>> theirs", "  line 5", "title: Plan", "v this conflict")
	press(t, m, "v")
	requireContains(t, snapshot(m), "conflict 2 of 2")
}

// A hunk with a tab is not opened in the hand editor, whose textarea would
// turn the tab into spaces where nobody typed.
func TestMergeHandEditRefusesWhatItWouldChange(t *testing.T) {
	r := newRepo(t)
	base := "line 1\nline 2\nline 3\n"
	page := mustCreate(t, r, "Tabs", base)
	a := "line 1\nA\ttwo\nline 3\n"
	b := "line 1\nB two\nline 3\n"
	mustEdit(t, r, page, wiki.Edit{Body: &a})
	mustEdit(t, r, page, wiki.Edit{Body: &b, Parent: page})
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	s := m.top().(*mergeScreen)
	press(t, m, "e")
	if s.editing {
		t.Fatal("a hunk with a tab opened in the hand editor")
	}
	requireContains(t, snapshot(m), "not editable here")
	press(t, m, "o", "s")
	if heads, v := pageState(t, r, page); len(heads) != 1 || !strings.Contains(v.Body, "\t") && !strings.Contains(v.Body, "B two") {
		t.Fatalf("after o, s: %d heads, body %q", len(heads), v.Body)
	}
}

// TestMergeGolden80Hint pins the merge screen at 80 columns with a title
// conflict and the hint "b" gets there: the sides are named in full and
// the hint, which says which keys to press, is not cut (issue 16).
func TestMergeGolden80Hint(t *testing.T) {
	r := newRepo(t)
	page := titleConflict(t, r, "Plan", "body\n", "Plan A", "Plan B")
	m := newModel(t, r, func(o *Options) { o.MergePage = page })
	press(t, m, "b")
	view := snapshot(m)
	requireContains(t, view, "choose o or t, or e to write the title")
	requireGolden(t, view)
}

// TestMergeTellsTheSavedRevision: `merge PAGE` prints the revision the
// screen saved, as `resolve` prints its own (issue 16).
func TestMergeTellsTheSavedRevision(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	var saved cid.Cid
	m := newModel(t, r, func(o *Options) {
		o.MergePage = page
		o.Resolved = func(rev cid.Cid) { saved = rev }
	})
	press(t, m, "o", "t", "s")
	heads, _ := pageState(t, r, page)
	if len(heads) != 1 || !saved.Equals(heads[0]) {
		t.Fatalf("told of %v, the page's head is %v", saved, heads)
	}
}
