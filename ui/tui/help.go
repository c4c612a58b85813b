package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// keyHelp opens the help screen wherever the keys are not text being typed.
var keyHelp = bind("?", "help", "?")

// helpScreen lists every key of the screen under it, with what it does;
// the help bar shows only the keys that apply at the moment.
type helpScreen struct {
	of  screen
	all []key.Binding
	vp  viewport.Model
}

// fullKeys is implemented by screens with more keys than their help bar
// shows (scrolling, jumps, keys that apply only sometimes).
type fullKeys interface {
	helpKeys(m *Model) []key.Binding
}

// typingScreen is implemented by screens that sometimes take text: then
// "?" is a character, not the help key.
type typingScreen interface {
	typing() bool
}

// typing reports whether keys go to a text field or a question now.
func (m *Model) typing() bool {
	if m.prompt != nil {
		return true
	}
	t, ok := m.top().(typingScreen)
	return ok && t.typing()
}

func newHelp(m *Model, of screen) *helpScreen {
	keys := of.keys(m)
	if f, ok := of.(fullKeys); ok {
		keys = f.helpKeys(m)
	}
	keys = append(keys, keyHelp, keyForceQ)
	return &helpScreen{of: of, all: keys, vp: viewport.New(0, 0)}
}

func (h *helpScreen) name() string { return "keys: " + h.of.name() }

func (h *helpScreen) reload(m *Model) {}

func (h *helpScreen) update(m *Model, msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if key.Matches(km, keyBack) || key.Matches(km, keyHelp) {
		return m.pop()
	}
	scroll(&h.vp, km)
	return nil
}

func (h *helpScreen) keys(m *Model) []key.Binding {
	return []key.Binding{bind("↑/↓ pgup/pgdn", "scroll", "down"), bind("esc/?", "back", "esc")}
}

func (h *helpScreen) view(m *Model, w, ht int) string {
	wide := 0
	for _, k := range h.all {
		wide = max(wide, lipgloss.Width(k.Help().Key))
	}
	var lines []string
	seen := map[string]bool{}
	for _, k := range h.all {
		hk := k.Help()
		if seen[hk.Key+hk.Desc] {
			continue
		}
		seen[hk.Key+hk.Desc] = true
		pad := strings.Repeat(" ", wide-lipgloss.Width(hk.Key))
		lines = append(lines, truncate(fmt.Sprintf("  %s%s  %s", m.st.helpKey.Render(hk.Key), pad, hk.Desc), w))
	}
	h.vp.Width, h.vp.Height = w, ht
	h.vp.SetContent(strings.Join(lines, "\n"))
	return h.vp.View()
}

func (h *helpScreen) scrollPosition() string { return scrollPosition(h.vp) }
