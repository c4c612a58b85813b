package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"peerwiki/ui/mergesession"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// The merge screen's drawing: the header naming the sides, the current
// entry with base, ours and theirs, the whole merged body, and the keys.
// Everything here reads the session; nothing changes it.

func (s *mergeScreen) view(m *Model, w, h int) string {
	if s.err != nil {
		return m.st.errMsg.Render(oneLine(s.err.Error()))
	}
	if s.done != "" {
		return s.done
	}
	header := s.header(m, w)
	if s.editing {
		what := "this hunk's result"
		if s.current().Kind == mergesession.Title {
			what = "the title"
		}
		s.editor.SetWidth(w)
		s.editor.SetHeight(max(h-len(header)-1, 1))
		return strings.Join(header, "\n") + "\n" + m.st.bold.Render("Write "+what+":") + "\n" + s.editor.View()
	}
	s.vp.Width, s.vp.Height = w, max(h-len(header), 1)
	k := fmt.Sprint(s.sess.Current(), s.sess.Step(), w, s.sess.Decided(), s.whole)
	if k != s.vpFor {
		s.vpFor = k
		if s.whole {
			content, line := s.wholeView(m, w)
			s.vp.SetContent(content)
			s.vp.SetYOffset(max(line-3, 0))
		} else {
			s.vp.SetContent(s.entryView(m, w))
			s.vp.GotoTop()
		}
	}
	return strings.Join(header, "\n") + "\n" + s.vp.View()
}

// current is the entry the person is on.
func (s *mergeScreen) current() mergesession.Entry {
	return s.sess.Entries()[s.sess.Current()]
}

// header names the sides and says where the person is.
func (s *mergeScreen) header(m *Model, w int) []string {
	side := func(label string, v wiki.Version) string {
		return fmt.Sprintf("%s %s (%s, %s)", label, shortRev(v.Rev), authorName(v.Name, v.Author), minute(v.Time))
	}
	step := s.sess.Step()
	theirs := s.vers[step]
	lines := []string{}
	if step > 1 {
		lines = append(lines, truncate(fmt.Sprintf("ours: the result of heads 1–%d · %s", step, side("theirs", theirs)), w))
	} else if both := side("ours", s.vers[0]) + " · " + side("theirs", theirs); lipgloss.Width(both) <= w {
		lines = append(lines, both)
	} else {
		// Which side is whose matters more than a line of the screen.
		lines = append(lines, truncate(side("ours", s.vers[0]), w), truncate(side("theirs", theirs), w))
	}
	headOf := ""
	if len(s.heads) > 2 {
		headOf = fmt.Sprintf("head %d of %d · ", step+1, len(s.heads))
	}
	base := wiki.ShortID(s.sess.Base().Rev)
	if base == "" {
		base = "merged from several common ancestors"
	}
	n := len(s.sess.Entries())
	status := fmt.Sprintf("%sbase %s · %d of %d decided", headOf, base, s.sess.Decided(), n)
	if n == 0 {
		status = headOf + "no conflicts: the heads merge cleanly; s saves the merge"
	}
	lines = append(lines, m.st.dim.Render(truncate(status, w)))
	if !s.sess.Has(mergesession.Title) && s.sess.Ours().Title != s.sess.Theirs().Title {
		fields, _ := s.sess.Result()
		lines = append(lines, m.st.dim.Render(truncate(fmt.Sprintf("title: %q (only one side changed it)", fields.Title), w)))
	}
	return lines
}

// entryView is the current entry: what is around it, the three sides,
// and the result so far.
func (s *mergeScreen) entryView(m *Model, w int) string {
	var b strings.Builder
	entries := s.sess.Entries()
	if len(entries) == 0 {
		fields, _ := s.sess.Result()
		b.WriteString(m.st.bold.Render("Merged result:") + "\n")
		b.WriteString(termtext.Text(strings.TrimRight(fields.Body, "\n")))
		return b.String()
	}
	cur := s.sess.Current()
	e := entries[cur]
	ours, theirs, base := s.sess.Ours(), s.sess.Theirs(), s.sess.Base()
	what := ""
	switch e.Kind {
	case mergesession.Title:
		what = "the title"
	case mergesession.Deleted:
		what = "delete or keep"
	default:
		first, last := e.OursLines()
		what = fmt.Sprintf("body lines %d–%d of ours", first, last)
		if first == last {
			what = fmt.Sprintf("body line %d of ours", first)
		}
	}
	label := fmt.Sprintf("conflict %d of %d: %s · %s", cur+1, len(entries), what, e.Choice)
	b.WriteString(m.st.conflict.Render(truncate(label, w)) + "\n")
	switch e.Kind {
	case mergesession.Title:
		title := func(t string) []string { return []string{termtext.Line(t)} }
		b.WriteString(s.panes(m, w, title(base.Title), title(ours.Title), title(theirs.Title)))
	case mergesession.Deleted:
		state := func(deleted bool, title string) []string {
			if deleted {
				return []string{"[deleted]"}
			}
			return []string{"[kept and edited: " + termtext.Line(title) + "]"}
		}
		b.WriteString(s.panes(m, w, []string{"[present]"}, state(ours.Deleted, ours.Title), state(theirs.Deleted, theirs.Title)))
	default:
		before, after := s.sess.Context(cur, 3)
		for _, l := range before {
			b.WriteString(m.st.dim.Render("  "+truncate(bodyLine(l), w-2)) + "\n")
		}
		b.WriteString(s.panes(m, w, e.Hunk.Base, e.Hunk.Ours, e.Hunk.Theirs))
		b.WriteString(m.st.bold.Render("result:") + "\n")
		if e.Choice == mergesession.Undecided {
			b.WriteString(m.st.dim.Render("  (undecided: o ours, t theirs, b both, e write it)") + "\n")
		} else {
			for _, l := range e.Lines() {
				b.WriteString("  " + bodyLine(l) + "\n")
			}
			if len(e.Lines()) == 0 {
				b.WriteString(m.st.dim.Render("  (nothing: the lines are removed)") + "\n")
			}
		}
		for _, l := range after {
			b.WriteString(m.st.dim.Render("  "+truncate(bodyLine(l), w-2)) + "\n")
		}
		return strings.TrimRight(b.String(), "\n")
	}
	b.WriteString(m.st.bold.Render("result:") + " ")
	fields, _ := s.sess.Result()
	switch {
	case e.Choice == mergesession.Undecided && e.Kind == mergesession.Title:
		b.WriteString(m.st.dim.Render("(undecided: o ours, t theirs, e write it)"))
	case e.Choice == mergesession.Undecided:
		b.WriteString(m.st.dim.Render("(undecided: o ours, t theirs)"))
	case e.Kind == mergesession.Deleted && fields.Deleted:
		b.WriteString("the page is deleted")
	case e.Kind == mergesession.Deleted:
		b.WriteString("the page is kept")
	default:
		b.WriteString(termtext.Line(fields.Title))
	}
	return b.String()
}

// panes shows base, ours and theirs side by side when each column gets
// 28 cells or more, else one above the other.
func (s *mergeScreen) panes(m *Model, w int, base, ours, theirs []string) string {
	text := func(ls []string) string {
		if len(ls) == 0 {
			return "(no lines)"
		}
		return termtext.Text(strings.TrimRight(strings.Join(ls, ""), "\r\n"))
	}
	type pane struct {
		label string
		style lipgloss.Style
		body  string
	}
	ps := []pane{{"base", m.st.base, text(base)}, {"ours", m.st.ours, text(ours)}, {"theirs", m.st.theirs, text(theirs)}}
	col := (w - 2*3) / 3
	if col >= 28 {
		var cols []string
		for i, p := range ps {
			box := lipgloss.NewStyle().Width(col)
			content := p.style.Bold(true).Render(p.label) + "\n" + box.Render(p.body)
			if i < 2 {
				content = lipgloss.NewStyle().Width(col).MarginRight(3).Render(content)
			}
			cols = append(cols, content)
		}
		return lipgloss.JoinHorizontal(lipgloss.Top, cols...) + "\n"
	}
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.style.Bold(true).Render("── "+p.label) + "\n")
		b.WriteString(lipgloss.NewStyle().Width(w).Render(p.body) + "\n")
	}
	return b.String()
}

// wholeView is the whole merged body as it stands: clean lines, decided
// conflicts ("+" in the gutter) and undecided ones between git-style
// markers ("!"); the current entry's lines carry ">". It returns the
// content and the line where the current entry starts.
func (s *mergeScreen) wholeView(m *Model, w int) (string, int) {
	fields, _ := s.sess.Result()
	var out []string
	out = append(out, m.st.bold.Render(truncate("title: "+termtext.Line(fields.Title), w)))
	if fields.Deleted {
		out = append(out, m.st.warn.Render("the page is deleted by the choice made"))
	}
	entries := s.sess.Entries()
	curLine := 0
	add := func(gutter, line string, style func(...string) string) {
		out = append(out, style(gutter+" "+truncate(bodyLine(line), w-2)))
	}
	plain := func(ss ...string) string { return strings.Join(ss, "") }
	for _, seg := range s.sess.Segments() {
		if seg.Entry < 0 {
			for _, l := range seg.Lines {
				add(" ", l, plain)
			}
			continue
		}
		e := entries[seg.Entry]
		gutter := "+"
		if e.Choice == mergesession.Undecided {
			gutter = "!"
		}
		if seg.Entry == s.sess.Current() {
			gutter = ">"
			curLine = len(out)
		}
		if e.Choice != mergesession.Undecided {
			for _, l := range e.Lines() {
				add(gutter, l, m.st.okMsg.Render)
			}
			continue
		}
		add(gutter, "<<<<<<< ours", m.st.conflict.Render)
		for _, l := range e.Hunk.Ours {
			add(gutter, l, m.st.ours.Render)
		}
		add(gutter, "=======", m.st.conflict.Render)
		for _, l := range e.Hunk.Theirs {
			add(gutter, l, m.st.theirs.Render)
		}
		add(gutter, ">>>>>>> theirs", m.st.conflict.Render)
	}
	return strings.Join(out, "\n"), curLine
}

func (s *mergeScreen) scrollPosition() string {
	if s.editing || s.done != "" || s.err != nil {
		return ""
	}
	return scrollPosition(s.vp)
}

func (s *mergeScreen) keys(m *Model) []key.Binding {
	if s.editing {
		return []key.Binding{bind("ctrl+s", "use this text", "ctrl+s"), bind("esc", "cancel", "esc")}
	}
	if s.done != "" || s.err != nil {
		return []key.Binding{bind("q", "back", "q")}
	}
	save := mergeKeys.Save
	if !s.sess.Last() {
		save = bind("s", fmt.Sprintf("next head (%d of %d)", s.sess.Step()+2, len(s.heads)), "s")
	}
	whole := mergeKeys.Whole
	if s.whole {
		whole = bind("v", "this conflict", "v")
	}
	return []key.Binding{mergeKeys.Next, mergeKeys.Prev, mergeKeys.Ours, mergeKeys.Theirs, mergeKeys.Both,
		mergeKeys.Edit, mergeKeys.Undo, save, mergeKeys.Quit, whole, bind("↑/↓ pgup/pgdn", "scroll", "down")}
}

func (s *mergeScreen) helpKeys(m *Model) []key.Binding {
	if s.editing || s.done != "" || s.err != nil {
		return s.keys(m)
	}
	return []key.Binding{mergeKeys.Next, mergeKeys.Prev, mergeKeys.Ours, mergeKeys.Theirs,
		bind("b", "both: ours then theirs (body text)", "b"), bind("e", "write the result by hand", "e"), mergeKeys.Undo,
		bind("s", "save (with several heads: go on to the next)", "s"), bind("q/esc", "quit without saving", "q"),
		bind("v", "whole result / this conflict", "v"), keyUp, keyDown, keyPgUp, keyPgDown, keyTop, keyBottom}
}
