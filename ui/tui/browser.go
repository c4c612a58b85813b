package tui

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/ipfs/go-cid"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// browser is the page list: filter as you type over titles, full-text
// search over titles and bodies, sort by title or by recent change, and
// the page actions (new, rename, delete).
type browser struct {
	pages []wiki.PageInfo // everything loaded, by title
	// large is set once the wiki had more pages than firstScreen: the
	// list is then read in the background. partial is set while pages
	// holds only the first of them; gen numbers the loads, so that an
	// older one that ends last is dropped.
	large, partial bool
	gen            int

	items   []browserItem // what is shown, in order
	cursor  int
	offset  int
	recent  bool // sort by last change instead of title
	deleted bool // show deleted pages too

	input  textinput.Model
	mode   inputMode // what the input line is for, when focused
	filter string
	// query is the full-text search in force ("" = none); hits are its
	// results, by page id, with their snippets.
	query string
	hits  map[cid.Cid]string
}

type inputMode int

const (
	inputNone inputMode = iota
	inputFilter
	inputSearch
)

type browserItem struct {
	page    wiki.PageInfo
	snippet string
}

func newBrowser(m *Model) *browser {
	b := &browser{input: textinput.New()}
	b.input.Prompt = ""
	b.reload(m)
	return b
}

func (b *browser) name() string { return "pages" }

// firstScreen is how many pages the browser reads before it first
// draws: more than a screen shows, and few enough to read at once in a
// wiki of any size (FirstPages reads no more than these).
const firstScreen = 200

// reload re-reads the page list, keeping the cursor on the same page. A
// wiki of at most firstScreen pages is read at once. A larger one is read
// in the background (List at 100,000 pages takes about a second), after
// its first firstScreen pages the first time, so that the first screen
// shows at once; meanwhile the screen shows what it has.
func (b *browser) reload(m *Model) {
	if !b.large {
		pages, err := m.repo.FirstPages(m.ctx, true, firstScreen+1)
		if err != nil {
			m.fail(err)
			return
		}
		if len(pages) <= firstScreen {
			b.show(m, pages)
			return
		}
		b.large = true
		if b.pages == nil {
			b.pages, b.partial = pages[:firstScreen], true
			b.refilter(b.selectedID())
		}
	}
	b.gen++
	load := pageList{b: b, gen: b.gen}
	repo, ctx := m.repo, m.ctx
	m.runLater(func() tea.Msg {
		load.pages, load.err = repo.List(ctx, true, false)
		return load
	})
}

// show puts pages on the screen, keeping the cursor on the same page.
func (b *browser) show(m *Model, pages []wiki.PageInfo) {
	keep := b.selectedID()
	b.pages, b.partial = pages, false
	if b.query != "" {
		b.runSearch(m, b.query)
	}
	b.refilter(keep)
}

// pageList is the whole page list, read in the background for b.
type pageList struct {
	b     *browser
	gen   int
	pages []wiki.PageInfo
	err   error
}

func (l pageList) apply(m *Model) {
	switch {
	case l.gen != l.b.gen: // a later load is on its way
	case l.err != nil:
		m.fail(l.err)
	default:
		l.b.show(m, l.pages)
	}
}

func (b *browser) selectedID() cid.Cid {
	if b.cursor >= 0 && b.cursor < len(b.items) {
		return b.items[b.cursor].page.ID
	}
	return cid.Undef
}

func (b *browser) selected() (wiki.PageInfo, bool) {
	if b.cursor >= 0 && b.cursor < len(b.items) {
		return b.items[b.cursor].page, true
	}
	return wiki.PageInfo{}, false
}

// refilter rebuilds the shown items from the pages, the filter, the
// search hits and the sort order, and puts the cursor back on keep.
func (b *browser) refilter(keep cid.Cid) {
	words := strings.Fields(strings.ToLower(b.filter))
	b.items = b.items[:0]
	for _, p := range b.pages {
		// A deleted page with a conflict is still live: someone edited it.
		if p.Deleted && !p.Conflict && !b.deleted {
			continue
		}
		snippet := ""
		if b.query != "" {
			s, ok := b.hits[p.ID]
			if !ok {
				continue
			}
			snippet = s
		}
		title := strings.ToLower(p.Title)
		match := true
		for _, w := range words {
			if !strings.Contains(title, w) {
				match = false
				break
			}
		}
		if match {
			b.items = append(b.items, browserItem{page: p, snippet: snippet})
		}
	}
	if b.recent {
		sort.SliceStable(b.items, func(i, j int) bool { return b.items[i].page.Updated.After(b.items[j].page.Updated) })
	}
	if len(words) > 0 {
		slices.SortStableFunc(b.items, func(x, y browserItem) int {
			return filterRank(x.page.Title, words) - filterRank(y.page.Title, words)
		})
	}
	b.cursor = min(b.cursor, max(len(b.items)-1, 0))
	for i, it := range b.items {
		if it.page.ID.Equals(keep) {
			b.cursor = i
			break
		}
	}
}

// filterRank orders the titles a filter matches: the title itself first,
// then titles that start with it, then those where each word starts a
// word ("note 2" finds "Note 2" before "Note 12"), then the rest.
func filterRank(title string, words []string) int {
	t, f := wiki.NormTitle(title), strings.Join(words, " ")
	switch {
	case t == f:
		return 0
	case strings.HasPrefix(t, f):
		return 1
	}
	starts := strings.Fields(t)
	for _, w := range words {
		if !slices.ContainsFunc(starts, func(s string) bool { return strings.HasPrefix(s, w) }) {
			return 3
		}
	}
	return 2
}

func (b *browser) runSearch(m *Model, q string) {
	const limit = 500
	hits, err := m.repo.Search(m.ctx, q, limit+1)
	if err != nil {
		m.fail(err)
		return
	}
	if len(hits) > limit {
		hits = hits[:limit]
		m.setFlash(fmt.Sprintf("showing the %d most recently changed matches; more pages match", limit), false)
	}
	b.query = q
	b.hits = map[cid.Cid]string{}
	for _, h := range hits {
		b.hits[h.Page] = h.Snippet
	}
}

func (b *browser) update(m *Model, msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if b.mode != inputNone {
		return b.updateInput(m, km)
	}
	switch {
	case key.Matches(km, keyUp):
		b.cursor = max(b.cursor-1, 0)
	case key.Matches(km, keyDown):
		b.cursor = min(b.cursor+1, max(len(b.items)-1, 0))
	case key.Matches(km, keyPgUp):
		b.cursor = max(b.cursor-10, 0)
	case key.Matches(km, keyPgDown):
		b.cursor = min(b.cursor+10, max(len(b.items)-1, 0))
	case key.Matches(km, keyTop):
		b.cursor = 0
	case key.Matches(km, keyBottom):
		b.cursor = max(len(b.items)-1, 0)
	case key.Matches(km, browserKeys.Open):
		if p, ok := b.selected(); ok {
			m.push(newViewer(m, p.ID))
		}
	case key.Matches(km, browserKeys.Filter):
		b.mode = inputFilter
		b.input.SetValue(b.filter)
		b.input.CursorEnd()
		return b.input.Focus()
	case key.Matches(km, browserKeys.Search):
		b.mode = inputSearch
		b.input.SetValue(b.query)
		b.input.CursorEnd()
		return b.input.Focus()
	case key.Matches(km, keyCancel) && (b.filter != "" || b.query != ""):
		keep := b.selectedID()
		b.filter, b.query, b.hits = "", "", nil
		b.refilter(keep)
	case key.Matches(km, browserKeys.Sort):
		b.recent = !b.recent
		b.refilter(b.selectedID())
	case key.Matches(km, browserKeys.Deleted):
		b.deleted = !b.deleted
		b.refilter(b.selectedID())
	case key.Matches(km, browserKeys.New):
		return m.askText("Title of the new page:", "", func(m *Model, title string) tea.Cmd {
			return openNewPage(m, title)
		})
	case key.Matches(km, keyEdit):
		if p, ok := b.selected(); ok {
			return openEditor(m, p.ID)
		}
	case key.Matches(km, browserKeys.Rename):
		if p, ok := b.selected(); ok {
			return b.rename(m, p)
		}
	case key.Matches(km, browserKeys.Delete):
		if p, ok := b.selected(); ok {
			b.confirmDelete(m, p)
		}
	case key.Matches(km, keyHistory):
		if p, ok := b.selected(); ok {
			m.push(newHistory(m, p.ID))
		}
	case key.Matches(km, keyMerge):
		if p, ok := b.selected(); ok {
			return openMerge(m, p)
		}
	case key.Matches(km, browserKeys.Invite) && m.opts.Invite != nil:
		invite(m)
	case key.Matches(km, keyQuit):
		return tea.Quit
	}
	return nil
}

// updateInput handles keys while the filter or search line has focus:
// the filter applies at every key; a search runs on enter. The arrow keys
// still move the selection, so "type, arrow, enter" opens a page.
func (b *browser) updateInput(m *Model, km tea.KeyMsg) tea.Cmd {
	switch km.Type {
	case tea.KeyEsc:
		b.input.Blur()
		if b.mode == inputFilter {
			b.filter = ""
		} else {
			b.query, b.hits = "", nil
		}
		b.mode = inputNone
		b.refilter(b.selectedID())
		return nil
	case tea.KeyEnter:
		b.input.Blur()
		mode := b.mode
		b.mode = inputNone
		if mode == inputSearch {
			q := strings.TrimSpace(b.input.Value())
			if q == "" {
				b.query, b.hits = "", nil
			} else {
				b.runSearch(m, q)
			}
			b.cursor = 0
			b.refilter(cid.Undef)
		}
		return nil
	case tea.KeyUp:
		b.cursor = max(b.cursor-1, 0)
		return nil
	case tea.KeyDown:
		b.cursor = min(b.cursor+1, max(len(b.items)-1, 0))
		return nil
	}
	var cmd tea.Cmd
	b.input, cmd = b.input.Update(km)
	if b.mode == inputFilter && b.input.Value() != b.filter {
		b.filter = b.input.Value()
		b.cursor = 0
		b.refilter(cid.Undef)
	}
	return cmd
}

func (b *browser) rename(m *Model, p wiki.PageInfo) tea.Cmd {
	if p.Conflict {
		m.setFlash(fmt.Sprintf("%q has %d heads: merge it first (m)", p.Title, len(p.Heads)), true)
		return nil
	}
	id := p.ID
	// The text input cannot show every title as it is: it starts from the
	// quoted form, which is then what a rename saves.
	return m.askText("New title:", termtext.Line(p.Title), func(m *Model, title string) tea.Cmd {
		if title == p.Title {
			return nil
		}
		if _, err := m.repo.Edit(m.ctx, id, wiki.Edit{Title: &title, Msg: "rename"}); err != nil {
			m.fail(err)
			return nil
		}
		m.wrote()
		m.setFlash(fmt.Sprintf("renamed to %q", title), false)
		offerLinkUpdate(m, id, p.Title, title)
		return nil
	})
}

// offerLinkUpdate asks, after a rename, whether the pages that link to
// the old title should link to the new one; links are by title, and no
// page has the old one any more.
func offerLinkUpdate(m *Model, page cid.Cid, old, title string) {
	if wiki.NormTitle(old) == wiki.NormTitle(title) {
		return
	}
	if still, err := m.repo.LivePagesTitled(m.ctx, old); err != nil || len(still) > 0 {
		return
	}
	refs, err := m.repo.LinksTo(m.ctx, old, page)
	if err != nil || len(refs) == 0 {
		return
	}
	n := fmt.Sprintf("%d %s", len(refs), plural(len(refs), "page links", "pages link"))
	m.ask(fmt.Sprintf("%s to %q. Make %s link to %q?", n, old, plural(len(refs), "it", "them"), title), func(m *Model) tea.Cmd {
		res, err := m.repo.UpdateLinks(m.ctx, page, old, title)
		if err != nil {
			m.fail(err)
			return nil
		}
		m.wrote()
		msg := fmt.Sprintf("links updated in %d %s", len(res.Updated), plural(len(res.Updated), "page", "pages"))
		if len(res.Skipped) > 0 {
			msg += fmt.Sprintf("; %d in conflict not updated", len(res.Skipped))
		}
		m.setFlash(msg, false)
		return nil
	})
}

func (b *browser) confirmDelete(m *Model, p wiki.PageInfo) {
	if p.Deleted && !p.Conflict {
		m.setFlash(fmt.Sprintf("%q is already deleted (restore it from its history: h)", p.Title), true)
		return
	}
	if p.Conflict {
		m.setFlash(fmt.Sprintf("%q has %d heads: merge it first (m)", p.Title, len(p.Heads)), true)
		return
	}
	id := p.ID
	m.ask(fmt.Sprintf("Delete %q? Its history stays and it can be restored.", p.Title), func(m *Model) tea.Cmd {
		if _, err := m.repo.Delete(m.ctx, id, "delete"); err != nil {
			m.fail(err)
			return nil
		}
		m.wrote()
		m.setFlash(fmt.Sprintf("deleted %q", p.Title), false)
		return nil
	})
}

func (b *browser) keys(m *Model) []key.Binding {
	if b.mode == inputFilter {
		return []key.Binding{bind("type", "to filter", "x"), bind("↑/↓", "select", "up"), bind("enter", "done", "enter"), bind("esc", "clear", "esc")}
	}
	if b.mode == inputSearch {
		return []key.Binding{bind("type", "words, \"phrase\", pre*", "x"), bind("enter", "search", "enter"), bind("esc", "clear", "esc")}
	}
	ks := []key.Binding{keyUp, keyDown, browserKeys.Open, browserKeys.Filter, browserKeys.Search, browserKeys.Sort,
		browserKeys.New, keyEdit, browserKeys.Rename, browserKeys.Delete, keyHistory}
	if p, ok := b.selected(); ok && p.Conflict {
		ks = append(ks, keyMerge)
	}
	deleted := browserKeys.Deleted
	if b.deleted {
		deleted = bind("x", "hide deleted", "x")
	}
	ks = append(ks, deleted)
	if b.filter != "" || b.query != "" {
		ks = append(ks, bind("esc", "clear filter", "esc"))
	}
	if m.opts.Invite != nil {
		ks = append(ks, browserKeys.Invite)
	}
	return append(ks, keyQuit)
}

// invite shares the wiki and shows a join code for a new member.
func invite(m *Model) {
	code, err := m.opts.Invite()
	if err != nil {
		m.fail(err)
		return
	}
	m.refreshStatus()
	m.setFlash("join code, for a new member only (it grants the whole wiki): "+code, false)
}

func (b *browser) view(m *Model, w, h int) string {
	var head []string
	order := "by title"
	if b.recent {
		order = "by recent change"
	}
	summary := fmt.Sprintf("%d %s, %s", len(b.items), plural(len(b.items), "page", "pages"), order)
	if b.partial {
		summary = fmt.Sprintf("%d %s so far, %s (reading the rest…)", len(b.items), plural(len(b.items), "page", "pages"), order)
	}
	switch {
	case b.mode == inputFilter:
		head = append(head, "filter: "+b.input.View())
	case b.mode == inputSearch:
		head = append(head, "search: "+b.input.View())
	case b.filter != "":
		head = append(head, m.st.dim.Render("filter: "+termtext.Line(b.filter)))
	}
	if b.query != "" && b.mode != inputSearch {
		head = append(head, m.st.dim.Render(fmt.Sprintf("search: %s", termtext.Line(b.query))))
	}
	head = append(head, m.st.dim.Render(summary))
	rows := h - len(head)
	var lines []string
	if len(b.items) == 0 {
		msg := "No pages yet: press n to write the first one."
		if len(b.pages) > 0 {
			msg = "No page matches."
		}
		lines = append(lines, m.st.dim.Render(msg))
	}
	per := 1
	if b.query != "" {
		per = 2 // title and snippet
	}
	visible := max(rows/per, 1)
	if b.cursor < b.offset {
		b.offset = b.cursor
	}
	if b.cursor >= b.offset+visible {
		b.offset = b.cursor - visible + 1
	}
	b.offset = max(min(b.offset, len(b.items)-visible), 0)
	for i := b.offset; i < len(b.items) && i < b.offset+visible; i++ {
		it := b.items[i]
		lines = append(lines, b.row(m, it, i == b.cursor, w))
		if per == 2 {
			lines = append(lines, "    "+m.st.dim.Render(truncate(oneLine(it.snippet), w-4)))
		}
	}
	return strings.Join(append(head, lines...), "\n")
}

// row is one page: a cursor marker (the selection must show without
// colour too), the title, markers, and when it last changed.
func (b *browser) row(m *Model, it browserItem, selected bool, w int) string {
	p := it.page
	cursor := "  "
	if selected {
		cursor = "> "
	}
	var marks []string
	if p.Conflict {
		marks = append(marks, fmt.Sprintf("[conflict: %d heads]", len(p.Heads)))
	}
	if p.Deleted {
		marks = append(marks, "[deleted]")
	}
	when := ""
	if !p.Updated.IsZero() {
		when = minute(p.Updated)
	}
	mark := strings.Join(marks, " ")
	titleW := w - 2 - len(when) - 2 - len(mark) - 1
	title := truncate(termtext.Line(p.Title), max(titleW, 8))
	pad := max(w-2-lipgloss.Width(title)-len(mark)-len(when)-2, 1)
	if mark != "" {
		pad--
	}
	line := cursor + title
	if selected {
		line = cursor + m.st.selected.Render(title)
	}
	if mark != "" {
		style := m.st.conflict
		if !p.Conflict {
			style = m.st.dim
		}
		line += " " + style.Render(mark)
	}
	return line + strings.Repeat(" ", pad) + m.st.dim.Render(when)
}

// openMerge opens the merge screen of a conflicted page.
func openMerge(m *Model, p wiki.PageInfo) tea.Cmd {
	if !p.Conflict {
		m.setFlash(fmt.Sprintf("%q has no conflict", p.Title), false)
		return nil
	}
	m.push(newMergeScreen(m, p.ID))
	return nil
}

// openNewPage starts the editor on a page that does not exist yet.
func openNewPage(m *Model, title string) tea.Cmd {
	if err := wiki.CheckTitle(title); err != nil {
		m.fail(err)
		return nil
	}
	// Titles may collide in a replicated wiki, but making a second page
	// by accident is not what "new" means: an existing page is opened.
	row, err := m.repo.FindPage(m.ctx, title)
	switch {
	case err == nil && !row.Deleted:
		m.push(newViewer(m, row.ID))
		m.setFlash(fmt.Sprintf("%q exists already: here it is", row.Title), false)
		return nil
	case errors.Is(err, wiki.ErrAmbiguous):
		m.fail(err)
		return nil
	}
	e := newEditor(m, cid.Undef, cid.Undef, title, "")
	m.push(e)
	return e.focus()
}

// oneLine puts a snippet or an error on one line, quoted for the terminal.
func oneLine(s string) string { return termtext.Line(strings.Join(strings.Fields(s), " ")) }

func (b *browser) typing() bool { return b.mode != inputNone }

func (b *browser) helpKeys(m *Model) []key.Binding {
	ks := []key.Binding{keyUp, keyDown, keyPgUp, keyPgDown, keyTop, keyBottom, browserKeys.Open, browserKeys.Filter,
		browserKeys.Search, bind("esc", "clear the filter or search", "esc"), browserKeys.Sort, browserKeys.New, keyEdit,
		browserKeys.Rename, browserKeys.Delete, keyHistory, bind("m", "merge (a page in conflict)", "m"),
		bind("x", "show or hide deleted pages", "x")}
	if m.opts.Invite != nil {
		ks = append(ks, bind("i", "invite: share the wiki, show a join code", "i"))
	}
	return append(ks, keyQuit)
}
