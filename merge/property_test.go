package merge

import (
	"slices"
	"strings"
	"testing"
)

// checkMergeInvariants checks what must hold for any three texts; the
// property tests and FuzzMerge3 share it.
func checkMergeInvariants(t *testing.T, base, ours, theirs string) {
	t.Helper()
	r := Merge3(base, ours, theirs)
	r3 := Merge3Level(base, ours, theirs, Eager)
	text := r.Text(labels)

	// Same inputs, same bytes.
	if again := Merge3(base, ours, theirs).Text(labels); again != text {
		t.Fatalf("two merges of the same inputs differ:\n%q\n%q", text, again)
	}

	checkTiling(t, base, ours, theirs, r)
	checkTiling(t, base, ours, theirs, r3)

	// Refinement only removes conflicts: a clean Eager merge is a clean
	// Zealous merge with the same text.
	if r3.Clean() && (!r.Clean() || r3.Text(labels) != text) {
		t.Fatalf("Eager is clean but Zealous is not the same clean merge:\n%q\n%q", r3.Text(labels), text)
	}

	// Swapping ours and theirs: the same verdict, the same clean text, and
	// at level Eager exactly the mirrored hunks.
	rs := Merge3(base, theirs, ours)
	if rs.Clean() != r.Clean() {
		t.Fatalf("merge is clean=%v, swapped clean=%v", r.Clean(), rs.Clean())
	}
	if r.Clean() && rs.Text(labels) != text {
		t.Fatalf("swapped clean merge differs:\n%q\n%q", text, rs.Text(labels))
	}
	rs3 := Merge3Level(base, theirs, ours, Eager)
	if len(rs3.Hunks) != len(r3.Hunks) || rs3.Conflicts != r3.Conflicts {
		t.Fatalf("swapped Eager merge has %d hunks, %d conflicts; want %d, %d", len(rs3.Hunks), rs3.Conflicts, len(r3.Hunks), r3.Conflicts)
	}
	mirror := map[HunkKind]HunkKind{HunkOurs: HunkTheirs, HunkTheirs: HunkOurs}
	for i, h := range r3.Hunks {
		s := rs3.Hunks[i]
		kind := h.Kind
		if k, ok := mirror[kind]; ok {
			kind = k
		}
		if s.Kind != kind || !slices.Equal(s.Base, h.Base) || !slices.Equal(s.Ours, h.Theirs) || !slices.Equal(s.Theirs, h.Ours) {
			t.Fatalf("swapped Eager hunk %d is %v %q %q %q; want the mirror of %v %q %q %q", i, s.Kind, s.Base, s.Ours, s.Theirs, h.Kind, h.Base, h.Ours, h.Theirs)
		}
	}

	// A side against itself, or against the base, gives that side.
	for _, m := range [][3]string{{base, ours, ours}, {base, base, ours}, {base, ours, base}} {
		for _, level := range []Level{Zealous, Eager} {
			if x := Merge3Level(m[0], m[1], m[2], level); !x.Clean() || x.Text(labels) != ours {
				t.Fatalf("merge(%q, %q, %q) = %q, %d conflicts; want %q", m[0], m[1], m[2], x.Text(labels), x.Conflicts, ours)
			}
		}
	}

	// Union loses no line either side added, and is the text when clean.
	u := r.Union()
	if r.Clean() && u != text {
		t.Fatalf("Union of a clean merge %q differs from its text %q", u, text)
	}
	have := lineCounts(u)
	baseCount := lineCounts(base)
	for _, side := range []string{ours, theirs} {
		for l, n := range lineCounts(side) {
			if need := n - baseCount[l]; have[l] < need {
				t.Fatalf("Union %q has %d copies of %q; a side added %d", u, have[l], l, need)
			}
		}
	}
	if strings.Count(u, "<<<<<<<") > strings.Count(base+ours+theirs, "<<<<<<<") {
		t.Fatalf("Union wrote conflict markers: %q", u)
	}

	// Resolved asks once per conflict, in order, and without conflicts
	// it is the text.
	var calls []int
	back := r.Resolved(func(i int, h Hunk) []string {
		if h.Kind != HunkConflict {
			t.Fatalf("Resolved asked about a %v hunk", h.Kind)
		}
		calls = append(calls, i)
		return h.Theirs
	})
	for i, c := range calls {
		if c != i {
			t.Fatalf("Resolved asked about conflicts %v", calls)
		}
	}
	if len(calls) != r.Conflicts {
		t.Fatalf("Resolved asked %d times for %d conflicts", len(calls), r.Conflicts)
	}
	if r.Clean() && back != text {
		t.Fatalf("Resolved of a clean merge %q differs from its text %q", back, text)
	}
}

// lineCounts counts the lines of s, each without its line ending (and
// any carriage returns before it), so that the newline Union adds after a
// side that lacks one ("\n" or "\r\n") does not make a line look new.
func lineCounts(s string) map[string]int {
	m := map[string]int{}
	for _, l := range splitLines(s) {
		m[strings.TrimRight(strings.TrimSuffix(l, "\n"), "\r")]++
	}
	return m
}

func TestMergeProperties(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 500
	}
	for seed := range n {
		r := newRand(uint64(seed), 21)
		base, ours, theirs := randomTriple(r)
		checkMergeInvariants(t, base, ours, theirs)
	}
	// And a few larger documents, with edits that collide now and then.
	for seed := range uint64(5) {
		g := markdownGen{newRand(seed, 22)}
		lines := g.document(20_000)
		edit := func() string {
			out := append([]string(nil), lines...)
			for range 30 {
				i := g.r.IntN(len(out))
				switch g.r.IntN(3) {
				case 0:
					out[i] = g.sentence(3, 9)
				case 1:
					out = slices.Delete(out, i, i+1)
				default:
					out = slices.Insert(out, i, g.sentence(3, 9))
				}
			}
			return strings.Join(out, "\n") + "\n"
		}
		checkMergeInvariants(t, strings.Join(lines, "\n")+"\n", edit(), edit())
	}
}
