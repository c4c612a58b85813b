// Package mergesession is a person's merge of a conflicted page, as a
// plain value: the heads being merged, the conflicts left to decide, the
// choice made for each, where the person is, and the fields all that
// produces. A merge screen (ui/tui) drives it with key presses and draws
// it; this package does neither.
//
// The conflicts are merge.Resolve's, under the merge policy: what that
// policy settles by itself (a title only one side changed, the clean
// parts of the bodies) is settled here the same way, and its body
// conflicts are merge.Merge3's hunks. The one decision the policy makes
// that a person merging by hand makes instead is delete against edit:
// when one side deleted the page, keeping or deleting it is an entry.
//
// More than two heads are folded in order, as the replicated policies
// fold them: ours is the first head, and each further head is merged into
// the result so far. The caller gives the base of each fold
// (wiki.Repo.FoldBase), because finding it reads the page's history.
//
// It must never read or write the repo, touch a terminal, or decide a
// conflict for the person.
package mergesession

import (
	"errors"
	"slices"
	"strings"

	"peerwiki/merge"
	"peerwiki/wiki"
)

// Kind is what an entry decides.
type Kind int

const (
	// Deleted is delete against edit: keep the page or delete it.
	Deleted Kind = iota
	// Title is a title both sides changed, differently.
	Title
	// BodyHunk is one conflicting hunk of the body.
	BodyHunk
)

// Choice is what the person decided for one entry.
type Choice int

const (
	Undecided Choice = iota // no choice yet: ours stands in the result
	Ours                    // ours' side
	Theirs                  // theirs' side
	Both                    // ours' lines, then theirs' (body hunks only)
	Edited                  // written by hand (not a deletion)
)

var choiceNames = [...]string{"undecided", "ours", "theirs", "both", "edited"}

// String is the choice's name, as the merge screen shows it.
func (c Choice) String() string { return choiceNames[c] }

// Errors that Choose, Edit and EditText return; callers branch on them.
var (
	// ErrNoEntry: there is nothing to decide at this step.
	ErrNoEntry = errors.New("no conflict to decide")
	// ErrBothNeedsText: a title or a deletion cannot take both sides.
	ErrBothNeedsText = errors.New("both sides only make sense for body text")
	// ErrKeepOrDelete: a deletion is kept or taken, not written.
	ErrKeepOrDelete = errors.New("keep or delete: take one side")
	// ErrUndecided: an entry that matters has no choice yet.
	ErrUndecided = errors.New("conflicts are undecided")
	// ErrLastHead: the last head is folded in; what is left is to save.
	ErrLastHead = errors.New("no further head to fold in")
)

// Entry is one decision: the title, delete-vs-edit, or a body hunk.
type Entry struct {
	Kind Kind
	// Hunk is the conflicting lines, for a BodyHunk (zero otherwise).
	Hunk merge.Hunk
	// Line is where the hunk starts in ours, counting from 1.
	Line   int
	Choice Choice
	// Edited is the text written by hand, for Edited: lines with their
	// "\n" (a title: one line without).
	Edited []string
}

// Lines is a BodyHunk's resolved lines (ours while undecided).
func (e Entry) Lines() []string {
	switch e.Choice {
	case Theirs:
		return e.Hunk.Theirs
	case Both:
		return both(e.Hunk)
	case Edited:
		return e.Edited
	}
	return e.Hunk.Ours
}

// OursLines is the range of ours' lines a BodyHunk covers, counting from
// 1; a hunk where ours has no lines covers the line it stands before.
func (e Entry) OursLines() (first, last int) {
	return e.Line, e.Line + max(len(e.Hunk.Ours), 1) - 1
}

// both is ours' lines then theirs', ours' last line given a newline so
// that the two stay separate lines.
func both(h merge.Hunk) []string {
	out := slices.Clone(h.Ours)
	if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
		out[n-1] += "\n"
	}
	return append(out, h.Theirs...)
}

// Segment is one stretch of the merged body, in order: lines merged
// already (Entry < 0), or the BodyHunk entry numbered Entry.
type Segment struct {
	Lines []string
	Entry int
}

// undoStep is an entry's choice before it changed.
type undoStep struct {
	entry  int
	choice Choice
	edited []string
}

// Session is one merge of a page's heads, one fold step at a time.
type Session struct {
	heads []merge.Version // in fold order: heads[0] is ours
	step  int             // the head being folded in: 1 … len(heads)-1

	ours, theirs, base merge.Version // ours is the result so far

	proposed merge.Fields // merge.Resolve's fields, before any choice
	body     merge.Result // the body's merge, when its hunks conflict
	segments []Segment

	entries []Entry
	cur     int
	undos   []undoStep
}

// New starts merging heads, two or more, in the order given: heads[0] is
// ours. base is the base of folding heads[1] into heads[0].
func New(heads []merge.Version, base merge.Version) (*Session, error) {
	if len(heads) < 2 {
		return nil, errors.New("a merge needs two heads or more")
	}
	s := &Session{heads: slices.Clone(heads), ours: heads[0]}
	s.prepare(1, base)
	return s, nil
}

// prepare computes step k: the merge of the result so far with head k.
func (s *Session) prepare(k int, base merge.Version) {
	s.step, s.theirs, s.base = k, s.heads[k], base
	s.entries, s.cur, s.undos = nil, 0, nil
	s.body, s.segments = merge.Result{}, nil
	if s.ours.Deleted != s.theirs.Deleted {
		s.entries = append(s.entries, Entry{Kind: Deleted})
	}
	// The policy would let an edit beat a deletion before merging
	// anything else; here the deletion is the entry above, and the title
	// and body are merged as if both sides agreed on it.
	theirs := s.theirs
	theirs.Deleted = s.ours.Deleted
	fields, conflicts := merge.Resolve(merge.PolicyMerge, base.Fields(), s.ours, theirs)
	s.proposed = fields
	for _, c := range conflicts {
		switch c.Field {
		case merge.FieldTitle:
			s.entries = append(s.entries, Entry{Kind: Title})
		case merge.FieldBody:
			s.body = c.Body
		}
	}
	if s.body.Clean() {
		if ls := slices.Collect(strings.Lines(fields.Body)); len(ls) > 0 {
			s.segments = []Segment{{Lines: ls, Entry: -1}}
		}
		return
	}
	line := 1
	for _, h := range s.body.Hunks {
		if h.Kind == merge.HunkConflict {
			s.segments = append(s.segments, Segment{Entry: len(s.entries)})
			s.entries = append(s.entries, Entry{Kind: BodyHunk, Hunk: h, Line: line})
		} else if n := len(s.segments); n > 0 && s.segments[n-1].Entry < 0 {
			s.segments[n-1].Lines = append(s.segments[n-1].Lines, clean(h)...)
		} else {
			s.segments = append(s.segments, Segment{Lines: slices.Clone(clean(h)), Entry: -1})
		}
		line += len(h.Ours)
	}
}

// clean is what a hunk that does not conflict puts in the merge.
func clean(h merge.Hunk) []string {
	if h.Kind == merge.HunkTheirs {
		return h.Theirs
	}
	return h.Ours
}

// Keep takes over old's choices for entries that are the same here (the
// same kind and, for a body hunk, the same lines), so that a peer's edit
// arriving mid-merge costs only the decisions it touches. old may be nil.
func (s *Session) Keep(old *Session) {
	if old == nil {
		return
	}
	for i := range s.entries {
		for _, o := range old.entries {
			if o.Choice != Undecided && o.Kind == s.entries[i].Kind && sameHunk(o.Hunk, s.entries[i].Hunk) {
				s.entries[i].Choice, s.entries[i].Edited = o.Choice, o.Edited
				break
			}
		}
	}
}

func sameHunk(a, b merge.Hunk) bool {
	return slices.Equal(a.Base, b.Base) && slices.Equal(a.Ours, b.Ours) && slices.Equal(a.Theirs, b.Theirs)
}

// Heads is how many heads are merged.
func (s *Session) Heads() int { return len(s.heads) }

// Step is the head being folded in: 1 for the first merge, up to Heads()-1.
func (s *Session) Step() int { return s.step }

// Last reports whether this step folds in the last head.
func (s *Session) Last() bool { return s.step == len(s.heads)-1 }

// Ours is the result so far: the first head at step 1.
func (s *Session) Ours() merge.Version { return s.ours }

// Theirs is the head being folded in.
func (s *Session) Theirs() merge.Version { return s.theirs }

// Base is this step's merge base; its Rev is empty when it is the merge
// of several common ancestors.
func (s *Session) Base() merge.Version { return s.base }

// Entries are this step's decisions: delete-vs-edit first, then the
// title, then the body's hunks in order. The slice is a copy.
func (s *Session) Entries() []Entry { return slices.Clone(s.entries) }

// Segments is the merged body in order: merged lines, and the BodyHunk
// entries between them.
func (s *Session) Segments() []Segment { return s.segments }

// Has reports whether an entry of kind k is to be decided.
func (s *Session) Has(k Kind) bool {
	return slices.ContainsFunc(s.entries, func(e Entry) bool { return e.Kind == k })
}

// Current is the index of the entry the person is on.
func (s *Session) Current() int { return s.cur }

// Decided is how many entries have a choice.
func (s *Session) Decided() int {
	n := 0
	for _, e := range s.entries {
		if e.Choice != Undecided {
			n++
		}
	}
	return n
}

// Next moves to the next entry; on the last it stays.
func (s *Session) Next() {
	if len(s.entries) > 0 {
		s.cur = min(s.cur+1, len(s.entries)-1)
	}
}

// Prev moves to the previous entry; on the first it stays.
func (s *Session) Prev() { s.cur = max(s.cur-1, 0) }

// ToUndecided moves to the first entry without a choice, if there is one.
func (s *Session) ToUndecided() {
	if i := slices.IndexFunc(s.entries, func(e Entry) bool { return e.Choice == Undecided }); i >= 0 {
		s.cur = i
	}
}

// Choose decides the current entry: Ours, Theirs, or Both (body hunks
// only); Edit writes one by hand. It then moves to the next undecided
// entry, as a person working down the list expects.
func (s *Session) Choose(c Choice) error {
	if c == Edited {
		return errors.New("a hand-written choice is made by Edit")
	}
	return s.choose(c, nil)
}

func (s *Session) choose(c Choice, edited []string) error {
	if s.cur >= len(s.entries) {
		return ErrNoEntry
	}
	e := &s.entries[s.cur]
	if c == Both && e.Kind != BodyHunk {
		return ErrBothNeedsText
	}
	if c == Edited && e.Kind == Deleted {
		return ErrKeepOrDelete
	}
	s.undos = append(s.undos, undoStep{entry: s.cur, choice: e.Choice, edited: e.Edited})
	e.Choice, e.Edited = c, edited
	for i := 1; i <= len(s.entries); i++ {
		if j := (s.cur + i) % len(s.entries); s.entries[j].Choice == Undecided {
			s.cur = j
			break
		}
	}
	return nil
}

// Undo takes back the last choice of this step and goes to its entry; it
// reports false when there is none.
func (s *Session) Undo() bool {
	n := len(s.undos)
	if n == 0 {
		return false
	}
	u := s.undos[n-1]
	s.undos = s.undos[:n-1]
	s.entries[u.entry].Choice, s.entries[u.entry].Edited = u.choice, u.edited
	s.cur = u.entry
	return true
}

// EditText is what the hand editor starts from for the current entry: its
// result so far, or for an undecided hunk both sides, to cut down from.
func (s *Session) EditText() (string, error) {
	if s.cur >= len(s.entries) {
		return "", ErrNoEntry
	}
	e := s.entries[s.cur]
	switch e.Kind {
	case Deleted:
		return "", ErrKeepOrDelete
	case Title:
		switch e.Choice {
		case Theirs:
			return s.theirs.Title, nil
		case Edited:
			return strings.Join(e.Edited, ""), nil
		}
		return s.ours.Title, nil
	}
	ls := e.Lines()
	if e.Choice == Undecided {
		ls = both(e.Hunk)
	}
	return strings.TrimSuffix(strings.Join(ls, ""), "\n"), nil
}

// Edit decides the current entry with text written by hand: a title is
// its words with single spaces, and must be one a page may have; a hunk
// is the text's lines, ending with a newline, or none at all.
func (s *Session) Edit(text string) error {
	if s.cur >= len(s.entries) {
		return ErrNoEntry
	}
	var lines []string
	if s.entries[s.cur].Kind == Title {
		title := strings.Join(strings.Fields(text), " ")
		if err := wiki.CheckTitle(title); err != nil {
			return err
		}
		lines = []string{title}
	} else if text != "" {
		lines = slices.Collect(strings.Lines(text + "\n"))
	}
	return s.choose(Edited, lines)
}

// Result is the merged fields with the choices made so far; ready is
// false while an entry that matters is undecided (none does once the page
// is to be deleted).
func (s *Session) Result() (fields merge.Fields, ready bool) {
	out := s.proposed
	ready = true
	var hunks []Entry
	for _, e := range s.entries {
		switch e.Kind {
		case Deleted:
			switch e.Choice {
			case Ours:
				out.Deleted = s.ours.Deleted
			case Theirs:
				out.Deleted = s.theirs.Deleted
			default:
				ready = false
			}
		case Title:
			switch e.Choice {
			case Theirs:
				out.Title = s.theirs.Title
			case Edited:
				out.Title = strings.Join(e.Edited, "")
			}
		case BodyHunk:
			hunks = append(hunks, e)
		}
	}
	if !s.body.Clean() {
		out.Body = s.body.Resolved(func(i int, _ merge.Hunk) []string { return hunks[i].Lines() })
	}
	if !out.Deleted {
		for _, e := range s.entries {
			if e.Kind != Deleted && e.Choice == Undecided {
				ready = false
			}
		}
	}
	return out, ready
}

// Fold ends a step that is not the last: its result becomes ours, and the
// next head is merged into it against base, the base of folding that head
// into the heads before it. The choices and the undo list start afresh.
func (s *Session) Fold(base merge.Version) error {
	fields, ready := s.Result()
	if !ready {
		return ErrUndecided
	}
	if s.Last() {
		return ErrLastHead
	}
	s.ours = merge.Version{Rev: s.ours.Rev, Title: fields.Title, Body: fields.Body, Deleted: fields.Deleted}
	s.prepare(s.step+1, base)
	return nil
}

// Context is up to n merged lines before and after entry i, a body hunk:
// the lines around it up to the next conflict on either side.
func (s *Session) Context(i, n int) (before, after []string) {
	k := slices.IndexFunc(s.segments, func(g Segment) bool { return g.Entry == i })
	if k < 0 {
		return nil, nil
	}
	if k > 0 && s.segments[k-1].Entry < 0 {
		ls := s.segments[k-1].Lines
		before = ls[max(len(ls)-n, 0):]
	}
	if k+1 < len(s.segments) && s.segments[k+1].Entry < 0 {
		ls := s.segments[k+1].Lines
		after = ls[:min(n, len(ls))]
	}
	return before, after
}
