package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"peerwiki/ui/termtext"
)

// prompt is a one-line question above the help bar: a yes/no
// confirmation, or a line of text (a title). While it is open it takes
// every key.
type prompt struct {
	question string
	confirm  bool
	input    textinput.Model
	// done is called with the answer (the text, or "y"); cancelled
	// prompts call nothing.
	done func(m *Model, answer string) tea.Cmd
}

// ask opens a yes/no question.
func (m *Model) ask(question string, yes func(m *Model) tea.Cmd) {
	m.prompt = &prompt{question: question, confirm: true, done: func(m *Model, _ string) tea.Cmd { return yes(m) }}
}

// askText opens a line of input prefilled with value.
func (m *Model) askText(question, value string, done func(m *Model, answer string) tea.Cmd) tea.Cmd {
	in := textinput.New()
	in.Prompt = ""
	in.SetValue(value)
	in.CursorEnd()
	m.prompt = &prompt{question: question, input: in, done: done}
	return m.prompt.input.Focus()
}

func (p *prompt) update(m *Model, msg tea.KeyMsg) tea.Cmd {
	if p.confirm {
		switch {
		case key.Matches(msg, keyYes):
			m.prompt = nil
			return p.done(m, "y")
		case key.Matches(msg, keyNo):
			m.prompt = nil
		}
		return nil
	}
	switch {
	case key.Matches(msg, keyAccept):
		m.prompt = nil
		return p.done(m, p.input.Value())
	case key.Matches(msg, keyCancel):
		m.prompt = nil
		return nil
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	return cmd
}

func (p *prompt) keys() []key.Binding {
	if p.confirm {
		return []key.Binding{keyYes, keyNo}
	}
	return []key.Binding{keyAccept, keyCancel}
}

func (p *prompt) view(m *Model, w int) string {
	question := termtext.Line(p.question) // it may name a page
	if p.confirm {
		return m.st.warn.Render(truncate(question+" (y/n)", w))
	}
	p.input.Width = max(w-len([]rune(question))-2, 10)
	return m.st.warn.Render(question) + " " + p.input.View()
}
