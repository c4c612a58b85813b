package mergesession

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"peerwiki/merge"
	"peerwiki/wiki"
)

// nine is the base of the two-hunk conflict: lines 2 and 8 changed
// differently by each side, as the merge screen's tests have it.
const nine = "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\n"

func body(old ...string) string { return strings.NewReplacer(old...).Replace(nine) }

func ver(rev, title, body string, deleted bool) merge.Version {
	return merge.Version{Rev: rev, Title: title, Body: body, Deleted: deleted}
}

// twoHunks is a session on the two-hunk conflict.
func twoHunks(t *testing.T) *Session {
	t.Helper()
	return start(t, ver("base", "Plan", nine, false),
		ver("a", "Plan", body("line 2", "A two", "line 8", "A eight"), false),
		ver("b", "Plan", body("line 2", "B two", "line 8", "B eight"), false))
}

func start(t *testing.T, base merge.Version, heads ...merge.Version) *Session {
	t.Helper()
	s, err := New(heads, base)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kinds(s *Session) []Kind {
	var out []Kind
	for _, e := range s.Entries() {
		out = append(out, e.Kind)
	}
	return out
}

func TestEntriesAndWhatIsSettled(t *testing.T) {
	for _, tc := range []struct {
		name               string
		base, ours, theirs merge.Version
		kinds              []Kind
		want               merge.Fields // Result before any choice
		ready              bool
	}{
		{
			name:   "two body hunks",
			base:   ver("base", "Plan", nine, false),
			ours:   ver("a", "Plan", body("line 2", "A two", "line 8", "A eight"), false),
			theirs: ver("b", "Plan", body("line 2", "B two", "line 8", "B eight"), false),
			kinds:  []Kind{BodyHunk, BodyHunk},
			want:   merge.Fields{Title: "Plan", Body: body("line 2", "A two", "line 8", "A eight")},
		},
		{
			name:   "clean body merge",
			base:   ver("base", "Plan", nine, false),
			ours:   ver("a", "Plan", body("line 2", "A two"), false),
			theirs: ver("b", "Plan", body("line 8", "B eight"), false),
			want:   merge.Fields{Title: "Plan", Body: body("line 2", "A two", "line 8", "B eight")},
			ready:  true,
		},
		{
			name:   "title both renamed",
			base:   ver("base", "Draft", "text\n", false),
			ours:   ver("a", "Draft X", "text\n", false),
			theirs: ver("b", "Draft Y", "text\n", false),
			kinds:  []Kind{Title},
			want:   merge.Fields{Title: "Draft X", Body: "text\n"},
		},
		{
			name:   "title only theirs renamed: theirs, no entry",
			base:   ver("base", "Draft", "text\n", false),
			ours:   ver("a", "Draft", "text\nmore\n", false),
			theirs: ver("b", "Draft Y", "text\n", false),
			want:   merge.Fields{Title: "Draft Y", Body: "text\nmore\n"},
			ready:  true,
		},
		{
			name:   "delete against edit is the person's, not the policy's",
			base:   ver("base", "Temp", "a\n", false),
			ours:   ver("a", "Temp", "a\nb\n", false),
			theirs: ver("b", "Temp", "a\n", true),
			kinds:  []Kind{Deleted},
			want:   merge.Fields{Title: "Temp", Body: "a\nb\n"},
		},
		{
			name:   "deleted, and the titles conflict",
			base:   ver("base", "Temp", "a\n", false),
			ours:   ver("a", "Temp X", "a\n", true),
			theirs: ver("b", "Temp Y", "a\n", false),
			kinds:  []Kind{Deleted, Title},
			want:   merge.Fields{Title: "Temp X", Body: "a\n", Deleted: true}, // ours, until decided
		},
		{
			name:   "no common ancestor's revision: the base's Rev is empty",
			base:   ver("", "Plan", "x\n", false),
			ours:   ver("a", "Plan", "x\ny\n", false),
			theirs: ver("b", "Plan", "x\nz\n", false),
			kinds:  []Kind{BodyHunk},
			want:   merge.Fields{Title: "Plan", Body: "x\ny\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.base, tc.ours, tc.theirs)
			if got := kinds(s); !slices.Equal(got, tc.kinds) {
				t.Fatalf("entries %v, want %v", got, tc.kinds)
			}
			if got, ready := s.Result(); got != tc.want || ready != tc.ready {
				t.Fatalf("Result = %+v, %v; want %+v, %v", got, ready, tc.want, tc.ready)
			}
			if s.Step() != 1 || !s.Last() || s.Heads() != 2 || s.Base() != tc.base {
				t.Fatalf("step %d of %d heads, last %v, base %+v", s.Step(), s.Heads(), s.Last(), s.Base())
			}
		})
	}
}

func TestNewNeedsTwoHeads(t *testing.T) {
	if _, err := New([]merge.Version{ver("a", "A", "", false)}, merge.Version{}); err == nil {
		t.Fatal("a session of one head")
	}
}

func TestChoicesMakeTheResult(t *testing.T) {
	for _, tc := range []struct {
		name    string
		choices []Choice
		body    string
		ready   bool
	}{
		{"ours, theirs", []Choice{Ours, Theirs}, body("line 2", "A two", "line 8", "B eight"), true},
		{"theirs, ours", []Choice{Theirs, Ours}, body("line 2", "B two", "line 8", "A eight"), true},
		{"both, both", []Choice{Both, Both}, body("line 2", "A two\nB two", "line 8", "A eight\nB eight"), true},
		{"one undecided: ours stands in", []Choice{Theirs}, body("line 2", "B two", "line 8", "A eight"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := twoHunks(t)
			for _, c := range tc.choices {
				if err := s.Choose(c); err != nil {
					t.Fatal(err)
				}
			}
			got, ready := s.Result()
			if got.Body != tc.body || ready != tc.ready || got.Title != "Plan" || got.Deleted {
				t.Fatalf("Result = %+v, %v; want body %q, %v", got, ready, tc.body, tc.ready)
			}
		})
	}
}

// Both keeps ours' last line a line of its own when it lacks a newline.
func TestBothAddsTheMissingNewline(t *testing.T) {
	s := start(t, ver("base", "T", "a", false), ver("a", "T", "b", false), ver("b", "T", "c", false))
	if err := s.Choose(Both); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Result(); got.Body != "b\nc" {
		t.Fatalf("both: %q, want %q", got.Body, "b\nc")
	}
}

func TestDeletion(t *testing.T) {
	base := ver("base", "Temp", "a\n", false)
	ours := ver("a", "Temp", "a\nours\n", true)
	theirs := ver("b", "Temp", "a\ntheirs\n", false)
	for _, tc := range []struct {
		name    string
		choices []Choice
		deleted bool
		ready   bool
	}{
		{"taking the deletion settles the page", []Choice{Ours}, true, true},
		{"keeping it leaves the body to decide", []Choice{Theirs}, false, false},
		{"keeping it and the body", []Choice{Theirs, Theirs}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, base, ours, theirs)
			if got := kinds(s); !slices.Equal(got, []Kind{Deleted, BodyHunk}) {
				t.Fatalf("entries %v", got)
			}
			for _, c := range tc.choices {
				if err := s.Choose(c); err != nil {
					t.Fatal(err)
				}
			}
			if got, ready := s.Result(); got.Deleted != tc.deleted || ready != tc.ready {
				t.Fatalf("Result = %+v, %v; want deleted %v, ready %v", got, ready, tc.deleted, tc.ready)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	title := start(t, ver("base", "Draft", "text\n", false), ver("a", "Draft X", "text\n", false), ver("b", "Draft Y", "text\n", false))
	deletion := start(t, ver("base", "Temp", "a\n", false), ver("a", "Temp", "a\nb\n", false), ver("b", "Temp", "a\n", true))
	clean := start(t, ver("base", "T", "a\n", false), ver("a", "T", "b\n", false), ver("b", "T", "a\n", false))
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"both on a title", title.Choose(Both), ErrBothNeedsText},
		{"both on a deletion", deletion.Choose(Both), ErrBothNeedsText},
		{"a deletion written by hand", deletion.Edit("gone"), ErrKeepOrDelete},
		{"the hand editor on a deletion", second(deletion.EditText()), ErrKeepOrDelete},
		{"a title that is no title", title.Edit(" \t "), wiki.ErrInvalid},
		{"choose with nothing to decide", clean.Choose(Ours), ErrNoEntry},
		{"edit with nothing to decide", clean.Edit("x"), ErrNoEntry},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if err := title.Choose(Edited); err == nil {
		t.Error("Choose(Edited) took a choice without text")
	}
	for name, s := range map[string]*Session{"title": title, "deletion": deletion} {
		if s.Decided() != 0 || s.Undo() {
			t.Errorf("%s: a refused choice was recorded", name)
		}
	}
}

func second(_ string, err error) error { return err }

func TestNavigationAndUndo(t *testing.T) {
	s := start(t, ver("base", "T", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", false),
		ver("a", "T", "A\n2\n3\n4\n5\nA\n7\n8\n9\n10\nA\n", false),
		ver("b", "T", "B\n2\n3\n4\n5\nB\n7\n8\n9\n10\nB\n", false))
	if n := len(s.Entries()); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	s.Prev()
	if s.Current() != 0 {
		t.Fatalf("prev on the first went to %d", s.Current())
	}
	s.Next()
	s.Next()
	s.Next()
	if s.Current() != 2 {
		t.Fatalf("next past the last went to %d", s.Current())
	}
	// Choosing goes on to the next undecided entry, wrapping round.
	for _, want := range []int{0, 1} {
		if err := s.Choose(Theirs); err != nil {
			t.Fatal(err)
		}
		if s.Current() != want {
			t.Fatalf("after a choice the cursor is on %d, want %d", s.Current(), want)
		}
	}
	if err := s.Choose(Both); err != nil {
		t.Fatal(err)
	}
	if s.Decided() != 3 || s.Current() != 1 {
		t.Fatalf("all decided: %d decided, cursor %d (it stays)", s.Decided(), s.Current())
	}
	// Undo takes back the choices in turn and goes to each.
	for _, want := range []int{1, 0, 2} {
		if !s.Undo() {
			t.Fatal("nothing to undo")
		}
		if s.Current() != want || s.Entries()[want].Choice != Undecided {
			t.Fatalf("undo: cursor %d, choice %v; want entry %d undecided", s.Current(), s.Entries()[s.Current()].Choice, want)
		}
	}
	if s.Undo() {
		t.Fatal("undo past the first choice")
	}
	if err := s.Choose(Ours); err != nil { // entry 2
		t.Fatal(err)
	}
	s.Next()
	s.ToUndecided()
	if s.Current() != 0 {
		t.Fatalf("ToUndecided went to %d, want 0", s.Current())
	}
}

func TestHandEdits(t *testing.T) {
	s := twoHunks(t)
	if text, err := s.EditText(); err != nil || text != "A two\nB two" {
		t.Fatalf("an undecided hunk's text to cut down from: %q, %v", text, err)
	}
	if err := s.Edit("hand\nmade"); err != nil {
		t.Fatal(err)
	}
	if err := s.Edit(""); err != nil { // entry 1: no lines at all
		t.Fatal(err)
	}
	es := s.Entries()
	if es[0].Choice != Edited || !slices.Equal(es[0].Edited, []string{"hand\n", "made\n"}) || es[1].Edited != nil {
		t.Fatalf("edited entries %+v", es)
	}
	got, ready := s.Result()
	if want := body("line 2", "hand\nmade", "line 8\n", ""); got.Body != want || !ready {
		t.Fatalf("Result = %q, %v; want %q", got.Body, ready, want)
	}
	s.Prev()
	if text, _ := s.EditText(); text != "hand\nmade" {
		t.Fatalf("an edited hunk's text: %q", text)
	}

	title := start(t, ver("base", "Draft", "text\n", false), ver("a", "Draft X", "text\n", false), ver("b", "Draft Y", "text\n", false))
	if text, _ := title.EditText(); text != "Draft X" {
		t.Fatalf("an undecided title's text: %q", text)
	}
	if err := title.Choose(Theirs); err != nil {
		t.Fatal(err)
	}
	if text, _ := title.EditText(); text != "Draft Y" {
		t.Fatalf("theirs' title's text: %q", text)
	}
	if err := title.Edit("  Draft \n  Z "); err != nil {
		t.Fatal(err)
	}
	if got, ready := title.Result(); got.Title != "Draft Z" || !ready {
		t.Fatalf("written title: %+v, %v", got, ready)
	}
	if text, _ := title.EditText(); text != "Draft Z" {
		t.Fatalf("a written title's text: %q", text)
	}
}

func TestFoldThreeHeads(t *testing.T) {
	base := ver("base", "Tri", "a\nb\nc\n", false)
	s := start(t, base, ver("h1", "Tri", "a1\nb\nc\n", false), ver("h2", "Tri", "a2\nb\nc\n", false), ver("h3", "Tri", "a\nb\nc3\n", false))
	if s.Last() || s.Heads() != 3 {
		t.Fatalf("step %d of %d heads is the last", s.Step(), s.Heads())
	}
	if err := s.Fold(base); !errors.Is(err, ErrUndecided) {
		t.Fatalf("fold with an undecided hunk: %v", err)
	}
	if err := s.Choose(Both); err != nil {
		t.Fatal(err)
	}
	if err := s.Fold(base); err != nil {
		t.Fatal(err)
	}
	if s.Step() != 2 || !s.Last() || s.Undo() || s.Current() != 0 {
		t.Fatalf("after the fold: step %d, last %v, cursor %d", s.Step(), s.Last(), s.Current())
	}
	if got := s.Ours(); got.Body != "a1\na2\nb\nc\n" || got.Rev != "h1" {
		t.Fatalf("ours is the result so far: %+v", got)
	}
	if s.Theirs().Rev != "h3" || len(s.Entries()) != 0 {
		t.Fatalf("theirs %q, entries %v", s.Theirs().Rev, kinds(s))
	}
	if got, ready := s.Result(); got.Body != "a1\na2\nb\nc3\n" || !ready {
		t.Fatalf("Result = %+v, %v", got, ready)
	}
	if err := s.Fold(base); !errors.Is(err, ErrLastHead) {
		t.Fatalf("fold past the last head: %v", err)
	}
}

// Keep carries a choice over to a hunk that is the same after the heads
// changed, and no further.
func TestKeepMatchingChoices(t *testing.T) {
	old := twoHunks(t)
	for _, c := range []Choice{Theirs, Both} {
		if err := old.Choose(c); err != nil {
			t.Fatal(err)
		}
	}
	s := start(t, ver("base", "Plan", nine, false),
		ver("a", "Plan", body("line 2", "A two", "line 8", "A eight"), false),
		ver("b2", "Plan", body("line 2", "B two", "line 8", "B eight, later"), false))
	s.Keep(old)
	es := s.Entries()
	if es[0].Choice != Theirs || es[1].Choice != Undecided {
		t.Fatalf("kept %v, %v; want theirs, undecided", es[0].Choice, es[1].Choice)
	}
	s.Keep(nil)
}

func TestSegmentsContextAndLines(t *testing.T) {
	s := twoHunks(t)
	var got []string
	for _, g := range s.Segments() {
		if g.Entry >= 0 {
			got = append(got, "#"+string(rune('0'+g.Entry)))
			continue
		}
		got = append(got, strings.Join(g.Lines, ""))
	}
	want := []string{"line 1\n", "#0", "line 3\nline 4\nline 5\nline 6\nline 7\n", "#1", "line 9\n"}
	if !slices.Equal(got, want) {
		t.Fatalf("segments %q, want %q", got, want)
	}
	for _, tc := range []struct {
		entry, n      int
		before, after string
		first, last   int
	}{
		{0, 3, "line 1\n", "line 3\nline 4\nline 5\n", 2, 2},
		{1, 3, "line 5\nline 6\nline 7\n", "line 9\n", 8, 8},
		{1, 1, "line 7\n", "line 9\n", 8, 8},
	} {
		before, after := s.Context(tc.entry, tc.n)
		first, last := s.Entries()[tc.entry].OursLines()
		if strings.Join(before, "") != tc.before || strings.Join(after, "") != tc.after || first != tc.first || last != tc.last {
			t.Errorf("entry %d: context %q %q, lines %d–%d; want %q %q, %d–%d", tc.entry, before, after, first, last, tc.before, tc.after, tc.first, tc.last)
		}
	}

	clean := start(t, ver("base", "T", "a\nb\n", false), ver("a", "T", "a\nb\nc\n", false), ver("b", "T", "a\nb\n", false))
	if segs := clean.Segments(); len(segs) != 1 || strings.Join(segs[0].Lines, "") != "a\nb\nc\n" {
		t.Fatalf("a clean merge's segments %+v", segs)
	}
}
