package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/ipfs/go-cid"

	"peerwiki/merge"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// The merge screen resolves a conflicted page by hand: every conflicted
// hunk of the body, and the title and delete-vs-edit conflicts, one entry
// at a time, with base, ours and theirs side by side (stacked on narrow
// terminals) and the clean parts around as context. Saving makes one
// revision whose parents are all the heads (wiki.Repo.Resolve).
//
// More than two heads are folded in order, as the replicated policies
// fold them: ours is the first head, and each further head is merged into
// the result so far against the merge base of the heads already folded
// and that head. Each fold is one step on the screen; "s" on a step that
// is not the last goes on to the next head, and the last one saves.
//
// "Ours" is this replica's own head when exactly one head is ours; else
// the heads keep the store's order (latest first). The header names each
// side's author and time, so the person knows which is which.

// mergeChoice is what a person decided for one entry.
type mergeChoice int

const (
	undecided mergeChoice = iota
	tookOurs
	tookTheirs
	tookBoth
	tookEdit
)

var choiceNames = [...]string{"undecided", "ours", "theirs", "both", "edited"}

type entryKind int

const (
	entryTitle entryKind = iota
	entryDeleted
	entryHunk
)

// mergeEntry is one decision: the title, delete-vs-edit, or a body hunk.
type mergeEntry struct {
	kind     entryKind
	hunk     int // index into the body merge's hunks, for entryHunk
	choice   mergeChoice
	edited   []string // lines written by hand, for tookEdit (the title: one line)
	conflict merge.Hunk
}

// undoStep remembers an entry's choice before it changed.
type undoStep struct {
	entry  int
	choice mergeChoice
	edited []string
}

type mergeScreen struct {
	page  cid.Cid
	title string
	heads []cid.Cid
	vers  []wiki.Version // the heads' versions, in heads order
	step  int            // the head being folded in: 1 … len(heads)-1

	ours   merge.Version // the result so far (the first head at step 1)
	theirs wiki.Version
	base   wiki.Version
	body   merge.Result

	entries []mergeEntry
	cur     int
	undos   []undoStep
	dirty   bool // choices were made and not saved

	// whole shows the whole merged body instead of the current entry.
	whole bool

	editing bool
	editor  textarea.Model
	vp      viewport.Model
	vpFor   string

	done string // set when there is nothing (left) to merge
	err  error
}

func newMergeScreen(m *Model, page cid.Cid) *mergeScreen {
	s := &mergeScreen{page: page, vp: viewport.New(0, 0)}
	s.load(m, nil)
	return s
}

func (s *mergeScreen) name() string { return "merge " + s.title }

// load reads the page's heads and prepares the first step. Choices made
// before (old) are kept for entries whose hunks are the same, so a peer's
// edit arriving mid-merge costs only the decisions it touches.
func (s *mergeScreen) load(m *Model, old []mergeEntry) {
	row, err := m.repo.Store.Page(m.ctx, s.page)
	if err != nil {
		s.err = err
		return
	}
	s.title = row.Title
	heads, err := m.repo.Store.Heads(m.ctx, s.page)
	if err != nil {
		s.err = err
		return
	}
	if row.Versions < 2 {
		s.heads, s.entries, s.done = heads, nil, fmt.Sprintf("%q has no conflict (any more): nothing to merge.", row.Title)
		return
	}
	prev := s.heads
	s.heads = oursFirst(m, heads)
	if len(prev) > 0 {
		s.heads = keepOurs(m, s.heads, prev[0])
	}
	s.vers = s.vers[:0]
	for _, h := range s.heads {
		v, _, err := m.repo.RevisionVersion(m.ctx, h)
		if err != nil {
			s.err = err
			return
		}
		s.vers = append(s.vers, v)
	}
	s.done, s.err = "", nil
	first := s.vers[0]
	s.ours = merge.Version{Rev: first.Rev, Title: first.Title, Body: first.Body, Deleted: first.Deleted, Author: first.Author}
	s.prepare(m, 1, old)
}

// oursFirst puts this replica's head first when exactly one head is its.
func oursFirst(m *Model, heads []cid.Cid) []cid.Cid {
	me := m.repo.ID.ID.String()
	mine := -1
	for i, h := range heads {
		rev, err := m.repo.Store.Revision(m.ctx, h)
		if err != nil || rev.IsAuto() || rev.AuthorID().String() != me {
			continue
		}
		if mine >= 0 {
			return heads
		}
		mine = i
	}
	if mine <= 0 {
		return heads
	}
	return moveFirst(heads, mine)
}

// keepOurs keeps the side the person has been calling ours while the
// heads change under the screen: the old first head, or the new head that
// descends from it, stays first.
func keepOurs(m *Model, heads []cid.Cid, ours cid.Cid) []cid.Cid {
	for i, h := range heads {
		if h.Equals(ours) {
			return moveFirst(heads, i)
		}
	}
	for i, h := range heads {
		if ok, err := m.repo.Store.IsAncestor(m.ctx, ours, h); err == nil && ok {
			return moveFirst(heads, i)
		}
	}
	return heads
}

func moveFirst(cs []cid.Cid, i int) []cid.Cid {
	out := []cid.Cid{cs[i]}
	for j, c := range cs {
		if j != i {
			out = append(out, c)
		}
	}
	return out
}

// prepare computes step k: the merge of the result so far with head k.
func (s *mergeScreen) prepare(m *Model, k int, old []mergeEntry) {
	s.step = k
	s.theirs = s.vers[k]
	s.base = wiki.Version{}
	if b, err := s.mergeBase(m, k); err == nil {
		s.base = b
	}
	s.body = merge.Merge3(s.base.Body, s.ours.Body, s.theirs.Body)
	s.entries = s.entries[:0]
	if s.ours.Deleted != s.theirs.Deleted {
		s.entries = append(s.entries, mergeEntry{kind: entryDeleted})
	}
	if s.ours.Title != s.theirs.Title && s.ours.Title != s.base.Title && s.theirs.Title != s.base.Title {
		s.entries = append(s.entries, mergeEntry{kind: entryTitle})
	}
	for i, h := range s.body.Hunks {
		if h.Kind == merge.HunkConflict {
			s.entries = append(s.entries, mergeEntry{kind: entryHunk, hunk: i, conflict: h})
		}
	}
	for i := range s.entries {
		for _, o := range old {
			if o.choice != undecided && o.kind == s.entries[i].kind && sameHunk(o.conflict, s.entries[i].conflict) {
				s.entries[i].choice, s.entries[i].edited = o.choice, o.edited
				break
			}
		}
	}
	s.cur, s.undos, s.vpFor = 0, nil, ""
}

func sameHunk(a, b merge.Hunk) bool {
	return slices.Equal(a.Base, b.Base) && slices.Equal(a.Ours, b.Ours) && slices.Equal(a.Theirs, b.Theirs)
}

// mergeBase is the base of folding head k into heads[:k], as the wiki's
// merge policy computes it (wiki.Repo.FoldBase).
func (s *mergeScreen) mergeBase(m *Model, k int) (wiki.Version, error) {
	return m.repo.FoldBase(m.ctx, s.page, s.heads[:k], s.heads[k])
}

// reload notices heads that changed while the screen was open (a peer's
// edit, another process's resolve) and recomputes, keeping what it can.
func (s *mergeScreen) reload(m *Model) {
	heads, err := m.repo.Store.Heads(m.ctx, s.page)
	if err != nil {
		return
	}
	if sameSet(heads, s.heads) {
		return
	}
	old := append([]mergeEntry{}, s.entries...)
	s.editing = false
	s.load(m, old)
	if s.done == "" {
		m.setFlash("the page's heads changed while you merged (a new edit arrived): merge recomputed, matching choices kept", true)
	}
}

func sameSet(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, x.Equals) {
			return false
		}
	}
	return true
}

// result is the merged fields with the choices made so far; ready is
// false while an entry that matters is undecided.
func (s *mergeScreen) result() (merge.Fields, bool) {
	out := merge.Fields{Deleted: s.ours.Deleted}
	ready := true
	titleDone := false
	for _, e := range s.entries {
		switch e.kind {
		case entryDeleted:
			switch e.choice {
			case tookOurs:
				out.Deleted = s.ours.Deleted
			case tookTheirs:
				out.Deleted = s.theirs.Deleted
			default:
				ready = false
			}
		case entryTitle:
			titleDone = true
			switch e.choice {
			case tookOurs:
				out.Title = s.ours.Title
			case tookTheirs:
				out.Title = s.theirs.Title
			case tookEdit:
				out.Title = strings.Join(e.edited, "")
			default:
				out.Title = s.ours.Title
			}
		}
	}
	if !titleDone {
		out.Title = s.ours.Title
		if s.ours.Title == s.base.Title {
			out.Title = s.theirs.Title
		}
	}
	byConflict := map[int]mergeEntry{}
	for _, e := range s.entries {
		if e.kind == entryHunk {
			byConflict[e.hunkIndex(s)] = e
		}
	}
	out.Body = s.body.Resolved(func(i int, h merge.Hunk) []string {
		if e, ok := byConflict[i]; ok {
			return e.lines()
		}
		return h.Ours
	})
	if !out.Deleted {
		for _, e := range s.entries {
			if e.kind != entryDeleted && e.choice == undecided {
				ready = false
			}
		}
	}
	return out, ready
}

// hunkIndex is the entry's number among the body's conflict hunks, the
// numbering Result.Resolved uses.
func (e mergeEntry) hunkIndex(s *mergeScreen) int {
	n := 0
	for i := 0; i < e.hunk; i++ {
		if s.body.Hunks[i].Kind == merge.HunkConflict {
			n++
		}
	}
	return n
}

// lines is a hunk entry's resolved lines.
func (e mergeEntry) lines() []string {
	switch e.choice {
	case tookTheirs:
		return e.conflict.Theirs
	case tookBoth:
		return append(withNewline(e.conflict.Ours), e.conflict.Theirs...)
	case tookEdit:
		return e.edited
	}
	return e.conflict.Ours
}

// withNewline makes sure the block ends with a newline, so that "both"
// keeps ours and theirs on separate lines.
func withNewline(ls []string) []string {
	out := append([]string{}, ls...)
	if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
		out[n-1] += "\n"
	}
	return out
}

func (s *mergeScreen) unsaved() bool { return s.dirty }

func (s *mergeScreen) hasEntry(k entryKind) bool {
	return slices.ContainsFunc(s.entries, func(e mergeEntry) bool { return e.kind == k })
}

func (s *mergeScreen) decided() int {
	n := 0
	for _, e := range s.entries {
		if e.choice != undecided {
			n++
		}
	}
	return n
}

func (s *mergeScreen) choose(m *Model, c mergeChoice, edited []string) {
	if s.cur >= len(s.entries) {
		return
	}
	e := &s.entries[s.cur]
	if c == tookBoth && e.kind != entryHunk {
		m.setFlash("both sides only make sense for body text: choose o or t, or e to write the title", true)
		return
	}
	if c == tookEdit && e.kind == entryDeleted {
		m.setFlash("keep or delete: o takes ours, t takes theirs", true)
		return
	}
	s.undos = append(s.undos, undoStep{entry: s.cur, choice: e.choice, edited: e.edited})
	e.choice, e.edited = c, edited
	s.dirty = true
	s.vpFor = ""
	// Go on to the next undecided entry, as a person working down the
	// list expects.
	for i := 1; i <= len(s.entries); i++ {
		j := (s.cur + i) % len(s.entries)
		if s.entries[j].choice == undecided {
			s.cur = j
			return
		}
	}
}

func (s *mergeScreen) update(m *Model, msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		if s.editing {
			var cmd tea.Cmd
			s.editor, cmd = s.editor.Update(msg)
			return cmd
		}
		return nil
	}
	if s.editing {
		return s.updateEditing(m, km)
	}
	if s.done != "" || s.err != nil {
		if key.Matches(km, mergeKeys.Quit) || km.Type == tea.KeyEnter {
			return m.pop()
		}
		return nil
	}
	switch {
	case key.Matches(km, mergeKeys.Quit):
		if s.dirty {
			m.ask("Leave the merge and lose your choices?", func(m *Model) tea.Cmd { return m.pop() })
			return nil
		}
		return m.pop()
	case key.Matches(km, mergeKeys.Next):
		if len(s.entries) > 0 {
			s.cur = min(s.cur+1, len(s.entries)-1)
		}
	case key.Matches(km, mergeKeys.Prev):
		s.cur = max(s.cur-1, 0)
	case key.Matches(km, mergeKeys.Ours):
		s.choose(m, tookOurs, nil)
	case key.Matches(km, mergeKeys.Theirs):
		s.choose(m, tookTheirs, nil)
	case key.Matches(km, mergeKeys.Both):
		s.choose(m, tookBoth, nil)
	case key.Matches(km, mergeKeys.Edit):
		return s.startEdit(m)
	case key.Matches(km, mergeKeys.Undo):
		if n := len(s.undos); n > 0 {
			u := s.undos[n-1]
			s.undos = s.undos[:n-1]
			s.entries[u.entry].choice, s.entries[u.entry].edited = u.choice, u.edited
			s.cur = u.entry
			s.dirty = true
		} else {
			m.setFlash("nothing to undo", false)
		}
	case key.Matches(km, mergeKeys.Save):
		return s.save(m)
	case key.Matches(km, mergeKeys.Whole):
		s.whole = !s.whole
	default:
		scroll(&s.vp, km)
	}
	return nil
}

// startEdit opens the hand editor on the entry's result so far (for an
// undecided hunk: ours then theirs, to cut down from).
func (s *mergeScreen) startEdit(m *Model) tea.Cmd {
	if s.cur >= len(s.entries) {
		return nil
	}
	e := s.entries[s.cur]
	var text string
	switch e.kind {
	case entryDeleted:
		m.setFlash("keep or delete: o takes ours, t takes theirs", true)
		return nil
	case entryTitle:
		text = s.ours.Title
		if e.choice == tookTheirs {
			text = s.theirs.Title
		} else if e.choice == tookEdit {
			text = strings.Join(e.edited, "")
		}
	default:
		ls := e.lines()
		if e.choice == undecided {
			ls = append(withNewline(e.conflict.Ours), e.conflict.Theirs...)
		}
		text = strings.TrimSuffix(strings.Join(ls, ""), "\n")
	}
	s.editor = textarea.New()
	s.editor.MaxHeight, s.editor.MaxWidth, s.editor.CharLimit = 0, 0, 0
	s.editor.ShowLineNumbers = false
	s.editor.Prompt = ""
	s.editor.SetValue(text)
	if s.editor.Value() != text || termtext.Text(text) != text {
		// The textarea turns tabs into spaces and carriage returns into
		// line breaks, and drops control characters: the hunk would
		// change where nobody typed. It would show invisible format
		// characters (bidi overrides) raw.
		m.setFlash("has tabs or control chars: not editable here; o or t", true)
		return nil
	}
	s.editing = true
	return s.editor.Focus()
}

func (s *mergeScreen) updateEditing(m *Model, km tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(km, editorKeys.Save):
		text := s.editor.Value()
		e := s.entries[s.cur]
		var lines []string
		if e.kind == entryTitle {
			title := strings.Join(strings.Fields(text), " ")
			if err := wiki.CheckTitle(title); err != nil {
				m.fail(err)
				return nil
			}
			lines = []string{title}
		} else if text != "" {
			lines = splitKeepNewline(text + "\n")
		}
		s.editing = false
		s.editor.Blur()
		s.choose(m, tookEdit, lines)
		return nil
	case key.Matches(km, editorKeys.Cancel):
		s.editing = false
		s.editor.Blur()
		return nil
	}
	var cmd tea.Cmd
	s.editor, cmd = s.editor.Update(km)
	return cmd
}

func splitKeepNewline(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// save ends a step: on the last one it writes the resolution, a revision
// whose parents are all the heads; on an earlier one it folds the next
// head in. It refuses while an entry is undecided, and recomputes if the
// heads changed under it, so a resolve never hides an edit nobody saw.
func (s *mergeScreen) save(m *Model) tea.Cmd {
	fields, ready := s.result()
	if !ready {
		for i, e := range s.entries {
			if e.choice == undecided {
				s.cur = i
				break
			}
		}
		m.setFlash(fmt.Sprintf("%d of %d %s undecided: choose o, t, b or e for each", len(s.entries)-s.decided(), len(s.entries),
			plural(len(s.entries), "conflict", "conflicts")), true)
		return nil
	}
	if s.step < len(s.heads)-1 {
		s.ours = merge.Version{Rev: s.ours.Rev, Title: fields.Title, Body: fields.Body, Deleted: fields.Deleted}
		s.prepare(m, s.step+1, nil)
		m.setFlash(fmt.Sprintf("folded; now head %d of %d", s.step+1, len(s.heads)), false)
		return nil
	}
	heads, err := m.repo.Store.Heads(m.ctx, s.page)
	if err != nil {
		m.fail(err)
		return nil
	}
	if !sameSet(heads, s.heads) {
		s.reload(m)
		return nil
	}
	res := wiki.Resolution{Msg: fmt.Sprintf("merge %d heads", len(s.heads))}
	if fields.Deleted {
		for i, v := range s.vers {
			if v.Deleted {
				res.Take = s.heads[i]
				break
			}
		}
	} else {
		res.Title, res.Body = &fields.Title, &fields.Body
	}
	rev, err := m.repo.Resolve(m.ctx, s.page, res)
	if err != nil {
		m.fail(err)
		return nil
	}
	if m.opts.Resolved != nil {
		m.opts.Resolved(rev)
	}
	s.dirty = false
	msg := fmt.Sprintf("merged %d heads of %q", len(s.heads), fields.Title)
	m.wrote()
	m.setFlash(msg, false)
	if len(m.stack) == 1 && m.opts.MergePage.Defined() {
		return tea.Quit
	}
	return m.pop()
}

func (s *mergeScreen) keys(m *Model) []key.Binding {
	if s.editing {
		return []key.Binding{bind("ctrl+s", "use this text", "ctrl+s"), bind("esc", "cancel", "esc")}
	}
	if s.done != "" || s.err != nil {
		return []key.Binding{bind("q", "back", "q")}
	}
	save := mergeKeys.Save
	if s.step < len(s.heads)-1 {
		save = bind("s", fmt.Sprintf("next head (%d of %d)", s.step+2, len(s.heads)), "s")
	}
	whole := mergeKeys.Whole
	if s.whole {
		whole = bind("v", "this conflict", "v")
	}
	return []key.Binding{mergeKeys.Next, mergeKeys.Prev, mergeKeys.Ours, mergeKeys.Theirs, mergeKeys.Both,
		mergeKeys.Edit, mergeKeys.Undo, save, mergeKeys.Quit, whole, bind("↑/↓ pgup/pgdn", "scroll", "down")}
}

func (s *mergeScreen) view(m *Model, w, h int) string {
	if s.err != nil {
		return m.st.errMsg.Render(oneLine(s.err.Error()))
	}
	if s.done != "" {
		return s.done
	}
	header := s.header(m, w)
	if s.editing {
		e := s.entries[s.cur]
		what := "this hunk's result"
		if e.kind == entryTitle {
			what = "the title"
		}
		s.editor.SetWidth(w)
		s.editor.SetHeight(max(h-len(header)-1, 1))
		return strings.Join(header, "\n") + "\n" + m.st.bold.Render("Write "+what+":") + "\n" + s.editor.View()
	}
	s.vp.Width, s.vp.Height = w, max(h-len(header), 1)
	k := fmt.Sprint(s.cur, s.step, w, s.decided(), len(s.undos), s.whole)
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

// header names the sides and says where the person is.
func (s *mergeScreen) header(m *Model, w int) []string {
	side := func(label string, v wiki.Version) string {
		return fmt.Sprintf("%s %s (%s, %s)", label, shortRev(v.Rev), authorName(v.Name, v.Author), strings.Replace(v.Time[:16], "T", " ", 1))
	}
	oursV := s.vers[0]
	lines := []string{}
	if s.step > 1 {
		lines = append(lines, truncate(fmt.Sprintf("ours: the result of heads 1–%d · %s", s.step, side("theirs", s.theirs)), w))
	} else if both := side("ours", oursV) + " · " + side("theirs", s.theirs); lipgloss.Width(both) <= w {
		lines = append(lines, both)
	} else {
		// Which side is whose matters more than a line of the screen.
		lines = append(lines, truncate(side("ours", oursV), w), truncate(side("theirs", s.theirs), w))
	}
	step := ""
	if len(s.heads) > 2 {
		step = fmt.Sprintf("head %d of %d · ", s.step+1, len(s.heads))
	}
	base := shortRev(s.base.Rev)
	if base == "" {
		base = "merged from several common ancestors"
	}
	status := fmt.Sprintf("%sbase %s · %d of %d decided", step, base, s.decided(), len(s.entries))
	if len(s.entries) == 0 {
		status = step + "no conflicts: the heads merge cleanly; s saves the merge"
	}
	lines = append(lines, m.st.dim.Render(truncate(status, w)))
	if !s.hasEntry(entryTitle) && s.ours.Title != s.theirs.Title {
		fields, _ := s.result()
		lines = append(lines, m.st.dim.Render(truncate(fmt.Sprintf("title: %q (only one side changed it)", fields.Title), w)))
	}
	return lines
}

// entryView is the current entry: what is around it, the three sides,
// and the result so far.
func (s *mergeScreen) entryView(m *Model, w int) string {
	var b strings.Builder
	if len(s.entries) == 0 {
		fields, _ := s.result()
		b.WriteString(m.st.bold.Render("Merged result:") + "\n")
		b.WriteString(termtext.Text(strings.TrimRight(fields.Body, "\n")))
		return b.String()
	}
	e := s.entries[s.cur]
	what := ""
	switch e.kind {
	case entryTitle:
		what = "the title"
	case entryDeleted:
		what = "delete or keep"
	default:
		first, last := s.lineRange(e)
		what = fmt.Sprintf("body lines %d–%d of ours", first, last)
		if first == last {
			what = fmt.Sprintf("body line %d of ours", first)
		}
	}
	label := fmt.Sprintf("conflict %d of %d: %s · %s", s.cur+1, len(s.entries), what, choiceNames[e.choice])
	b.WriteString(m.st.conflict.Render(truncate(label, w)) + "\n")
	switch e.kind {
	case entryTitle:
		title := func(t string) []string { return []string{termtext.Line(t)} }
		b.WriteString(s.panes(m, w, title(s.base.Title), title(s.ours.Title), title(s.theirs.Title)))
	case entryDeleted:
		state := func(deleted bool, title string) []string {
			if deleted {
				return []string{"[deleted]"}
			}
			return []string{"[kept and edited: " + termtext.Line(title) + "]"}
		}
		b.WriteString(s.panes(m, w, []string{"[present]"}, state(s.ours.Deleted, s.ours.Title), state(s.theirs.Deleted, s.theirs.Title)))
	default:
		before, after := s.context(e, 3)
		for _, l := range before {
			b.WriteString(m.st.dim.Render("  "+truncate(bodyLine(l), w-2)) + "\n")
		}
		b.WriteString(s.panes(m, w, e.conflict.Base, e.conflict.Ours, e.conflict.Theirs))
		b.WriteString(m.st.bold.Render("result:") + "\n")
		if e.choice == undecided {
			b.WriteString(m.st.dim.Render("  (undecided: o ours, t theirs, b both, e write it)") + "\n")
		} else {
			for _, l := range e.lines() {
				b.WriteString("  " + bodyLine(l) + "\n")
			}
			if len(e.lines()) == 0 {
				b.WriteString(m.st.dim.Render("  (nothing: the lines are removed)") + "\n")
			}
		}
		for _, l := range after {
			b.WriteString(m.st.dim.Render("  "+truncate(bodyLine(l), w-2)) + "\n")
		}
		return strings.TrimRight(b.String(), "\n")
	}
	b.WriteString(m.st.bold.Render("result:") + " ")
	fields, _ := s.result()
	switch {
	case e.choice == undecided && e.kind == entryTitle:
		b.WriteString(m.st.dim.Render("(undecided: o ours, t theirs, e write it)"))
	case e.choice == undecided:
		b.WriteString(m.st.dim.Render("(undecided: o ours, t theirs)"))
	case e.kind == entryDeleted && fields.Deleted:
		b.WriteString("the page is deleted")
	case e.kind == entryDeleted:
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

// context returns up to n merged lines before and after a hunk entry.
func (s *mergeScreen) context(e mergeEntry, n int) (before, after []string) {
	for i := e.hunk - 1; i >= 0 && len(before) < n; i-- {
		h := s.body.Hunks[i]
		if h.Kind == merge.HunkConflict {
			break
		}
		ls := resolvedLines(h)
		for j := len(ls) - 1; j >= 0 && len(before) < n; j-- {
			before = append([]string{ls[j]}, before...)
		}
	}
	for i := e.hunk + 1; i < len(s.body.Hunks) && len(after) < n; i++ {
		h := s.body.Hunks[i]
		if h.Kind == merge.HunkConflict {
			break
		}
		for _, l := range resolvedLines(h) {
			if len(after) < n {
				after = append(after, l)
			}
		}
	}
	return before, after
}

// resolvedLines is what a clean hunk puts in the merge.
func resolvedLines(h merge.Hunk) []string {
	if h.Kind == merge.HunkTheirs {
		return h.Theirs
	}
	return h.Ours
}

// lineRange is where a hunk sits in ours, 1-based, for the label.
func (s *mergeScreen) lineRange(e mergeEntry) (int, int) {
	n := 0
	for i := 0; i < e.hunk; i++ {
		n += len(s.body.Hunks[i].Ours)
	}
	return n + 1, n + max(len(e.conflict.Ours), 1)
}

// wholeView is the whole merged body as it stands: clean lines, decided
// conflicts ("+" in the gutter) and undecided ones between git-style
// markers ("!"); the current entry's lines carry ">". It returns the
// content and the line where the current entry starts.
func (s *mergeScreen) wholeView(m *Model, w int) (string, int) {
	fields, _ := s.result()
	var out []string
	out = append(out, m.st.bold.Render(truncate("title: "+termtext.Line(fields.Title), w)))
	if fields.Deleted {
		out = append(out, m.st.warn.Render("the page is deleted by the choice made"))
	}
	entryOf := map[int]int{}
	for i, e := range s.entries {
		if e.kind == entryHunk {
			entryOf[e.hunk] = i
		}
	}
	curLine := 0
	add := func(gutter, line string, style func(...string) string) {
		out = append(out, style(gutter+" "+truncate(bodyLine(line), w-2)))
	}
	plain := func(ss ...string) string { return strings.Join(ss, "") }
	for i, h := range s.body.Hunks {
		if h.Kind != merge.HunkConflict {
			for _, l := range resolvedLines(h) {
				add(" ", l, plain)
			}
			continue
		}
		ei := entryOf[i]
		e := s.entries[ei]
		gutter := "+"
		if e.choice == undecided {
			gutter = "!"
		}
		if ei == s.cur {
			gutter = ">"
			curLine = len(out)
		}
		if e.choice != undecided {
			for _, l := range e.lines() {
				add(gutter, l, m.st.okMsg.Render)
			}
			continue
		}
		add(gutter, "<<<<<<< ours", m.st.conflict.Render)
		for _, l := range e.conflict.Ours {
			add(gutter, l, m.st.ours.Render)
		}
		add(gutter, "=======", m.st.conflict.Render)
		for _, l := range e.conflict.Theirs {
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

func (s *mergeScreen) typing() bool { return s.editing }

func (s *mergeScreen) helpKeys(m *Model) []key.Binding {
	if s.editing || s.done != "" || s.err != nil {
		return s.keys(m)
	}
	return []key.Binding{mergeKeys.Next, mergeKeys.Prev, mergeKeys.Ours, mergeKeys.Theirs,
		bind("b", "both: ours then theirs (body text)", "b"), bind("e", "write the result by hand", "e"), mergeKeys.Undo,
		bind("s", "save (with several heads: go on to the next)", "s"), bind("q/esc", "quit without saving", "q"),
		bind("v", "whole result / this conflict", "v"), keyUp, keyDown, keyPgUp, keyPgDown, keyTop, keyBottom}
}
