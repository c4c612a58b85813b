package tui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/merge"
	"peerwiki/ui/graph"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// historyScreen shows a page's revision DAG as a graph (heads marked), and
// under it the selected revision's content or its diff against a parent or
// against another revision; any revision can be restored as a new one.
type historyScreen struct {
	page    cid.Cid
	title   string
	entries []wiki.LogEntry
	graph   []string // drawn lines
	lineOf  []int    // the graph line of each entry
	heads   int
	// shallow: older revisions of the page are not here yet.
	shallow bool

	cursor  int  // selected entry
	diff    bool // preview shows a diff instead of the content
	parent  int  // which parent the diff is against
	compare int  // entry to diff against instead of a parent; -1 for none
	marking bool // the next selection picks the compare revision
	// markFrom is the revision selected when marking began.
	markFrom int
	offset   int

	preview     viewport.Model
	previewFor  string // what the preview holds, to keep its scroll
	previewHead string
	err         error
}

func newHistory(m *Model, page cid.Cid) *historyScreen {
	h := &historyScreen{page: page, compare: -1, preview: viewport.New(0, 0)}
	h.reload(m)
	return h
}

func (h *historyScreen) name() string { return "history of " + h.title }

func (h *historyScreen) reload(m *Model) {
	row, err := m.repo.Page(m.ctx, h.page)
	if err != nil {
		h.err = err
		return
	}
	entries, err := m.repo.Log(m.ctx, h.page)
	if err != nil {
		h.err = err
		return
	}
	keep := cid.Undef
	if h.cursor < len(h.entries) {
		keep = h.entries[h.cursor].Rev
	}
	cmpKeep := cid.Undef
	if h.compare >= 0 && h.compare < len(h.entries) {
		cmpKeep = h.entries[h.compare].Rev
	}
	h.shallow = false
	if shallow, err := m.repo.ReplicationStore().PageShallow(m.ctx, h.page); err == nil {
		h.shallow = shallow
	}
	h.title, h.entries, h.err = row.Title, entries, nil
	h.heads = 0
	h.cursor, h.compare = 0, -1
	for i, e := range entries {
		if e.Head {
			h.heads++
		}
		if e.Rev.Equals(keep) {
			h.cursor = i
		}
		if e.Rev.Equals(cmpKeep) {
			h.compare = i
		}
	}
	h.draw(m)
	h.previewFor = ""
}

// draw lays out the graph with the CLI's drawing (when given) and finds
// each entry's line in it.
func (h *historyScreen) draw(m *Model) {
	describe := func(e wiki.LogEntry) string {
		s := shortRev(e.Rev) + " " + minute(e.Time)
		if e.Head {
			s += " (head)"
		}
		if e.Deleted {
			s += " [deleted]"
		}
		if e.Auto {
			s += " [auto: " + e.Policy + "]"
		} else {
			s += " " + authorName(e.Name, e.Author)
		}
		if e.Message != "" {
			s += ": " + e.Message
		}
		return termtext.Line(s)
	}
	h.graph = drawGraph(h.entries, describe)
	// Entries come out in order, each on a line with a "*"; connector
	// lines have none.
	h.lineOf = h.lineOf[:0]
	for i, l := range h.graph {
		if len(h.lineOf) < len(h.entries) && strings.Contains(l, "* ") && strings.Contains(l, shortRev(h.entries[len(h.lineOf)].Rev)) {
			h.lineOf = append(h.lineOf, i)
		}
	}
	for len(h.lineOf) < len(h.entries) {
		h.lineOf = append(h.lineOf, len(h.graph)-1)
	}
	if h.shallow {
		h.graph = append(h.graph, shallowNote)
	}
}

// shallowNote ends the graph of a page whose older history is not here.
const shallowNote = "… older history not here yet (a shallow replica: 'peerwiki sync --unshallow' fetches it)"

func (h *historyScreen) update(m *Model, msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	n := len(h.entries)
	switch {
	case key.Matches(km, keyBack) && h.marking:
		h.marking, h.cursor = false, h.markFrom
	case key.Matches(km, keyBack):
		return m.pop()
	case key.Matches(km, keyUp):
		h.cursor = max(h.cursor-1, 0)
		h.parent = 0
	case key.Matches(km, keyDown):
		h.cursor = min(h.cursor+1, max(n-1, 0))
		h.parent = 0
	case key.Matches(km, keyTop):
		h.cursor, h.parent = 0, 0
	case key.Matches(km, keyBottom):
		h.cursor, h.parent = max(n-1, 0), 0
	case key.Matches(km, historyKeys.Toggle):
		if h.marking {
			// The diff is of the revision selected when c was pressed,
			// against the one chosen now.
			h.compare, h.cursor, h.marking, h.diff = h.cursor, h.markFrom, false, true
			break
		}
		h.diff = !h.diff
	case key.Matches(km, historyKeys.Parent):
		if n > 0 {
			ps := len(h.entries[h.cursor].Parents)
			if ps > 0 {
				h.parent = (h.parent + 1) % ps
			}
			h.compare, h.diff = -1, true
		}
	case key.Matches(km, historyKeys.Mark):
		if h.compare >= 0 {
			h.compare = -1
		} else {
			h.marking, h.markFrom = true, h.cursor
			m.setFlash("select the revision to compare with, then enter", false)
		}
	case key.Matches(km, historyKeys.Restore):
		if n > 0 {
			h.confirmRestore(m, h.entries[h.cursor])
		}
	case key.Matches(km, keyPgDown):
		h.preview.PageDown()
	case key.Matches(km, keyPgUp):
		h.preview.PageUp()
	}
	return nil
}

// confirmRestore makes a new revision with an old one's content. On a
// conflicted page the restore is the resolution: its parents are all the
// heads, so nothing is orphaned.
func (h *historyScreen) confirmRestore(m *Model, e wiki.LogEntry) {
	rev := e.Rev
	m.ask(fmt.Sprintf("Restore revision %s (%q) as a new revision?", shortRev(e.Rev), e.Title), func(m *Model) tea.Cmd {
		old, _, err := m.repo.RevisionVersion(m.ctx, rev)
		if err != nil {
			m.fail(err)
			return nil
		}
		msg := "restore " + shortRev(e.Rev)
		if h.heads > 1 {
			if old.Deleted {
				m.setFlash("restoring a deletion on a conflicted page: take the deleting head in the merge screen instead", true)
				return nil
			}
			_, err = m.repo.Resolve(m.ctx, h.page, wiki.Resolution{Title: &old.Title, Body: &old.Body, Msg: msg})
		} else if old.Deleted {
			_, err = m.repo.Delete(m.ctx, h.page, msg)
		} else {
			_, err = m.repo.Edit(m.ctx, h.page, wiki.Edit{Title: &old.Title, Body: &old.Body, Msg: msg})
		}
		if err != nil {
			m.fail(err)
			return nil
		}
		m.wrote()
		h.cursor = 0
		m.setFlash("restored "+shortRev(e.Rev)+" as a new revision", false)
		return nil
	})
}

func (h *historyScreen) keys(m *Model) []key.Binding {
	if h.marking {
		return []key.Binding{keyUp, keyDown, bind("enter", "compare with this", "enter"), bind("esc", "cancel", "esc")}
	}
	toggle := bind("enter", "show diff", "enter")
	if h.diff {
		toggle = bind("enter", "show content", "enter")
	}
	mark := historyKeys.Mark
	if h.compare >= 0 {
		mark = bind("c", "stop comparing", "c")
	}
	ks := []key.Binding{keyUp, keyDown, toggle}
	if h.cursor < len(h.entries) && len(h.entries[h.cursor].Parents) > 1 {
		ks = append(ks, historyKeys.Parent)
	}
	return append(ks, mark, historyKeys.Restore, bind("pgup/pgdn", "scroll", "pgdown"), keyBack)
}

func (h *historyScreen) view(m *Model, w, ht int) string {
	if h.err != nil {
		return m.st.errMsg.Render(oneLine(h.err.Error()))
	}
	if len(h.entries) == 0 {
		return "no revisions"
	}
	graphH := min(len(h.graph), max(ht/2-1, 3))
	sel := h.lineOf[h.cursor]
	if sel < h.offset {
		h.offset = sel
	}
	if sel >= h.offset+graphH {
		h.offset = sel - graphH + 1
	}
	h.offset = max(min(h.offset, len(h.graph)-graphH), 0)
	var lines []string
	cmpLine := -1
	if h.compare >= 0 {
		cmpLine = h.lineOf[h.compare]
	}
	for i := h.offset; i < len(h.graph) && i < h.offset+graphH; i++ {
		l := truncate(h.graph[i], w-2)
		switch i {
		case sel:
			lines = append(lines, "> "+m.st.selected.Render(l))
		case cmpLine:
			lines = append(lines, "= "+m.st.warn.Render(l))
		default:
			lines = append(lines, "  "+l)
		}
	}
	// The preview is read from the store only when what it shows changes,
	// not at every redraw.
	if k := fmt.Sprint(h.cursor, h.diff, h.parent, h.compare, w); k != h.previewFor {
		var content string
		h.previewFor = k
		h.previewHead, content = h.previewContent(m, w)
		h.preview.SetContent(content)
		h.preview.GotoTop()
	}
	rule := "── " + h.previewHead + " "
	rule = truncate(rule, w) + strings.Repeat("─", max(w-lipgloss.Width(rule), 0))
	lines = append(lines, m.st.bold.Render(rule))
	h.preview.Width, h.preview.Height = w, max(ht-len(lines), 1)
	return strings.Join(lines, "\n") + "\n" + h.preview.View()
}

// previewContent is the selected revision's content, or its diff.
func (h *historyScreen) previewContent(m *Model, w int) (string, string) {
	e := h.entries[h.cursor]
	cur, _, err := m.repo.RevisionVersion(m.ctx, e.Rev)
	if err != nil {
		return "error", oneLine(err.Error())
	}
	if !h.diff {
		head := "content of " + shortRev(e.Rev)
		body := cur.Body
		if cur.Deleted {
			body = "[deleted]\n\n" + body
		}
		return head, "# " + termtext.Line(cur.Title) + "\n\n" + termtext.Text(body)
	}
	var other wiki.Version
	var otherName string
	switch {
	case h.compare >= 0:
		otherName = shortRev(h.entries[h.compare].Rev)
		other, _, err = m.repo.RevisionVersion(m.ctx, h.entries[h.compare].Rev)
	case len(e.Parents) > 0:
		p := e.Parents[min(h.parent, len(e.Parents)-1)]
		otherName = "parent " + shortRev(p)
		if len(e.Parents) > 1 {
			otherName = fmt.Sprintf("parent %d of %d, %s", h.parent+1, len(e.Parents), shortRev(p))
		}
		other, _, err = m.repo.RevisionVersion(m.ctx, p)
	default:
		otherName = "nothing (the page's first revision)"
	}
	if err != nil && h.shallow && errors.Is(err, history.ErrNotFound) {
		return "diff of " + shortRev(e.Rev), "The revision before this one is not on this replica yet: it is shallow, and 'peerwiki sync --unshallow' fetches the history."
	}
	if err != nil {
		return "error", oneLine(err.Error())
	}
	head := fmt.Sprintf("diff %s → %s", otherName, shortRev(e.Rev))
	return head, renderDiff(m, other, cur)
}

// renderDiff shows what changed from a to b: the title, the deleted flag,
// and the body line by line (+ and - prefixes, coloured when allowed).
func renderDiff(m *Model, a, b wiki.Version) string {
	var out []string
	if a.Title != b.Title {
		out = append(out, m.st.del.Render("- title: "+termtext.Line(a.Title)), m.st.add.Render("+ title: "+termtext.Line(b.Title)), "")
	}
	if a.Deleted != b.Deleted {
		if b.Deleted {
			out = append(out, m.st.del.Render("- [page deleted]"), "")
		} else {
			out = append(out, m.st.add.Render("+ [page restored]"), "")
		}
	}
	edits := merge.DiffLines(a.Body, b.Body)
	changed := false
	for _, ed := range edits {
		line := bodyLine(ed.Line)
		switch ed.Op {
		case merge.Insert:
			changed = true
			out = append(out, m.st.add.Render("+ "+line))
		case merge.Delete:
			changed = true
			out = append(out, m.st.del.Render("- "+line))
		default:
			out = append(out, "  "+line)
		}
		// As diff says it: otherwise a change of the final line break
		// alone shows as a line removed and the same line added.
		if ed.Op != merge.Equal && !strings.HasSuffix(ed.Line, "\n") {
			out = append(out, m.st.dim.Render(`\ No newline at end of file`))
		}
	}
	if !changed && a.Title == b.Title && a.Deleted == b.Deleted {
		out = append(out, m.st.dim.Render("(no change in content)"))
	}
	return strings.Join(out, "\n")
}

// bodyLine is one line of a body for the screen: without its line end,
// quoted for the terminal.
func bodyLine(l string) string {
	return termtext.Text(strings.TrimRight(l, "\r\n"))
}

func (h *historyScreen) scrollPosition() string { return scrollPosition(h.preview) }

func (h *historyScreen) helpKeys(m *Model) []key.Binding {
	return []key.Binding{keyUp, keyDown, keyTop, keyBottom, historyKeys.Toggle,
		bind("p", "diff against the next parent (a merge)", "p"), bind("c", "compare with another revision (c again stops)", "c"),
		historyKeys.Restore, bind("pgup/pgdn", "scroll the preview", "pgdown"), keyBack}
}

// drawGraph draws the history screen's DAG (graph.Lines). The screen's
// golden tests draw with a stand-in: the real drawing of a fork depends on
// the order of its parents' CIDs, which differ in every run.
var drawGraph = graph.Lines
