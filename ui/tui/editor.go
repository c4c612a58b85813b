package tui

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/ipfs/go-cid"

	"peerwiki/ui/drafts"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// textareaLines is bubbles' textarea limit (its unexported maxLines):
// SetValue and paste silently drop lines past it. A body that does not fit
// well below it is edited in $EDITOR only, and a buffer that reached it is
// never saved, because it may have been cut.
const textareaLines = 10000

// editorMaxLines is the largest body the built-in editor takes.
const editorMaxLines = textareaLines - 100

// editor edits a page's title and body. Saving makes a revision whose
// parent is the revision the editor was opened on, not whatever the head
// is by then: if a peer's edit arrived meanwhile, the save creates a
// divergence (nothing is lost) and the UI offers the merge screen.
type editor struct {
	// doneEditing ends this editor's presence announcement.
	doneEditing func()
	page        cid.Cid // undefined for a page not created yet
	parent      cid.Cid
	title       textinput.Model
	body        textarea.Model
	onBody      bool

	origTitle, origBody string
	// shownTitle is what the title field was given: the title quoted
	// for the terminal (the text input would drop control characters
	// and print format characters raw). While the field still holds it,
	// the title is saved as it was, not as shown.
	shownTitle string
	// external holds the body when the textarea cannot hold it exactly
	// (too long, or characters it would change): it is edited in $EDITOR
	// only, and the textarea shows why.
	external    bool
	externalTxt string
	externalWhy string
	// draft holds what $EDITOR last wrote until the editor is left
	// (saved or given up): if the UI is killed first, the next edit
	// names it (package drafts).
	draft *drafts.Draft
}

// editorDoneMsg is the end of an $EDITOR session.
type editorDoneMsg struct {
	body  string
	err   error
	draft *drafts.Draft
}

// leave is the editor leaving the screen (saved, or given up): presence
// stops announcing it, and its draft goes.
func (e *editor) leave() {
	if e.doneEditing != nil {
		e.doneEditing()
	}
	e.dropDraft()
}

// dropDraft discards the editor's draft, if it holds one.
func (e *editor) dropDraft() {
	e.draft.Discard()
	e.draft = nil
}

func newEditor(m *Model, page, parent cid.Cid, title, body string) *editor {
	e := &editor{page: page, parent: parent, origTitle: title, origBody: body}
	e.title = textinput.New()
	e.title.Prompt = ""
	e.title.CharLimit = wiki.MaxTitleLen
	e.title.SetValue(termtext.Line(title))
	e.shownTitle = e.title.Value()
	e.body = textarea.New()
	// The defaults stop Enter after 99 lines and wrap at 500 columns.
	e.body.MaxHeight = 0
	e.body.MaxWidth = 0
	e.body.CharLimit = 0
	e.body.ShowLineNumbers = false
	e.body.Prompt = ""
	e.setBody(body)
	e.onBody = title != ""
	// Tell other replicas (through the node on this repo) that the page
	// is being edited here; advisory only.
	if page.Defined() && m.opts.Editing != nil {
		e.doneEditing = m.opts.Editing(page)
	}
	return e
}

// setBody puts text in the textarea, or keeps it aside when the textarea
// would not give it back as it is: it cuts a body past its line limit, and
// its input filter turns tabs into four spaces, a carriage return into a
// line break, and drops other control characters and U+FFFD. Saving such
// a body from the textarea would change lines nobody touched.
func (e *editor) setBody(text string) {
	e.external, e.externalTxt, e.externalWhy = false, "", ""
	if n := strings.Count(text, "\n") + 1; n > editorMaxLines {
		e.external, e.externalTxt = true, text
		e.externalWhy = fmt.Sprintf("This body has %d lines, more than the built-in editor holds without cutting.", n)
		e.body.SetValue("")
		return
	}
	e.body.SetValue(text)
	if e.body.Value() != text {
		e.external, e.externalTxt = true, text
		e.externalWhy = "This body has tabs, carriage returns or control characters, which the built-in editor would change."
		e.body.SetValue("")
	} else if termtext.Text(text) != text {
		e.external, e.externalTxt = true, text
		e.externalWhy = "This body has invisible format characters (bidirectional controls), which the built-in editor would print raw."
		e.body.SetValue("")
	}
}

// titleText is the title to save: the original one unless the person
// changed what the title field shows.
func (e *editor) titleText() string {
	if e.title.Value() == e.shownTitle {
		return e.origTitle
	}
	return e.title.Value()
}

func (e *editor) bodyText() string {
	if e.external {
		return e.externalTxt
	}
	return e.body.Value()
}

func (e *editor) name() string {
	if !e.page.Defined() {
		return "new page"
	}
	return "editing " + e.origTitle
}

// focus gives the keyboard to the title or the body.
func (e *editor) focus() tea.Cmd {
	if e.onBody && !e.external {
		e.title.Blur()
		return e.body.Focus()
	}
	e.body.Blur()
	return e.title.Focus()
}

// reload does nothing: what the person typed is theirs, and a change that
// arrives meanwhile is merged after the save.
func (e *editor) reload(m *Model) {}

func (e *editor) unsaved() bool { return e.dirty() }

func (e *editor) dirty() bool {
	return e.titleText() != e.origTitle || e.bodyText() != e.origBody
}

func (e *editor) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case editorDoneMsg:
		if msg.err != nil {
			m.fail(msg.err)
			return nil
		}
		e.setBody(msg.body)
		e.dropDraft()
		e.draft = msg.draft
		if e.external {
			m.setFlash("this body is edited in $EDITOR only; ctrl+s saves it", false)
		}
		return e.focus()
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, editorKeys.Save):
			return e.save(m)
		case key.Matches(msg, editorKeys.Cancel):
			if e.dirty() {
				m.ask("Discard your changes?", func(m *Model) tea.Cmd { return m.pop() })
				return nil
			}
			return m.pop()
		case key.Matches(msg, editorKeys.External):
			return e.openExternal(m)
		case e.onBody && !e.external && key.Matches(msg, editorKeys.Indent):
			// What the textarea makes of a typed tab anyway.
			e.body.InsertString("    ")
			return nil
		case e.onBody && key.Matches(msg, editorKeys.ToTitle):
			e.onBody = false
			return e.focus()
		case !e.onBody && (key.Matches(msg, editorKeys.ToBody) || msg.Type == tea.KeyEnter):
			e.onBody = true
			return e.focus()
		}
		var cmd tea.Cmd
		if e.onBody {
			if e.external {
				m.setFlash("this body is edited in $EDITOR only: ctrl+o opens it", false)
				return nil
			}
			e.body, cmd = e.body.Update(msg)
		} else {
			e.title, cmd = e.title.Update(msg)
		}
		return cmd
	}
	var cmd tea.Cmd
	if e.onBody && !e.external {
		e.body, cmd = e.body.Update(msg)
	}
	return cmd
}

// openExternal writes the body to a draft in the repo (package drafts)
// and runs the editor on it with the terminal handed over
// (tea.ExecProcess); the text is read back when the editor exits. When
// the editor fails after changing the text, the draft is kept and the
// error says where; the draft of a good session stays until the editor
// is left (editor.draft), so that when this process is killed before the
// text is saved, the next edit names it.
func (e *editor) openExternal(m *Model) tea.Cmd {
	page := ""
	if e.page.Defined() {
		page = e.page.String()
	}
	d, err := drafts.New(m.repo.Dir, page, e.titleText(), e.bodyText())
	if err != nil {
		m.fail(fmt.Errorf("make a draft for the editor: %w", err))
		return nil
	}
	argv := append(append([]string{}, m.editorCommand()...), d.Path)
	cmd := exec.Command(argv[0], argv[1:]...)
	return tea.ExecProcess(cmd, func(err error) tea.Msg {
		if err != nil {
			if d.Changed() {
				return editorDoneMsg{err: fmt.Errorf("%s: %w (the text in the editor is unchanged; what the editor wrote is kept in %s)", argv[0], err, d.Path)}
			}
			d.Discard()
			return editorDoneMsg{err: fmt.Errorf("%s: %w (the text in the editor is unchanged)", argv[0], err)}
		}
		b, err := os.ReadFile(d.Path)
		if err != nil {
			d.Discard()
			return editorDoneMsg{err: err}
		}
		return editorDoneMsg{body: string(b), draft: d}
	})
}

// save makes the revision (or the page) and leaves the editor for the
// page's viewer; when the save made a divergence it offers the merge.
func (e *editor) save(m *Model) tea.Cmd {
	if !e.external && e.body.LineCount() >= textareaLines {
		m.setFlash(fmt.Sprintf("not saved: the body hit the editor's %d-line limit and may be cut; ctrl+o uses $EDITOR", textareaLines), true)
		return nil
	}
	title, body := e.titleText(), e.bodyText()
	if !e.page.Defined() {
		id, err := m.repo.Create(m.ctx, title, body, "")
		if err != nil {
			m.fail(err)
			return nil
		}
		m.wrote()
		m.replace(newViewer(m, id))
		m.setFlash(fmt.Sprintf("created %q", title), false)
		return nil
	}
	ed := wiki.Edit{Parent: e.parent}
	if title != e.origTitle {
		ed.Title = &title
	}
	if body != e.origBody {
		ed.Body = &body
	}
	if _, err := m.repo.Edit(m.ctx, e.page, ed); err != nil {
		if errors.Is(err, wiki.ErrNoChange) {
			m.setFlash("no changes to save", false)
			return m.pop()
		}
		m.fail(err)
		return nil
	}
	m.wrote()
	m.pop()
	if _, ok := m.top().(*viewer); !ok {
		m.push(newViewer(m, e.page))
	}
	if row, err := m.repo.Page(m.ctx, e.page); err == nil && row.Versions > 1 {
		page := e.page
		m.ask(fmt.Sprintf("Saved, but the page changed while you edited: it now has %d heads. Merge now?", row.Heads), func(m *Model) tea.Cmd {
			m.push(newMergeScreen(m, page))
			return nil
		})
		return nil
	}
	m.setFlash("saved", false)
	return nil
}

func (e *editor) keys(m *Model) []key.Binding {
	if !e.onBody {
		return []key.Binding{editorKeys.Save, editorKeys.ToBody, editorKeys.External, editorKeys.Cancel}
	}
	if e.external {
		return []key.Binding{editorKeys.Save, editorKeys.ToTitle, editorKeys.External, editorKeys.Cancel}
	}
	return []key.Binding{editorKeys.Save, editorKeys.Indent, editorKeys.ToTitle, editorKeys.External, editorKeys.Cancel}
}

func (e *editor) view(m *Model, w, h int) string {
	label := func(s string, on bool) string {
		if on {
			return m.st.bold.Render("> " + s)
		}
		return m.st.dim.Render("  " + s)
	}
	e.title.Width = max(w-10, 10)
	top := label("Title:", !e.onBody) + " " + e.title.View()
	head := label("Body:", e.onBody)
	if e.parent.Defined() {
		head += m.st.dim.Render("  (editing revision " + shortRev(e.parent) + ")")
	}
	bodyH := max(h-2, 1)
	if e.external {
		return strings.Join([]string{top, head, m.st.warn.Render(e.externalWhy + " ctrl+o edits it in $EDITOR; ctrl+s saves.")}, "\n")
	}
	e.body.SetWidth(w)
	e.body.SetHeight(bodyH)
	return top + "\n" + head + "\n" + e.body.View()
}

func (e *editor) typing() bool { return true }
