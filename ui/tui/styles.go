package tui

import (
	"os"

	"github.com/charmbracelet/lipgloss"
)

// styles are the UI's looks. Colour is decoration only: everything a
// colour says is also said in text (markers, prefixes), because under
// NO_COLOR or on a monochrome terminal the colours are gone.
type styles struct {
	title, dim, bold, selected, errMsg, okMsg, warn       lipgloss.Style
	add, del, hunkHead, conflict, ours, theirs, base, key lipgloss.Style
	statusBar, helpKey, helpDesc                          lipgloss.Style
}

func newStyles() styles {
	return styles{
		title:     lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		dim:       lipgloss.NewStyle().Faint(true),
		bold:      lipgloss.NewStyle().Bold(true),
		selected:  lipgloss.NewStyle().Reverse(true),
		errMsg:    lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
		okMsg:     lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		warn:      lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
		add:       lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		del:       lipgloss.NewStyle().Foreground(lipgloss.Color("1")),
		hunkHead:  lipgloss.NewStyle().Foreground(lipgloss.Color("6")),
		conflict:  lipgloss.NewStyle().Foreground(lipgloss.Color("9")),
		ours:      lipgloss.NewStyle().Foreground(lipgloss.Color("12")),
		theirs:    lipgloss.NewStyle().Foreground(lipgloss.Color("13")),
		base:      lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		key:       lipgloss.NewStyle().Bold(true),
		statusBar: lipgloss.NewStyle().Reverse(true),
		helpKey:   lipgloss.NewStyle().Bold(true),
		helpDesc:  lipgloss.NewStyle().Faint(true),
	}
}

// noColor reports whether the user asked for no colour (https://no-color.org).
func noColor() bool { return os.Getenv("NO_COLOR") != "" }
