package merge

import (
	"strconv"
	"strings"
)

// Op is what an Edit does with its line.
type Op int

const (
	// Equal: the line is in both texts.
	Equal Op = iota
	// Delete: the line is only in the old text.
	Delete
	// Insert: the line is only in the new text.
	Insert
)

var opNames = [...]string{"equal", "delete", "insert"}

// String returns the op's lower-case name.
func (op Op) String() string {
	if op >= 0 && int(op) < len(opNames) {
		return opNames[op]
	}
	return "Op(" + strconv.Itoa(int(op)) + ")"
}

// Edit is one line of a line diff, for a viewer to colour.
type Edit struct {
	Op Op
	// Line is the line with its "\n"; a text's last line may lack it.
	Line string
	// A and B are the line's 1-based numbers in the old and the new
	// text; 0 in the text that does not have it.
	A, B int
}

// DiffLines returns every line of a and b in diff order: unchanged lines,
// and in each changed stretch the deletions before the insertions. The
// diff is the one Merge3 uses.
func DiffLines(a, b string) []Edit {
	la, lb, cs := diffStrings(a, b)
	out := make([]Edit, 0, len(lb)+countDeleted(cs))
	i, j := 0, 0
	equal := func(until int) {
		for ; i < until; i, j = i+1, j+1 {
			out = append(out, Edit{Op: Equal, Line: la[i], A: i + 1, B: j + 1})
		}
	}
	for _, c := range cs {
		equal(c.a)
		for ; i < c.a+c.na; i++ {
			out = append(out, Edit{Op: Delete, Line: la[i], A: i + 1})
		}
		for ; j < c.b+c.nb; j++ {
			out = append(out, Edit{Op: Insert, Line: lb[j], B: j + 1})
		}
	}
	equal(len(la))
	return out
}

func countDeleted(cs []change) int {
	n := 0
	for _, c := range cs {
		n += c.na
	}
	return n
}

// Unified returns a unified diff from a to b, as `git diff` prints it
// after its header: "--- nameA", "+++ nameB", then hunks "@@ -l,n +l,n @@"
// with context lines of context around each change (hunks closer than
// twice that are joined), and "\ No newline at end of file" after a last
// line that lacks one. Equal texts give "". A negative context counts as 0.
func Unified(a, b string, nameA, nameB string, context int) string {
	la, lb, cs := diffStrings(a, b)
	if len(cs) == 0 {
		return ""
	}
	context = max(context, 0)
	var w strings.Builder
	w.WriteString("--- " + nameA + "\n+++ " + nameB + "\n")
	for first := 0; first < len(cs); {
		// Gather the changes whose context would touch or overlap.
		last := first
		for last+1 < len(cs) && cs[last+1].a-(cs[last].a+cs[last].na) <= 2*context {
			last++
		}
		c0, c1 := cs[first], cs[last]
		pre := min(context, c0.a)
		post := min(context, len(la)-(c1.a+c1.na))
		a0, b0 := c0.a-pre, c0.b-pre
		a1, b1 := c1.a+c1.na+post, c1.b+c1.nb+post
		w.WriteString("@@ -" + hunkRange(a0, a1-a0) + " +" + hunkRange(b0, b1-b0) + " @@\n")
		i := a0
		for _, c := range cs[first : last+1] {
			for ; i < c.a; i++ {
				writeDiffLine(&w, ' ', la[i])
			}
			for k := c.a; k < c.a+c.na; k++ {
				writeDiffLine(&w, '-', la[k])
			}
			for k := c.b; k < c.b+c.nb; k++ {
				writeDiffLine(&w, '+', lb[k])
			}
			i = c.a + c.na
		}
		for ; i < a1; i++ {
			writeDiffLine(&w, ' ', la[i])
		}
		first = last + 1
	}
	return w.String()
}

// hunkRange formats a hunk's start and length as diff does: "l,n", just
// "l" when n is 1, and the line before the hunk when it is empty.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return strconv.Itoa(start) + ",0"
	case 1:
		return strconv.Itoa(start + 1)
	}
	return strconv.Itoa(start+1) + "," + strconv.Itoa(n)
}

func writeDiffLine(w *strings.Builder, prefix byte, line string) {
	w.WriteByte(prefix)
	w.WriteString(line)
	if !hasNewline(line) {
		w.WriteString("\n\\ No newline at end of file\n")
	}
}
