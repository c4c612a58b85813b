package tui

import (
	"errors"
	"fmt"
	"slices"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/ipfs/go-cid"

	"peerwiki/merge"
	"peerwiki/ui/mergesession"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// The merge screen resolves a conflicted page by hand: every conflicted
// hunk of the body, and the title and delete-vs-edit conflicts, one entry
// at a time, with base, ours and theirs side by side (stacked on narrow
// terminals) and the clean parts around as context. Saving makes one
// revision whose parents are all the heads (wiki.Repo.Resolve).
//
// What is decided, and what the choices make, is a mergesession.Session:
// this file reads the heads, feeds the session the person's keys and
// saves its result; merge_view.go draws it. With more than two heads each
// fold is one step on the screen; "s" on a step that is not the last goes
// on to the next head, and the last one saves.
//
// "Ours" is this replica's own head when exactly one head is ours; else
// the heads keep the store's order (latest first). The header names each
// side's author and time, so the person knows which is which.

type mergeScreen struct {
	page  cid.Cid
	title string
	heads []cid.Cid
	vers  []wiki.Version // the heads' versions, in heads order

	sess  *mergesession.Session
	dirty bool // choices were made and not saved

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

// load reads the page's heads and starts a session on them. Choices made
// in old are kept for entries whose hunks are the same, so a peer's edit
// arriving mid-merge costs only the decisions it touches.
func (s *mergeScreen) load(m *Model, old *mergesession.Session) {
	row, err := m.repo.Page(m.ctx, s.page)
	if err != nil {
		s.err = err
		return
	}
	s.title = row.Title
	heads, err := m.repo.Heads(m.ctx, s.page)
	if err != nil {
		s.err = err
		return
	}
	if row.Versions < 2 {
		s.heads, s.sess, s.done = heads, nil, fmt.Sprintf("%q has no conflict (any more): nothing to merge.", row.Title)
		return
	}
	prev := s.heads
	s.heads = oursFirst(m, heads)
	if len(prev) > 0 {
		s.heads = keepOurs(m, s.heads, prev[0])
	}
	s.vers = s.vers[:0]
	versions := make([]merge.Version, 0, len(s.heads))
	for _, h := range s.heads {
		v, _, err := m.repo.RevisionVersion(m.ctx, h)
		if err != nil {
			s.err = err
			return
		}
		s.vers = append(s.vers, v)
		versions = append(versions, merge.Version{Rev: v.Rev.String(), Title: v.Title, Body: v.Body, Deleted: v.Deleted, Author: v.Author})
	}
	sess, err := mergesession.New(versions, s.foldBase(m, 1))
	if err != nil {
		s.err = err
		return
	}
	sess.Keep(old)
	s.sess, s.done, s.err = sess, "", nil
	s.vpFor = ""
}

// foldBase is the base of folding head k into heads[:k], as the wiki's
// merge policy computes it (wiki.Repo.FoldBase). A base that cannot be
// read is an empty one: the heads then share nothing, so every difference
// is an entry for the person and nothing is settled unseen.
func (s *mergeScreen) foldBase(m *Model, k int) merge.Version {
	b, err := m.repo.FoldBase(m.ctx, s.page, s.heads[:k], s.heads[k])
	if err != nil {
		return merge.Version{}
	}
	base := merge.Version{Title: b.Title, Body: b.Body, Deleted: b.Deleted}
	if b.Rev.Defined() {
		base.Rev = b.Rev.String()
	}
	return base
}

// oursFirst puts this replica's head first when exactly one head is its.
func oursFirst(m *Model, heads []cid.Cid) []cid.Cid {
	me := m.repo.ID.ID.String()
	mine := -1
	for i, h := range heads {
		rev, err := m.repo.Revision(m.ctx, h)
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
		if ok, err := m.repo.IsAncestor(m.ctx, ours, h); err == nil && ok {
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

// reload notices heads that changed while the screen was open (a peer's
// edit, another process's resolve) and recomputes, keeping what it can.
func (s *mergeScreen) reload(m *Model) {
	heads, err := m.repo.Heads(m.ctx, s.page)
	if err != nil {
		return
	}
	if sameSet(heads, s.heads) {
		return
	}
	s.editing = false
	s.load(m, s.sess)
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

func (s *mergeScreen) unsaved() bool { return s.dirty }

func (s *mergeScreen) typing() bool { return s.editing }

// changed notes a choice made or taken back.
func (s *mergeScreen) changed() {
	s.dirty = true
	s.vpFor = ""
}

// choose decides the current entry, or says why it cannot.
func (s *mergeScreen) choose(m *Model, c mergesession.Choice) {
	switch err := s.sess.Choose(c); {
	case err == nil:
		s.changed()
	case errors.Is(err, mergesession.ErrBothNeedsText):
		m.setFlash("both sides only make sense for body text: choose o or t, or e to write the title", true)
	case errors.Is(err, mergesession.ErrKeepOrDelete):
		m.setFlash("keep or delete: o takes ours, t takes theirs", true)
	case errors.Is(err, mergesession.ErrNoEntry):
		// Nothing to decide: the heads merge cleanly, s saves.
	default:
		m.fail(err)
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
		s.sess.Next()
	case key.Matches(km, mergeKeys.Prev):
		s.sess.Prev()
	case key.Matches(km, mergeKeys.Ours):
		s.choose(m, mergesession.Ours)
	case key.Matches(km, mergeKeys.Theirs):
		s.choose(m, mergesession.Theirs)
	case key.Matches(km, mergeKeys.Both):
		s.choose(m, mergesession.Both)
	case key.Matches(km, mergeKeys.Edit):
		return s.startEdit(m)
	case key.Matches(km, mergeKeys.Undo):
		if s.sess.Undo() {
			s.changed()
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
	text, err := s.sess.EditText()
	switch {
	case errors.Is(err, mergesession.ErrKeepOrDelete):
		m.setFlash("keep or delete: o takes ours, t takes theirs", true)
		return nil
	case err != nil: // ErrNoEntry: the heads merge cleanly, nothing to write
		return nil
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
		if err := s.sess.Edit(s.editor.Value()); err != nil {
			m.fail(err)
			return nil
		}
		s.editing = false
		s.editor.Blur()
		s.changed()
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

// save ends a step: on the last one it writes the resolution, a revision
// whose parents are all the heads; on an earlier one it folds the next
// head in. It refuses while an entry is undecided, and recomputes if the
// heads changed under it, so a resolve never hides an edit nobody saw.
func (s *mergeScreen) save(m *Model) tea.Cmd {
	fields, ready := s.sess.Result()
	if !ready {
		s.sess.ToUndecided()
		n := len(s.sess.Entries())
		m.setFlash(fmt.Sprintf("%d of %d %s undecided: choose o, t, b or e for each", n-s.sess.Decided(), n,
			plural(n, "conflict", "conflicts")), true)
		return nil
	}
	if !s.sess.Last() {
		if err := s.sess.Fold(s.foldBase(m, s.sess.Step()+1)); err != nil {
			m.fail(err)
			return nil
		}
		s.vpFor = ""
		m.setFlash(fmt.Sprintf("folded; now head %d of %d", s.sess.Step()+1, len(s.heads)), false)
		return nil
	}
	heads, err := m.repo.Heads(m.ctx, s.page)
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
