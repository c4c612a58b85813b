package tui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"peerwiki/history"
	"peerwiki/ui/graph"
	"peerwiki/wiki"
)

// graphForTest draws like graph.Lines for a linear or merged history,
// enough to check the screen finds each revision's line, and the same in
// every run (see drawGraph).
func graphForTest(entries []wiki.LogEntry, describe func(wiki.LogEntry) string) []string {
	var out []string
	for _, e := range entries {
		out = append(out, "* "+describe(e))
		if len(e.Parents) > 1 {
			out = append(out, "|\\")
		}
	}
	return out
}

// withStandInGraph draws history with graphForTest for the test.
func withStandInGraph(t *testing.T) {
	t.Helper()
	drawGraph = graphForTest
	t.Cleanup(func() { drawGraph = graph.Lines })
}

func TestHistoryDiffAndRestore(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	page := mustCreate(t, r, "Notes", "alpha\nbeta\n")
	second := "alpha\nBETA\ngamma\n"
	mustEdit(t, r, page, wiki.Edit{Body: &second, Msg: "caps"})
	withStandInGraph(t)
	m := newModel(t, r)
	press(t, m, "h")
	h, ok := m.top().(*historyScreen)
	if !ok {
		t.Fatalf("h opened %T", m.top())
	}
	if len(h.entries) != 2 || !h.entries[0].Head {
		t.Fatalf("entries %+v", h.entries)
	}
	view := snapshot(m)
	requireContains(t, view, "(head)", "caps", "content of")
	press(t, m, "enter")
	requireContains(t, snapshot(m), "diff parent", "- beta", "+ BETA", "+ gamma", "  alpha")

	// Compare the head with the first revision.
	press(t, m, "c", "j", "enter")
	if h.compare != 1 || h.cursor != 0 {
		t.Fatalf("compare %d cursor %d", h.compare, h.cursor)
	}
	requireContains(t, snapshot(m), "diff bafy… → bafy…", "+ gamma")

	press(t, m, "c", "j", "r", "y") // restore the first revision
	heads, err := r.Heads(ctx, page)
	if err != nil || len(heads) != 1 {
		t.Fatal(heads, err)
	}
	v, _, _ := r.RevisionVersion(ctx, heads[0])
	if v.Body != "alpha\nbeta\n" {
		t.Fatalf("restored body %q", v.Body)
	}
	if len(h.entries) != 3 || !strings.Contains(h.entries[0].Message, "restore") {
		t.Fatalf("history not reloaded after the restore: %+v", h.entries[0])
	}
}

func TestHistoryRestoreOnAConflictResolves(t *testing.T) {
	r := newRepo(t)
	page, _ := conflicted(t, r, "Plan")
	m := newModel(t, r)
	press(t, m, "h", "G", "r", "y") // the genesis
	heads, v := pageState(t, r, page)
	if len(heads) != 1 || !strings.Contains(v.Body, "line 2\n") {
		t.Fatalf("%d heads, body %q", len(heads), v.Body)
	}
	rev, _ := r.Revision(context.Background(), heads[0])
	if len(rev.Parents) != 2 {
		t.Fatalf("restore on a conflicted page has %d parents, want both heads", len(rev.Parents))
	}
}

// TestHistoryGolden pins the history screen's layout: a page edited,
// forked and resolved, with its log, the marks of the head and of the
// merge, and the diff of the selected revision. (The graph is drawn by
// graphForTest: the CLI's graph lives in ui/cli, which imports this
// package.)
func TestHistoryGolden(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	page := mustCreate(t, r, "Notes", "alpha\nbeta\n")
	two := "alpha\nBETA\n"
	mustEdit(t, r, page, wiki.Edit{Body: &two, Msg: "caps"})
	fork := "alpha\nbeta\ngamma\n"
	mustEdit(t, r, page, wiki.Edit{Body: &fork, Parent: page, Msg: "offline"})
	merged := "alpha\nBETA\ngamma\n"
	if _, err := r.Resolve(ctx, page, wiki.Resolution{Body: &merged, Msg: "both"}); err != nil {
		t.Fatal(err)
	}
	withStandInGraph(t)
	m := newModel(t, r)
	press(t, m, "h")
	if _, ok := m.top().(*historyScreen); !ok {
		t.Fatalf("h opened %T", m.top())
	}
	requireGolden(t, snapshot(m))
}

// TestHistoryDiffSaysNoNewline: a change of the final line break alone is
// not an identical line removed and added (issue 16).
func TestHistoryDiffSaysNoNewline(t *testing.T) {
	r := newRepo(t)
	page := mustCreate(t, r, "Notes", "one\ntwo")
	body := "one\ntwo\n"
	mustEdit(t, r, page, wiki.Edit{Body: &body})
	m := newModel(t, r)
	press(t, m, "h", "enter")
	view := trimLines(snapshot(m))
	want := "- two\n\\ No newline at end of file\n+ two\n"
	if !strings.Contains(view, want) {
		t.Fatalf("diff lacks %q:\n%s", want, view)
	}
}

// TestHistoryRuleFitsTheWidth: the line above the preview fills the
// width exactly, not cut with "…" (issue 16).
func TestHistoryRuleFitsTheWidth(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Notes", "alpha\n")
	m := newModel(t, r)
	press(t, m, "h")
	for _, w := range []int{80, 120} {
		m.Update(tea.WindowSizeMsg{Width: w, Height: 30})
		for _, toggle := range []string{"content", "diff"} {
			var rule string
			for _, l := range strings.Split(m.View(), "\n") {
				if strings.HasPrefix(l, "── ") {
					rule = l
				}
			}
			if lipgloss.Width(rule) != w || strings.HasSuffix(rule, "…") || !strings.HasSuffix(rule, "──") {
				t.Errorf("%d columns, %s: rule %q is %d wide", w, toggle, rule, lipgloss.Width(rule))
			}
			press(t, m, "enter")
		}
	}
}

// On a shallow replica (joined with --shallow) the history of a page says
// that its older revisions are not here yet, and the diff of its oldest
// revision here says why it cannot be shown, instead of an error.
func TestHistoryOfAShallowPage(t *testing.T) {
	ctx := context.Background()
	a := newRepo(t)
	page := mustCreate(t, a, "Notes", "one\n")
	for _, body := range []string{"two\n", "three\n"} {
		mustEdit(t, a, page, wiki.Edit{Body: &body})
	}
	b, err := wiki.InitReplica(filepath.Join(t.TempDir(), "bob"), "bob", a.Config.Wiki, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := a.AddMember(ctx, b.ID.ID, "bob", wiki.RoleMember); err != nil {
		t.Fatal(err)
	}
	src, dst := a.ReplicationStore(), b.ReplicationStore()
	plan, err := src.PlanShallow(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []history.Block
	if err := src.SendPlan(ctx, plan, func(bl history.Block) error { blocks = append(blocks, bl); return nil }); err != nil {
		t.Fatal(err)
	}
	checked, err := dst.Check(blocks)
	if err != nil {
		t.Fatal(err)
	}
	checked.AllowShallow()
	if _, err := dst.PutChecked(ctx, checked); err != nil {
		t.Fatal(err)
	}
	if shallow, err := dst.PageShallow(ctx, page); err != nil || !shallow {
		t.Fatalf("the page is not shallow on the replica (%v)", err)
	}
	withStandInGraph(t)
	m := newModel(t, b)
	m.push(newHistory(m, page))
	requireContains(t, snapshot(m), "older history not here yet", "content of")
	press(t, m, "enter")
	view := snapshot(m)
	requireContains(t, view, "not on this replica yet")
	if strings.Contains(view, "error") {
		t.Fatalf("the diff of a shallow page shows an error:\n%s", view)
	}
}
