package merge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchWords is the vocabulary of generated Markdown, as in
// shared/bench/gen.py, so that lines repeat the way real notes do.
var benchWords = strings.Fields(`replica peer sync merge page note wiki graph node edge hash commit revision
history branch conflict offline online laptop phone server cache index query schema table column
value record stream packet window buffer latency bandwidth storage disk memory thread worker queue
event clock vector lamport causal order the a of to and in is for on with as by that this it from
be are at or an meeting agenda project roadmap release design review decision action owner
deadline budget customer feedback feature bug fix test build deploy rollback`)

type markdownGen struct{ r *testRand }

func (g markdownGen) sentence(lo, hi int) string {
	n := lo + g.r.IntN(hi-lo+1)
	w := make([]string, n)
	for i := range w {
		w[i] = benchWords[g.r.IntN(len(benchWords))]
	}
	if g.r.IntN(7) == 0 {
		i := g.r.IntN(n)
		w[i] = fmt.Sprintf("[%s](../page-%04d)", w[i], 1+g.r.IntN(9998))
	}
	if g.r.IntN(7) == 0 {
		i := g.r.IntN(n)
		w[i] = "`" + w[i] + "`"
	}
	s := strings.Join(w, " ")
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func (g markdownGen) title() string {
	n := 2 + g.r.IntN(4)
	w := make([]string, n)
	for i := range w {
		x := benchWords[g.r.IntN(len(benchWords))]
		w[i] = strings.ToUpper(x[:1]) + x[1:]
	}
	return strings.Join(w, " ")
}

// block returns one Markdown block: a paragraph, a list, code or a table.
func (g markdownGen) block() []string {
	var out []string
	switch k := g.r.IntN(10); {
	case k < 4:
		for range 2 + g.r.IntN(4) {
			out = append(out, g.sentence(6, 16))
		}
	case k < 7:
		for range 3 + g.r.IntN(5) {
			out = append(out, "- "+g.sentence(3, 9))
		}
	case k < 8:
		for i := range 3 + g.r.IntN(3) {
			out = append(out, fmt.Sprintf("%d. %s", i+1, g.sentence(3, 8)))
		}
	case k < 9:
		out = append(out, "```go")
		for range 3 + g.r.IntN(6) {
			out = append(out, strings.Repeat("    ", g.r.IntN(3))+strings.ToLower(g.title()))
		}
		out = append(out, "```")
	default:
		cols := 2 + g.r.IntN(3)
		row := func() string {
			c := make([]string, cols)
			for i := range c {
				c[i] = benchWords[g.r.IntN(len(benchWords))]
			}
			return "| " + strings.Join(c, " | ") + " |"
		}
		out = append(out, row(), "|"+strings.Repeat("---|", cols))
		for range 2 + g.r.IntN(5) {
			out = append(out, row())
		}
	}
	return append(out, "")
}

// document returns Markdown lines (without newlines) of about size bytes.
func (g markdownGen) document(size int) []string {
	lines := []string{"# " + g.title(), ""}
	n := 0
	for n < size {
		b := g.block()
		if g.r.IntN(20) == 0 {
			b = append([]string{"## " + g.title(), ""}, b...)
		}
		for _, l := range b {
			n += len(l) + 1
		}
		lines = append(lines, b...)
	}
	return lines
}

// benchCase is a merge with a known answer.
type benchCase struct{ base, ours, theirs, expected string }

// genMergeCase mirrors `gen.py merge`: a Markdown document of about size
// bytes and edits in-place line changes per side, spread out and at least
// four lines apart, so that the merge is clean and expected is known.
func genMergeCase(seed uint64, size, edits int) benchCase {
	g := markdownGen{newRand(seed, 1)}
	lines := g.document(size)
	var cand []int
	for i, l := range lines {
		if l != "" && !strings.HasPrefix(l, "```") {
			cand = append(cand, i)
		}
	}
	step := len(cand) / (2 * edits)
	ours := append([]string(nil), lines...)
	theirs := append([]string(nil), lines...)
	exp := append([]string(nil), lines...)
	for k := range 2 * edits {
		lo, hi := k*step+2, (k+1)*step-3
		i := cand[lo+g.r.IntN(max(1, hi-lo+1))]
		changed := lines[i] + " " + g.sentence(2, 6)
		if k%2 == 0 {
			ours[i] = changed
		} else {
			theirs[i] = changed
		}
		exp[i] = changed
	}
	join := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	return benchCase{join(lines), join(ours), join(theirs), join(exp)}
}

// loadBenchCase reads gen.py's output from $PEERWIKI_MERGE_BENCH when set
// (the shared inputs behind the project's performance targets), else
// generates a similar case.
func loadBenchCase(tb testing.TB) benchCase {
	tb.Helper()
	dir := os.Getenv("PEERWIKI_MERGE_BENCH")
	if dir == "" {
		return genMergeCase(42, 1_000_000, 200)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			tb.Fatalf("PEERWIKI_MERGE_BENCH: %v", err)
		}
		return string(b)
	}
	return benchCase{read("base.md"), read("ours.md"), read("theirs.md"), read("expected.md")}
}

func TestBenchCaseMergesToExpected(t *testing.T) {
	c := loadBenchCase(t)
	r := Merge3(c.base, c.ours, c.theirs)
	if !r.Clean() {
		t.Fatalf("%d conflicts, want a clean merge", r.Conflicts)
	}
	if got := r.Text(MarkerOptions{}); got != c.expected {
		t.Fatalf("merged text differs from expected (%d vs %d bytes)", len(got), len(c.expected))
	}
}

func BenchmarkMerge3_1MB(b *testing.B) {
	c := loadBenchCase(b)
	b.SetBytes(int64(len(c.base)))
	b.ReportAllocs()
	for b.Loop() {
		r := Merge3(c.base, c.ours, c.theirs)
		if !r.Clean() {
			b.Fatal("conflict")
		}
		_ = r.Text(MarkerOptions{})
	}
}

func BenchmarkMergeFile_1MB(b *testing.B) {
	c := loadBenchCase(b)
	base, ours, theirs := []byte(c.base), []byte(c.ours), []byte(c.theirs)
	b.SetBytes(int64(len(base)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := MergeFile(ours, base, theirs, false, [3]string{"ours", "base", "theirs"}); err != nil || n != 0 {
			b.Fatal(n, err)
		}
	}
}

// onePercentChanged returns a document and a copy with about 1% of its
// lines replaced by new, unique lines, and how many were replaced.
func onePercentChanged(seed uint64, size int) (a, b string, replaced int) {
	g := markdownGen{newRand(seed, 2)}
	lines := g.document(size)
	changed := append([]string(nil), lines...)
	for i := range changed {
		if g.r.IntN(100) == 0 {
			changed[i] = fmt.Sprintf("replaced line %d: %s", i, g.sentence(4, 10))
			replaced++
		}
	}
	return strings.Join(lines, "\n") + "\n", strings.Join(changed, "\n") + "\n", replaced
}

func BenchmarkDiff_1MB_1pct(b *testing.B) {
	x, y, _ := onePercentChanged(7, 1_000_000)
	b.SetBytes(int64(len(x)))
	b.ReportAllocs()
	for b.Loop() {
		diffStrings(x, y)
	}
}

func BenchmarkDiff_1MB_Unrelated(b *testing.B) {
	x := strings.Join(markdownGen{newRand(1, 3)}.document(1_000_000), "\n") + "\n"
	y := strings.Join(markdownGen{newRand(2, 3)}.document(1_000_000), "\n") + "\n"
	b.SetBytes(int64(len(x)))
	b.ReportAllocs()
	for b.Loop() {
		diffStrings(x, y)
	}
}

func BenchmarkDiff_1MB_Shuffled(b *testing.B) {
	lines := markdownGen{newRand(1, 4)}.document(1_000_000)
	x := strings.Join(lines, "\n") + "\n"
	r := newRand(5, 5)
	r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	y := strings.Join(lines, "\n") + "\n"
	b.SetBytes(int64(len(x)))
	b.ReportAllocs()
	for b.Loop() {
		diffStrings(x, y)
	}
}
