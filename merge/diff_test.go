package merge

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// editDistance is the length of a shortest edit script between a and b
// (deleted plus inserted lines), by the plain greedy O(ND) Myers search
// with no heuristic: the reference the diff's minimality is checked by.
func editDistance(a, b []string) int {
	n, m := len(a), len(b)
	v := make([]int, 2*(n+m)+3)
	off := n + m + 1
	for d := 0; ; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return d
			}
		}
	}
}

// changedLines counts the deleted plus inserted lines of a diff.
func changedLines(cs []change) int {
	n := 0
	for _, c := range cs {
		n += c.na + c.nb
	}
	return n
}

// checkDiff checks that DiffLines(a, b) describes a valid edit from a to
// b: old and new line numbers count up, the Equal and Delete lines are a,
// the Equal and Insert lines are b, and in each changed stretch the
// deletions come first.
func checkDiff(t *testing.T, a, b string) []Edit {
	t.Helper()
	edits := DiffLines(a, b)
	var ra, rb strings.Builder
	na, nb := 0, 0
	for i, e := range edits {
		switch e.Op {
		case Equal:
			na++
			nb++
			ra.WriteString(e.Line)
			rb.WriteString(e.Line)
			if e.A != na || e.B != nb {
				t.Fatalf("edit %d: line numbers %d/%d, want %d/%d", i, e.A, e.B, na, nb)
			}
		case Delete:
			na++
			ra.WriteString(e.Line)
			if e.A != na || e.B != 0 {
				t.Fatalf("edit %d: delete numbered %d/%d, want %d/0", i, e.A, e.B, na)
			}
		case Insert:
			nb++
			rb.WriteString(e.Line)
			if e.B != nb || e.A != 0 {
				t.Fatalf("edit %d: insert numbered %d/%d, want 0/%d", i, e.A, e.B, nb)
			}
			if i+1 < len(edits) && edits[i+1].Op == Delete {
				t.Fatalf("edit %d: a deletion follows an insertion", i)
			}
		default:
			t.Fatalf("edit %d: op %v", i, e.Op)
		}
	}
	if ra.String() != a || rb.String() != b {
		t.Fatalf("the diff does not rebuild its texts:\n%q -> %q\n%q -> %q", a, ra.String(), b, rb.String())
	}
	return edits
}

func TestDiffLinesRebuildsTexts(t *testing.T) {
	for seed := range 2000 {
		r := newRand(uint64(seed), 3)
		base, ours, _ := randomTriple(r)
		checkDiff(t, base, ours)
		checkDiff(t, ours, base)
	}
	x, y, _ := onePercentChanged(1, 200_000)
	checkDiff(t, x, y)
}

func TestDiffLines(t *testing.T) {
	got := DiffLines("a\nb\nc\n", "a\nx\nc\nd")
	want := []Edit{
		{Op: Equal, Line: "a\n", A: 1, B: 1},
		{Op: Delete, Line: "b\n", A: 2},
		{Op: Insert, Line: "x\n", B: 2},
		{Op: Equal, Line: "c\n", A: 3, B: 3},
		{Op: Insert, Line: "d", B: 4},
	}
	if !slices.Equal(got, want) {
		t.Errorf("DiffLines = %v, want %v", got, want)
	}
	if len(DiffLines("", "")) != 0 {
		t.Error("DiffLines of empty texts is not empty")
	}
	if Insert.String() != "insert" || Op(7).String() != "Op(7)" {
		t.Errorf("Op.String: %q %q", Insert, Op(7))
	}
}

// TestDiffTieBreaks pins which of several equally short diffs is chosen:
// deletions before insertions, and a change slid as far down as it goes
// unless it can line up with a change on the other side (as git does).
func TestDiffTieBreaks(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want []change
	}{
		// Swap: delete the first line and re-insert it after.
		{"a\nb\n", "b\na\n", []change{{a: 0, na: 1, b: 0, nb: 0}, {a: 2, na: 0, b: 1, nb: 1}}},
		// A repeated line removed: the last copy goes.
		{"x\na\na\ny\n", "x\na\ny\n", []change{{a: 2, na: 1, b: 2, nb: 0}}},
		// A repeated block inserted: after the last copy.
		{"p\nq\np\nq\n", "p\nq\np\nq\np\nq\n", []change{{a: 4, na: 0, b: 4, nb: 2}}},
		// Replacement: both in one hunk, deletion first.
		{"a\nb\nc\n", "a\nB\nc\n", []change{{a: 1, na: 1, b: 1, nb: 1}}},
	} {
		_, _, got := diffStrings(c.a, c.b)
		if !slices.Equal(got, c.want) {
			t.Errorf("diff %q -> %q = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestDiffMinimal checks that ordinary edits, up to about 1% of the lines
// of a 1 MB document, get a shortest diff: the effort cap never cuts in.
func TestDiffMinimal(t *testing.T) {
	size := 1_000_000
	if testing.Short() {
		size = 200_000
	}
	for seed := range uint64(3) {
		// Lines replaced by new ones: the shortest diff is known.
		x, y, replaced := onePercentChanged(seed, size)
		_, _, cs := diffStrings(x, y)
		if got := changedLines(cs); got != 2*replaced {
			t.Errorf("seed %d: %d lines replaced, diff changes %d lines, want %d", seed, replaced, got, 2*replaced)
		}

		// Lines deleted, duplicated, moved and replaced by other lines of
		// the document: checked against a plain Myers search.
		g := markdownGen{newRand(seed, 5)}
		lines := g.document(size)
		var edited []string
		for _, l := range lines {
			switch k := g.r.IntN(400); {
			case k == 0: // deleted
			case k == 1:
				edited = append(edited, l, l)
			case k == 2:
				edited = append(edited, lines[g.r.IntN(len(lines))])
			case k == 3:
				edited = append(edited, lines[g.r.IntN(len(lines))], l)
			default:
				edited = append(edited, l)
			}
		}
		a, b := strings.Join(lines, "\n")+"\n", strings.Join(edited, "\n")+"\n"
		la, lb, cs := diffStrings(a, b)
		if got, want := changedLines(cs), editDistance(la, lb); got != want {
			t.Errorf("seed %d: mixed edits: diff changes %d lines, the shortest changes %d", seed, got, want)
		}
	}
}

// TestDiffPathological checks that the effort cap bounds the work on texts
// that have nothing, or only their lines, in common. The bound is loose on
// purpose (a loaded machine must not fail it); without the cap the
// shuffled case takes minutes.
func TestDiffPathological(t *testing.T) {
	size := 1_000_000
	if testing.Short() {
		size = 300_000
	}
	lines := markdownGen{newRand(1, 4)}.document(size)
	x := strings.Join(lines, "\n") + "\n"
	unrelated := strings.Join(markdownGen{newRand(2, 4)}.document(size), "\n") + "\n"
	r := newRand(5, 5)
	r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	shuffled := strings.Join(lines, "\n") + "\n"
	for name, y := range map[string]string{"unrelated": unrelated, "shuffled": shuffled} {
		start := time.Now()
		edits := checkDiff(t, x, y)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: %v for %d edits", name, d, len(edits))
		}
	}
}

// applyUnified applies a unified diff as Unified writes it to a.
func applyUnified(a, patch string) (string, error) {
	if patch == "" {
		return a, nil
	}
	la := splitLines(a)
	pl := splitLines(patch)
	if len(pl) < 2 || !strings.HasPrefix(pl[0], "--- ") || !strings.HasPrefix(pl[1], "+++ ") {
		return "", fmt.Errorf("no header")
	}
	var out []string
	next := 0 // next line of a to copy
	for i := 2; i < len(pl); {
		var s1, n1, s2, n2 int
		if _, err := fmt.Sscanf(normalizeHunkHeader(pl[i]), "@@ -%d,%d +%d,%d @@", &s1, &n1, &s2, &n2); err != nil {
			return "", fmt.Errorf("line %d: %q: %v", i, pl[i], err)
		}
		start := s1 - 1
		if n1 == 0 {
			start = s1
		}
		out = append(out, la[next:start]...)
		next = start
		for i++; i < len(pl) && !strings.HasPrefix(pl[i], "@@"); i++ {
			l := pl[i]
			body := l[1:]
			if i+1 < len(pl) && pl[i+1] == "\\ No newline at end of file\n" {
				body = strings.TrimSuffix(body, "\n")
				i++
			}
			switch l[0] {
			case ' ':
				if la[next] != body {
					return "", fmt.Errorf("context %q does not match %q", body, la[next])
				}
				out = append(out, body)
				next++
			case '-':
				if la[next] != body {
					return "", fmt.Errorf("deleted %q does not match %q", body, la[next])
				}
				next++
			case '+':
				out = append(out, body)
			default:
				return "", fmt.Errorf("bad line %q", l)
			}
		}
	}
	out = append(out, la[next:]...)
	return strings.Join(out, ""), nil
}

// normalizeHunkHeader writes the counts that "@@ -l +l @@" leaves out.
func normalizeHunkHeader(h string) string {
	f := strings.Fields(h)
	if len(f) < 4 {
		return h
	}
	for i := 1; i <= 2; i++ {
		if !strings.Contains(f[i], ",") {
			f[i] += ",1"
		}
	}
	return strings.Join(f[:4], " ")
}

func TestUnified(t *testing.T) {
	for _, c := range []struct {
		name, a, b string
		context    int
		want       string
	}{
		{"equal", "a\n", "a\n", 3, ""},
		{"one line changed", "a\nb\nc\n", "a\nB\nc\n", 3,
			"--- a\n+++ b\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"no context", "a\nb\nc\n", "a\nB\nc\n", 0,
			"--- a\n+++ b\n@@ -2 +2 @@\n-b\n+B\n"},
		{"insertion into empty", "", "x\ny\n", 3,
			"--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n"},
		{"deletion of everything", "x\n", "", 3,
			"--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n"},
		{"pure insertion without context", "a\nb\n", "a\nx\nb\n", 0,
			"--- a\n+++ b\n@@ -1,0 +2 @@\n+x\n"},
		{"missing newline", "a\nb", "a\nb\n", 3,
			"--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"distant hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "X\n2\n3\n4\n5\n6\n7\n8\n9\nY\n", 2,
			"--- a\n+++ b\n@@ -1,3 +1,3 @@\n-1\n+X\n 2\n 3\n@@ -8,3 +8,3 @@\n 8\n 9\n-10\n+Y\n"},
		{"close hunks joined", "1\n2\n3\n4\n5\n6\n", "X\n2\n3\n4\n5\nY\n", 2,
			"--- a\n+++ b\n@@ -1,6 +1,6 @@\n-1\n+X\n 2\n 3\n 4\n 5\n-6\n+Y\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Unified(c.a, c.b, "a", "b", c.context)
			if got != c.want {
				t.Errorf("Unified =\n%s\nwant\n%s", got, c.want)
			}
			if back, err := applyUnified(c.a, got); err != nil || back != c.b {
				t.Errorf("applying it gives %q, %v; want %q", back, err, c.b)
			}
		})
	}
}

func TestUnifiedApplies(t *testing.T) {
	for seed := range 1000 {
		r := newRand(uint64(seed), 4)
		base, ours, _ := randomTriple(r)
		for _, ctx := range []int{0, 1, 3} {
			patch := Unified(base, ours, "a/x", "b/x", ctx)
			if got, err := applyUnified(base, patch); err != nil || got != ours {
				t.Fatalf("seed %d, context %d: applying\n%s\nto %q gives %q, %v; want %q", seed, ctx, patch, base, got, err, ours)
			}
		}
	}
}
