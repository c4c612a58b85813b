package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/ipfs/go-cid"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// viewer shows one page rendered as Markdown, then its [[links]] and
// backlinks, which tab selects and enter follows. A conflicted page shows
// every head's version, one after the other.
type viewer struct {
	page    cid.Cid
	pv      *wiki.PageView
	err     error
	vp      viewport.Model
	targets []linkTarget
	sel     int // index into targets, -1 for none

	// The rendered content is kept until the page or the width changes.
	content      string
	contentWidth int
	linkLine     []int // the content line of each target
	// pendingScroll asks the next render to bring the selected link into view.
	pendingScroll bool
}

// linkTarget is a followable link: a [[title]] in the body, or a page that
// links here.
type linkTarget struct {
	title   string
	id      cid.Cid // defined for backlinks
	back    bool
	missing bool // a link to a page that does not exist (yet)
}

func newViewer(m *Model, page cid.Cid) *viewer {
	v := &viewer{page: page, sel: -1, vp: viewport.New(0, 0)}
	v.reload(m)
	return v
}

func (v *viewer) name() string {
	if v.pv == nil {
		return "page"
	}
	return v.pv.Title
}

func (v *viewer) reload(m *Model) {
	row, err := m.repo.Page(m.ctx, v.page)
	if err != nil {
		v.err = err
		return
	}
	pv, err := m.repo.View(m.ctx, row)
	if err != nil {
		v.err = err
		return
	}
	keep := ""
	if v.sel >= 0 && v.sel < len(v.targets) {
		keep = v.targets[v.sel].title
	}
	v.pv, v.err = pv, nil
	v.targets = v.targets[:0]
	for _, l := range pv.Links {
		v.targets = append(v.targets, linkTarget{title: l, missing: slices.Contains(pv.MissingLinks, l)})
	}
	for _, b := range pv.Backlinks {
		v.targets = append(v.targets, linkTarget{title: b.Title, id: b.ID, back: true})
	}
	v.sel = -1
	for i, t := range v.targets {
		if t.title == keep {
			v.sel = i
		}
	}
	v.contentWidth = 0 // render again at the next View
}

func (v *viewer) update(m *Model, msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	switch {
	case key.Matches(km, keyBack):
		return m.pop()
	case key.Matches(km, viewerKeys.NextLink):
		if len(v.targets) > 0 {
			v.sel = (v.sel + 1) % len(v.targets)
			v.contentWidth = 0
			v.scrollToLink()
		}
	case key.Matches(km, viewerKeys.PrevLink):
		if len(v.targets) > 0 {
			v.sel = (v.sel - 1 + len(v.targets)) % len(v.targets)
			v.contentWidth = 0
			v.scrollToLink()
		}
	case key.Matches(km, viewerKeys.Follow):
		if v.sel >= 0 && v.sel < len(v.targets) {
			return v.follow(m, v.targets[v.sel])
		}
		m.setFlash("tab selects a link first", false)
	case key.Matches(km, keyEdit):
		return openEditor(m, v.page)
	case key.Matches(km, keyHistory):
		m.push(newHistory(m, v.page))
	case key.Matches(km, keyMerge):
		if v.pv != nil {
			return openMerge(m, v.pv.PageInfo)
		}
	default:
		scroll(&v.vp, km)
	}
	return nil
}

// scrollToLink brings the selected link's line into view; the content is
// rendered again first, since the selection marker is part of it.
func (v *viewer) scrollToLink() {
	v.pendingScroll = true
}

// follow opens the page a link names; a link to a page that does not
// exist yet offers to write it, as a wiki does.
func (v *viewer) follow(m *Model, t linkTarget) tea.Cmd {
	if t.id.Defined() {
		m.push(newViewer(m, t.id))
		return nil
	}
	row, err := m.repo.FindPage(m.ctx, t.title)
	switch {
	case err == nil:
		m.push(newViewer(m, row.ID))
	case errors.Is(err, wiki.ErrNotFound):
		m.ask(fmt.Sprintf("There is no page %q yet. Write it?", t.title), func(m *Model) tea.Cmd {
			return openNewPage(m, t.title)
		})
	default:
		m.fail(err)
	}
	return nil
}

func (v *viewer) keys(m *Model) []key.Binding {
	return v.bindings(bind("↑/↓ pgup/pgdn", "scroll", "down"))
}

func (v *viewer) helpKeys(m *Model) []key.Binding {
	return v.bindings(keyUp, keyDown, keyPgUp, keyPgDown, keyTop, keyBottom)
}

// bindings are the viewer's keys after the scrolling ones given.
func (v *viewer) bindings(scroll ...key.Binding) []key.Binding {
	ks := scroll
	if len(v.targets) > 0 {
		ks = append(ks, viewerKeys.NextLink, viewerKeys.PrevLink, viewerKeys.Follow)
	}
	ks = append(ks, keyEdit, keyHistory)
	if v.pv != nil && v.pv.Conflict {
		ks = append(ks, keyMerge)
	}
	return append(ks, keyBack)
}

func (v *viewer) view(m *Model, w, h int) string {
	if v.err != nil {
		return m.st.errMsg.Render(oneLine(v.err.Error()))
	}
	if v.pv == nil {
		return ""
	}
	v.vp.Width, v.vp.Height = w, h
	if v.contentWidth != w {
		v.render(m, w)
		if v.pendingScroll {
			v.pendingScroll = false
			if v.sel >= 0 && v.sel < len(v.linkLine) {
				line := v.linkLine[v.sel]
				if line < v.vp.YOffset || line >= v.vp.YOffset+h {
					v.vp.SetYOffset(max(line-h/2, 0))
				}
			}
		}
	}
	return v.vp.View()
}

// render builds the viewport's content: a header, the body (every head's
// version for a conflicted page), the links and the backlinks.
func (v *viewer) render(m *Model, w int) {
	pv := v.pv
	var b strings.Builder
	meta := fmt.Sprintf("updated %s · policy %s · %s", minute(pv.Updated), termtext.Line(pv.Policy), shortRev(pv.ID))
	b.WriteString(m.st.bold.Render(termtext.Line(pv.Title)) + "\n" + m.st.dim.Render(truncate(meta, w)) + "\n")
	if pv.Deleted && !pv.Conflict {
		b.WriteString(m.st.warn.Render("[deleted] This page is deleted; editing it (e) restores it.") + "\n")
	}
	if m.opts.Presence != nil {
		for _, ed := range m.opts.Presence(v.page) {
			since := ed.Since.Format("15:04")
			b.WriteString(m.st.warn.Render(truncate(fmt.Sprintf("[being edited by %s since %s]", termtext.Line(ed.Name), since), w)) + "\n")
		}
	}
	if pv.Conflict {
		b.WriteString(m.st.conflict.Render(fmt.Sprintf("[conflict: %d heads] Edits were made concurrently; press m to merge them.", len(pv.Versions))) + "\n")
		for i, ver := range pv.Versions {
			head := fmt.Sprintf("── version %d of %d: %s by %s, %s", i+1, len(pv.Versions), shortRev(ver.Rev), authorName(ver.Name, ver.Author),
				ver.Time.UTC().Format("2006-01-02T15:04"))
			if ver.Deleted {
				head += " [deleted]"
			}
			if ver.Title != pv.Title {
				head += fmt.Sprintf(" (title %q)", ver.Title)
			}
			b.WriteString("\n" + m.st.warn.Render(truncate(head, w)) + "\n")
			b.WriteString(m.md.render(ver.Body, w, pv.MissingLinks) + "\n")
		}
	} else {
		b.WriteString("\n" + m.md.render(pv.Body, w, pv.MissingLinks) + "\n")
	}
	v.linkLine = v.linkLine[:0]
	lineNo := func() int { return strings.Count(b.String(), "\n") }
	section := func(title string, back bool) {
		first := true
		for i, t := range v.targets {
			if t.back != back {
				continue
			}
			if first {
				b.WriteString("\n" + m.st.bold.Render(title) + "\n")
				first = false
			}
			for len(v.linkLine) <= i {
				v.linkLine = append(v.linkLine, 0)
			}
			v.linkLine[i] = lineNo()
			marker := "  "
			label := termtext.Line(t.title)
			if i == v.sel {
				marker = "> "
				label = m.st.selected.Render(label)
			}
			if t.missing {
				// A wiki's red link, said in words too.
				label += " " + m.st.conflict.Render("(no page yet: enter writes it)")
			}
			b.WriteString(marker + label + "\n")
		}
	}
	section("Links", false)
	section("Backlinks", true)
	v.content = strings.TrimRight(b.String(), "\n")
	v.contentWidth = w
	v.vp.SetContent(v.content)
}

// authorName is who made a revision, quoted for the terminal: a name is
// whatever the author's client put in its revisions.
func authorName(name, id string) string { return termtext.Line(wiki.AuthorName(name, id)) }

// openEditor opens the editor on a page's head (heads that agree are one
// version, and saving joins them); a conflicted page has no single version
// to build on, so it goes to the merge screen instead.
func openEditor(m *Model, page cid.Cid) tea.Cmd {
	heads, err := m.repo.Heads(m.ctx, page)
	if err != nil {
		m.fail(err)
		return nil
	}
	row, err := m.repo.Page(m.ctx, page)
	if err != nil {
		m.fail(err)
		return nil
	}
	if row.Versions > 1 {
		m.setFlash(fmt.Sprintf("%q has %d heads: merge them first", row.Title, len(heads)), false)
		m.push(newMergeScreen(m, page))
		return nil
	}
	ver, _, err := m.repo.RevisionVersion(m.ctx, heads[0])
	if err != nil {
		m.fail(err)
		return nil
	}
	e := newEditor(m, page, heads[0], ver.Title, ver.Body)
	m.push(e)
	return e.focus()
}

func (v *viewer) scrollPosition() string { return scrollPosition(v.vp) }
