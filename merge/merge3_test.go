package merge

import (
	"slices"
	"strings"
	"testing"
)

var labels = MarkerOptions{OursLabel: "ours", BaseLabel: "base", TheirsLabel: "theirs"}

// merge3Cases are small merges whose answers are known; every one of them
// is also what `git merge-file -p` (or -p --diff3 for want3) prints, which
// TestCasesAgreeWithGit checks where git is installed.
var merge3Cases = []struct {
	name               string
	base, ours, theirs string
	want               string // Merge3(...).Text(labels)
	conflicts          int
	want3              string // Merge3Level(..., Eager).Text(labels with Diff3); "" if the same as want
	conflicts3         int
}{
	{
		name: "only ours changed",
		base: "a\nb\nc\n", ours: "a\nB\nc\n", theirs: "a\nb\nc\n",
		want: "a\nB\nc\n",
	},
	{
		name: "only theirs changed",
		base: "a\nb\nc\n", ours: "a\nb\nc\n", theirs: "a\nb\nC\n",
		want: "a\nb\nC\n",
	},
	{
		name: "both changed the same way",
		base: "a\nb\nc\n", ours: "a\nX\nc\n", theirs: "a\nX\nc\n",
		want: "a\nX\nc\n",
	},
	{
		name: "separate changes merge",
		base: "a\nb\nc\nd\ne\n", ours: "A\nb\nc\nd\ne\n", theirs: "a\nb\nc\nd\nE\n",
		want: "A\nb\nc\nd\nE\n",
	},
	{
		name: "changes one line apart merge",
		base: "a\nb\nc\n", ours: "A\nb\nc\n", theirs: "a\nb\nC\n",
		want: "A\nb\nC\n",
	},
	{
		name: "adjacent changes conflict",
		base: "a\nb\nc\n", ours: "A\nb\nc\n", theirs: "a\nB\nc\n",
		want:      "<<<<<<< ours\nA\nb\n=======\na\nB\n>>>>>>> theirs\nc\n",
		conflicts: 1,
		want3:     "<<<<<<< ours\nA\nb\n||||||| base\na\nb\n=======\na\nB\n>>>>>>> theirs\nc\n", conflicts3: 1,
	},
	{
		name: "overlapping changes conflict",
		base: "a\nb\nc\nd\n", ours: "a\nX\nY\nd\n", theirs: "a\nb\nZ\nd\n",
		want:      "a\n<<<<<<< ours\nX\nY\n=======\nb\nZ\n>>>>>>> theirs\nd\n",
		conflicts: 1,
		want3:     "a\n<<<<<<< ours\nX\nY\n||||||| base\nb\nc\n=======\nb\nZ\n>>>>>>> theirs\nd\n", conflicts3: 1,
	},
	{
		name: "different insertions at the start conflict",
		base: "a\n", ours: "x\na\n", theirs: "y\na\n",
		want:      "<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\na\n",
		conflicts: 1,
		want3:     "<<<<<<< ours\nx\n||||||| base\n=======\ny\n>>>>>>> theirs\na\n", conflicts3: 1,
	},
	{
		name: "insertions at start and end merge",
		base: "a\nb\n", ours: "x\na\nb\n", theirs: "a\nb\ny\n",
		want: "x\na\nb\ny\n",
	},
	{
		name: "different insertions at the end conflict",
		base: "a\nb\n", ours: "a\nb\nx\n", theirs: "a\nb\ny\n",
		want:      "a\nb\n<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n",
		conflicts: 1,
		want3:     "a\nb\n<<<<<<< ours\nx\n||||||| base\n=======\ny\n>>>>>>> theirs\n", conflicts3: 1,
	},
	{
		name: "empty base, same text added",
		base: "", ours: "hello\n", theirs: "hello\n",
		want: "hello\n",
	},
	{
		name: "empty base, different texts added",
		base: "", ours: "hello\n", theirs: "bye\n",
		want:      "<<<<<<< ours\nhello\n=======\nbye\n>>>>>>> theirs\n",
		conflicts: 1,
		want3:     "<<<<<<< ours\nhello\n||||||| base\n=======\nbye\n>>>>>>> theirs\n", conflicts3: 1,
	},
	{
		name: "whole text deleted, other side unchanged",
		base: "a\nb\n", ours: "", theirs: "a\nb\n",
		want: "",
	},
	{
		name: "whole text deleted by both",
		base: "a\nb\n", ours: "", theirs: "",
		want: "",
	},
	{
		name: "whole text deleted, other side edited",
		base: "a\nb\n", ours: "", theirs: "a\nB\n",
		want:      "<<<<<<< ours\n=======\na\nB\n>>>>>>> theirs\n",
		conflicts: 1,
		want3:     "<<<<<<< ours\n||||||| base\na\nb\n=======\na\nB\n>>>>>>> theirs\n", conflicts3: 1,
	},
	{
		name: "CRLF clean",
		base: "a\r\nb\r\nc\r\nd\r\n", ours: "A\r\nb\r\nc\r\nd\r\n", theirs: "a\r\nb\r\nc\r\nD\r\n",
		want: "A\r\nb\r\nc\r\nD\r\n",
	},
	{
		name: "CRLF conflict gets CRLF markers",
		base: "a\r\nb\r\nc\r\n", ours: "a\r\nB\r\nc\r\n", theirs: "a\r\nC\r\nc\r\n",
		want:      "a\r\n<<<<<<< ours\r\nB\r\n=======\r\nC\r\n>>>>>>> theirs\r\nc\r\n",
		conflicts: 1,
		want3:     "a\r\n<<<<<<< ours\r\nB\r\n||||||| base\r\nb\r\n=======\r\nC\r\n>>>>>>> theirs\r\nc\r\n", conflicts3: 1,
	},
	{
		name: "LF and CRLF lines differ",
		base: "a\nb\nc\n", ours: "a\r\nb\nc\n", theirs: "a\nb\nc\n",
		want: "a\r\nb\nc\n",
	},
	{
		name: "final newline added by one side, edit by the other",
		base: "a\nb\nc", ours: "a\nb\nc\n", theirs: "A\nb\nc",
		want: "A\nb\nc\n",
	},
	{
		name: "final newline removed by one side",
		base: "a\nb\nc\n", ours: "a\nb\nc", theirs: "A\nb\nc\n",
		want: "A\nb\nc",
	},
	{
		name: "conflict on a last line without newline",
		base: "a\nb", ours: "a\nc", theirs: "a\nd",
		want:      "a\n<<<<<<< ours\nc\n=======\nd\n>>>>>>> theirs\n",
		conflicts: 1,
		want3:     "a\n<<<<<<< ours\nc\n||||||| base\nb\n=======\nd\n>>>>>>> theirs\n", conflicts3: 1,
	},
	{
		name: "refinement moves common lines out of the conflict",
		base: "1\n2\n3\n4\n5\n6\n7\n", ours: "1\nA\nB\nC\nD\nE\n7\n", theirs: "1\nA\nB\nc\nD\nE\n7\n",
		want:      "1\nA\nB\n<<<<<<< ours\nC\n=======\nc\n>>>>>>> theirs\nD\nE\n7\n",
		conflicts: 1,
		want3:     "1\n<<<<<<< ours\nA\nB\nC\nD\nE\n||||||| base\n2\n3\n4\n5\n6\n=======\nA\nB\nc\nD\nE\n>>>>>>> theirs\n7\n", conflicts3: 1,
	},
	{
		name: "refinement splits a conflict at four common lines",
		base: "0\n1\n2\n3\n4\n5\n6\n7\n8\n", ours: "0\nX\np\nq\nr\ns\nY\n8\n", theirs: "0\nx\np\nq\nr\ns\ny\n8\n",
		want:      "0\n<<<<<<< ours\nX\n=======\nx\n>>>>>>> theirs\np\nq\nr\ns\n<<<<<<< ours\nY\n=======\ny\n>>>>>>> theirs\n8\n",
		conflicts: 2,
		want3:     "0\n<<<<<<< ours\nX\np\nq\nr\ns\nY\n||||||| base\n1\n2\n3\n4\n5\n6\n7\n=======\nx\np\nq\nr\ns\ny\n>>>>>>> theirs\n8\n", conflicts3: 1,
	},
	{
		name: "conflicts a blank line apart are joined",
		base: "a\n\nb\n", ours: "A\n\nB\n", theirs: "a1\n\nb1\n",
		want:      "<<<<<<< ours\nA\n\nB\n=======\na1\n\nb1\n>>>>>>> theirs\n",
		conflicts: 1,
		want3:     "<<<<<<< ours\nA\n||||||| base\na\n=======\na1\n>>>>>>> theirs\n\n<<<<<<< ours\nB\n||||||| base\nb\n=======\nb1\n>>>>>>> theirs\n", conflicts3: 2,
	},
	{
		name: "conflicts apart by many lines without letters or digits are joined",
		base: "a\n}\n\n--\n)\nb\n", ours: "A\n}\n\n--\n)\nB\n", theirs: "a1\n}\n\n--\n)\nb1\n",
		want:      "<<<<<<< ours\nA\n}\n\n--\n)\nB\n=======\na1\n}\n\n--\n)\nb1\n>>>>>>> theirs\n",
		conflicts: 1,
		want3:     "<<<<<<< ours\nA\n||||||| base\na\n=======\na1\n>>>>>>> theirs\n}\n\n--\n)\n<<<<<<< ours\nB\n||||||| base\nb\n=======\nb1\n>>>>>>> theirs\n", conflicts3: 2,
	},
	{
		name: "conflicts apart by four lines with text stay apart",
		base: "a\nk\nl\nm\nn\nb\n", ours: "A\nk\nl\nm\nn\nB\n", theirs: "a1\nk\nl\nm\nn\nb1\n",
		want:      "<<<<<<< ours\nA\n=======\na1\n>>>>>>> theirs\nk\nl\nm\nn\n<<<<<<< ours\nB\n=======\nb1\n>>>>>>> theirs\n",
		conflicts: 2,
		want3:     "<<<<<<< ours\nA\n||||||| base\na\n=======\na1\n>>>>>>> theirs\nk\nl\nm\nn\n<<<<<<< ours\nB\n||||||| base\nb\n=======\nb1\n>>>>>>> theirs\n", conflicts3: 2,
	},
	{
		// Both sides end up with the same lines here, but their diffs
		// against the base put the change in different places; only
		// the refinement of level Zealous sees that they agree.
		name: "same change diffed differently is clean only when refined",
		base: "c\n}\n\n\ne\n\n", ours: "c\n}\n\ne\n\n", theirs: "c\nx y\n}\n}\n\ne\n",
		want:       "c\nx y\n}\n}\n\ne\n",
		want3:      "c\nx y\n}\n}\n<<<<<<< ours\n\n||||||| base\n\n\n=======\n\n>>>>>>> theirs\ne\n",
		conflicts3: 1,
	},
}

func TestMerge3Cases(t *testing.T) {
	for _, c := range merge3Cases {
		t.Run(c.name, func(t *testing.T) {
			r := Merge3(c.base, c.ours, c.theirs)
			if got := r.Text(labels); got != c.want || r.Conflicts != c.conflicts {
				t.Errorf("Merge3: %d conflicts, text\n%q\nwant %d conflicts, text\n%q", r.Conflicts, got, c.conflicts, c.want)
			}
			if r.Clean() != (c.conflicts == 0) {
				t.Errorf("Clean() = %v with %d conflicts", r.Clean(), r.Conflicts)
			}
			want3, conflicts3 := c.want3, c.conflicts3
			if want3 == "" {
				want3, conflicts3 = c.want, c.conflicts
			}
			opt := labels
			opt.Diff3 = true
			r3 := Merge3Level(c.base, c.ours, c.theirs, Eager)
			if got := r3.Text(opt); got != want3 || r3.Conflicts != conflicts3 {
				t.Errorf("Merge3Level(Eager): %d conflicts, text\n%q\nwant %d conflicts, text\n%q", r3.Conflicts, got, conflicts3, want3)
			}
			checkTiling(t, c.base, c.ours, c.theirs, r)
			checkTiling(t, c.base, c.ours, c.theirs, r3)
		})
	}
}

// TestCasesAgreeWithGit checks the expectations above against git itself.
func TestCasesAgreeWithGit(t *testing.T) {
	g := newGitRunner(t)
	for _, c := range merge3Cases {
		if err := g.write(c.base, c.ours, c.theirs); err != nil {
			t.Fatal(err)
		}
		want3, conflicts3 := c.want3, c.conflicts3
		if want3 == "" {
			want3, conflicts3 = c.want, c.conflicts
		}
		for _, v := range []struct {
			flags     []string
			want      string
			conflicts int
		}{{nil, c.want, c.conflicts}, {[]string{"--diff3"}, want3, conflicts3}} {
			out, n, err := g.mergeFile(v.flags...)
			if err != nil {
				t.Fatal(err)
			}
			if out != v.want || n != v.conflicts {
				t.Errorf("%s: git merge-file -p %v gives %d conflicts, %q; the table says %d, %q", c.name, v.flags, n, out, v.conflicts, v.want)
			}
		}
	}
}

// checkTiling checks that r's hunks tile the three inputs: joining each
// hunk's Base, Ours and Theirs gives the inputs back.
func checkTiling(t *testing.T, base, ours, theirs string, r Result) {
	t.Helper()
	var b, o, th strings.Builder
	conflicts := 0
	for _, h := range r.Hunks {
		b.WriteString(strings.Join(h.Base, ""))
		o.WriteString(strings.Join(h.Ours, ""))
		th.WriteString(strings.Join(h.Theirs, ""))
		switch h.Kind {
		case HunkConflict:
			conflicts++
		case HunkStable:
			if !slices.Equal(h.Base, h.Ours) || !slices.Equal(h.Base, h.Theirs) {
				t.Errorf("stable hunk with different sides: %q %q %q", h.Base, h.Ours, h.Theirs)
			}
		case HunkOurs:
			if !slices.Equal(h.Base, h.Theirs) {
				t.Errorf("ours hunk where theirs is not the base: %q %q", h.Base, h.Theirs)
			}
		case HunkTheirs:
			if !slices.Equal(h.Base, h.Ours) {
				t.Errorf("theirs hunk where ours is not the base: %q %q", h.Base, h.Ours)
			}
		case HunkSame:
			if !slices.Equal(h.Ours, h.Theirs) {
				t.Errorf("same hunk with different sides: %q %q", h.Ours, h.Theirs)
			}
		}
	}
	if b.String() != base || o.String() != ours || th.String() != theirs {
		t.Errorf("hunks do not tile the inputs:\nbase   %q / %q\nours   %q / %q\ntheirs %q / %q", b.String(), base, o.String(), ours, th.String(), theirs)
	}
	if conflicts != r.Conflicts {
		t.Errorf("Conflicts = %d, but %d conflict hunks", r.Conflicts, conflicts)
	}
}

func TestHunkKinds(t *testing.T) {
	r := Merge3("a\nb\nc\nd\ne\nf\ng\n", "A\nb\nc\nD\ne\nF\ng\n", "a\nb\nc\nD\ne\nf\nG\n")
	var kinds []HunkKind
	for _, h := range r.Hunks {
		kinds = append(kinds, h.Kind)
	}
	want := []HunkKind{HunkOurs, HunkStable, HunkSame, HunkStable, HunkConflict}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	c := r.Hunks[4]
	if !slices.Equal(c.Base, []string{"f\n", "g\n"}) || !slices.Equal(c.Ours, []string{"F\n", "g\n"}) || !slices.Equal(c.Theirs, []string{"f\n", "G\n"}) {
		t.Errorf("conflict hunk %q %q %q", c.Base, c.Ours, c.Theirs)
	}
	if HunkConflict.String() != "conflict" || HunkKind(9).String() != "HunkKind(9)" {
		t.Errorf("String: %q %q", HunkConflict, HunkKind(9))
	}
}

func TestMarkerOptions(t *testing.T) {
	r := Merge3("a\n", "b\n", "c\n")
	if got, want := r.Text(MarkerOptions{}), "<<<<<<<\nb\n=======\nc\n>>>>>>>\n"; got != want {
		t.Errorf("no labels: %q, want %q", got, want)
	}
	got := r.Text(MarkerOptions{OursLabel: "mine", BaseLabel: "orig", TheirsLabel: "yours", Diff3: true, MarkerSize: 3})
	if want := "<<< mine\nb\n||| orig\na\n===\nc\n>>> yours\n"; got != want {
		t.Errorf("labels, size 3: %q, want %q", got, want)
	}
}

func TestUnion(t *testing.T) {
	for _, c := range []struct{ name, base, ours, theirs, want string }{
		{"both sides in order", "a\nb\nc\n", "a\nX\nc\n", "a\nY\nc\n", "a\nX\nY\nc\n"},
		{"clean parts merged", "a\nb\nc\nd\ne\n", "A\nb\nc\nD\ne\n", "a\nb\nc\nE\ne\n", "A\nb\nc\nD\nE\ne\n"},
		{"newline added between sides", "a\nb", "a\nx", "a\ny", "a\nx\ny"},
		{"clean merge unchanged", "a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n", "A\nb\nC\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Merge3(c.base, c.ours, c.theirs).Union(); got != c.want {
				t.Errorf("Union = %q, want %q", got, c.want)
			}
		})
	}
}

func TestResolved(t *testing.T) {
	r := Merge3("a\nb\nc\nd\ne\nf\ng\n", "a\nB\nc\nd\ne\nf\nG", "a\nb2\nc\nd\ne\nf\ng2\n")
	if r.Conflicts != 2 {
		t.Fatalf("%d conflicts, want 2: %q", r.Conflicts, r.Text(labels))
	}
	var seen []int
	got := r.Resolved(func(i int, h Hunk) []string {
		seen = append(seen, i)
		if i == 0 {
			return h.Theirs
		}
		return h.Ours
	})
	if want := "a\nb2\nc\nd\ne\nf\nG"; got != want {
		t.Errorf("Resolved = %q, want %q", got, want)
	}
	if !slices.Equal(seen, []int{0, 1}) {
		t.Errorf("choice called for %v, want [0 1]", seen)
	}
	// A choice without a final newline followed by more text gets one.
	r = Merge3("a\nb\nc\nd\ne\n", "X\nb\nc\nd\ne\n", "Y\nb\nc\nd\ne\n")
	got = r.Resolved(func(int, Hunk) []string { return []string{"Z"} })
	if want := "Z\nb\nc\nd\ne\n"; got != want {
		t.Errorf("Resolved without newline = %q, want %q", got, want)
	}
	// Dropping a conflict entirely is a choice too.
	if got := r.Resolved(func(int, Hunk) []string { return nil }); got != "b\nc\nd\ne\n" {
		t.Errorf("Resolved dropping the conflict = %q", got)
	}
}
