package merge

import (
	"fmt"
	"strings"
)

// HunkKind says what happened to one stretch of a three-way merge.
type HunkKind int

const (
	// HunkStable lines are the same in base, ours and theirs.
	HunkStable HunkKind = iota
	// HunkOurs is a change made only by ours; the merge takes it.
	HunkOurs
	// HunkTheirs is a change made only by theirs; the merge takes it.
	HunkTheirs
	// HunkSame is a change both sides made identically; the merge takes it once.
	HunkSame
	// HunkConflict is where both sides changed the same lines differently.
	HunkConflict
)

var hunkKindNames = [...]string{"stable", "ours", "theirs", "same", "conflict"}

// String returns the kind's lower-case name, for logs and test failures.
func (k HunkKind) String() string {
	if k >= 0 && int(k) < len(hunkKindNames) {
		return hunkKindNames[k]
	}
	return fmt.Sprintf("HunkKind(%d)", int(k))
}

// Hunk is one stretch of a merge. Base, Ours and Theirs hold that stretch's
// lines in each input, each line with its "\n" (a text's last line may lack
// it). The hunks of a Result tile all three inputs: joining every hunk's
// Ours gives ours back, every Theirs gives theirs, every Base gives base.
// For a HunkOurs hunk Theirs holds the base lines that theirs kept, and the
// other way round. At level Zealous, lines both sides share inside a
// conflicting region are a HunkSame with no Base, and the region's base
// lines go with its first conflict.
type Hunk struct {
	Kind               HunkKind
	Base, Ours, Theirs []string

	// eol is the line ending of this conflict's markers, and of the "\n"
	// added after a side whose last line lacks one: "\r\n" when the texts
	// around it use CRLF, as git decides it; "" means "\n".
	eol string
}

// Result is a three-way merge: the hunks in order, and how many of them are
// conflicts.
type Result struct {
	Hunks     []Hunk
	Conflicts int
}

// Clean reports whether the merge has no conflicts.
func (r Result) Clean() bool { return r.Conflicts == 0 }

// Level says how hard Merge3Level works to shrink conflicts. The levels are
// git merge-file's; both produce the same clean merges.
type Level int

const (
	// Zealous is git merge-file's default ("zealous alnum"). Inside each
	// conflicting region the two sides are diffed against each other:
	// lines both sides have in common move out of the conflict, which may
	// leave no conflict at all (both made the same change, diffed with
	// different extents), or several. Then conflicts separated by at most
	// three lines, or by lines without a letter or digit, are joined into
	// one. The base lines of a region that splits into several conflicts
	// all go to its first conflict (git shows no base at this level).
	Zealous Level = iota
	// Eager is the level of git merge-file --diff3: conflicting regions are
	// kept whole, so every conflict's Base is exactly the base lines both
	// sides replaced. Use it for diff3-style output.
	Eager
)

// Merge3 merges ours and theirs, two edits of base, line by line like `git
// merge-file` (level Zealous; see the package documentation on how closely).
// It is a pure, deterministic function: the same inputs give the same
// result on every machine.
func Merge3(base, ours, theirs string) Result {
	return Merge3Level(base, ours, theirs, Zealous)
}

// Merge3Level merges like Merge3, refining conflicts as level says.
//
// The algorithm is diff3's: diff base→ours and base→theirs, walk both hunk
// lists in base order, and join hunks that overlap or touch (a change right
// next to the other side's change conflicts, as in git) into regions. A
// region changed by one side takes that side; a region both changed
// identically takes it once; any other is a conflict.
func Merge3Level(base, ours, theirs string, level Level) Result {
	m := newMerger(base, ours, theirs)
	spans := m.regions()
	if level != Eager {
		spans = m.refine(spans)
		spans = coalesce(spans, m.ours)
	}
	return m.result(spans)
}

// merger holds one merge's inputs, as lines and as interned line ids.
type merger struct {
	base, ours, theirs []string
	b, o, t            []int32
	d                  *differ
}

func newMerger(base, ours, theirs string) *merger {
	m := &merger{base: splitLines(base)}
	in := newInterner(len(m.base) + len(m.base)/8)
	m.b = in.intern(m.base)
	ref := newEditBase(base, m.base, m.b, in.classes())
	m.ours, m.o = in.splitEdit(ours, ref)
	m.theirs, m.t = in.splitEdit(theirs, ref)
	m.d = newDiffer(in.classes())
	return m
}

// span is a hunk as index ranges [b0,b1), [o0,o1), [t0,t1) into the three
// inputs, while the merge is being worked out.
type span struct {
	kind                   HunkKind
	b0, b1, o0, o1, t0, t1 int
	// listed marks the hunks git keeps in its list of merge regions: only
	// conflicts that are neighbours in that list are joined by coalesce.
	listed bool
}

// region is one entry of the diff3 walk, in git's terms: a mode (0
// conflict, 1 ours, 2 theirs) and each input's start and length.
type region struct {
	mode           int
	i0, c0, i1, c1 int
	i2, c2         int
}

// regions runs diff3 and returns the whole merge as spans (level Eager).
func (m *merger) regions() []span {
	d1 := m.d.diff(m.b, m.o)
	d2 := m.d.diff(m.b, m.t)
	rs := walk(d1, d2, m.o, m.t, len(m.b), len(m.o), len(m.t))
	return m.fill(rs, d1)
}

// walk joins the two diffs' hunks over base coordinates into regions.
// Hunks that overlap or touch conflict unless they are the same change;
// a region that touches the previous one (in any input) joins it. Same
// changes with the same extent leave no region: they are filled in later.
func walk(d1, d2 []change, o, t []int32, n0, n1, n2 int) []region {
	var rs []region
	add := func(r region) {
		if k := len(rs); k > 0 {
			p := &rs[k-1]
			if r.i1 <= p.i1+p.c1 || r.i2 <= p.i2+p.c2 {
				if r.mode != p.mode {
					p.mode = 0
				}
				p.c0 = r.i0 + r.c0 - p.i0
				p.c1 = r.i1 + r.c1 - p.i1
				p.c2 = r.i2 + r.c2 - p.i2
				return
			}
		}
		rs = append(rs, r)
	}
	p, q := 0, 0
	for p < len(d1) && q < len(d2) {
		x, y := d1[p], d2[q]
		if x.a+x.na < y.a {
			add(region{mode: 1, i0: x.a, c0: x.na, i1: x.b, c1: x.nb, i2: y.b - y.a + x.a, c2: x.na})
			p++
			continue
		}
		if y.a+y.na < x.a {
			add(region{mode: 2, i0: y.a, c0: y.na, i1: x.b - x.a + y.a, c1: y.na, i2: y.b, c2: y.nb})
			q++
			continue
		}
		if x.a != y.a || x.na != y.na || x.nb != y.nb || !equalIDs(o[x.b:x.b+x.nb], t[y.b:y.b+y.nb]) {
			// Extend each side's hunk over the base lines the other
			// side's hunk covers beyond it; outside its own hunk a side
			// has the base's lines.
			off := x.a - y.a
			ffo := off + x.na - y.na
			i0, i1, i2 := x.a, x.b, y.b
			if off > 0 {
				i0 -= off
				i1 -= off
			} else {
				i2 += off
			}
			c0 := x.a + x.na - i0
			c1 := x.b + x.nb - i1
			c2 := y.b + y.nb - i2
			if ffo < 0 {
				c0 -= ffo
				c1 -= ffo
			} else {
				c2 += ffo
			}
			add(region{mode: 0, i0: i0, c0: c0, i1: i1, c1: c1, i2: i2, c2: c2})
		}
		e1, e2 := x.a+x.na, y.a+y.na
		if e1 >= e2 {
			q++
		}
		if e2 >= e1 {
			p++
		}
	}
	for ; p < len(d1); p++ {
		x := d1[p]
		add(region{mode: 1, i0: x.a, c0: x.na, i1: x.b, c1: x.nb, i2: x.a + n2 - n0, c2: x.na})
	}
	for ; q < len(d2); q++ {
		y := d2[q]
		add(region{mode: 2, i0: y.a, c0: y.na, i1: y.a + n1 - n0, c1: y.na, i2: y.b, c2: y.nb})
	}
	return rs
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fill turns regions into spans that tile all three inputs: the stretches
// between regions are stable lines and changes both sides made the same
// way (those are ours' hunks that no region swallowed).
func (m *merger) fill(rs []region, d1 []change) []span {
	spans := make([]span, 0, 2*len(rs)+1)
	var b, o, t int // where the spans so far end
	k := 0          // next hunk of d1 not yet accounted for
	gap := func(e0, e1, e2 int) {
		for k < len(d1) && d1[k].a+d1[k].na <= b && d1[k].b+d1[k].nb <= o {
			k++ // inside the region just emitted
		}
		for k < len(d1) && d1[k].a+d1[k].na <= e0 && d1[k].b+d1[k].nb <= e1 {
			c := d1[k]
			if n := c.a - b; n > 0 {
				spans = append(spans, span{kind: HunkStable, b0: b, b1: c.a, o0: o, o1: o + n, t0: t, t1: t + n})
				b, o, t = c.a, o+n, t+n
			}
			spans = append(spans, span{kind: HunkSame, b0: b, b1: b + c.na, o0: o, o1: o + c.nb, t0: t, t1: t + c.nb})
			b, o, t = b+c.na, o+c.nb, t+c.nb
			k++
		}
		if n := e0 - b; n > 0 {
			spans = append(spans, span{kind: HunkStable, b0: b, b1: e0, o0: o, o1: o + n, t0: t, t1: t + n})
			b, o, t = e0, o+n, t+n
		}
		if b != e0 || o != e1 || t != e2 {
			panic(fmt.Sprintf("merge: regions out of step: at %d/%d/%d, want %d/%d/%d", b, o, t, e0, e1, e2))
		}
	}
	for _, r := range rs {
		gap(r.i0, r.i1, r.i2)
		kind := HunkConflict
		switch r.mode {
		case 1:
			kind = HunkOurs
		case 2:
			kind = HunkTheirs
		}
		spans = append(spans, span{kind: kind, b0: r.i0, b1: r.i0 + r.c0, o0: r.i1, o1: r.i1 + r.c1, t0: r.i2, t1: r.i2 + r.c2, listed: true})
		b, o, t = r.i0+r.c0, r.i1+r.c1, r.i2+r.c2
	}
	gap(len(m.base), len(m.ours), len(m.theirs))
	return spans
}

// refine diffs ours against theirs inside each conflict (level Zealous).
// Their common lines leave the conflict as HunkSame; what remains are
// smaller conflicts. A conflict whose sides turn out equal becomes a
// HunkSame that, as in git, still counts as a region for coalesce.
func (m *merger) refine(spans []span) []span {
	var out []span // nil until the first conflict: a clean merge copies nothing
	for i, s := range spans {
		if s.kind != HunkConflict || s.o0 == s.o1 || s.t0 == s.t1 {
			if out != nil {
				out = append(out, s)
			}
			continue
		}
		cs := m.d.diff(m.o[s.o0:s.o1], m.t[s.t0:s.t1])
		if out == nil {
			out = append(make([]span, 0, len(spans)+2*len(cs)), spans[:i]...)
		}
		if len(cs) == 0 {
			s.kind = HunkSame
			out = append(out, s)
			continue
		}
		// The region's base goes with its first conflict; the spans
		// before it start at b0, those after it at b1.
		b := s.b0
		o, t := s.o0, s.t0
		for j, c := range cs {
			if n := s.o0 + c.a - o; n > 0 {
				out = append(out, span{kind: HunkSame, b0: b, b1: b, o0: o, o1: o + n, t0: t, t1: t + n})
				o, t = o+n, t+n
			}
			b1 := b
			if j == 0 {
				b1 = s.b1
			}
			out = append(out, span{kind: HunkConflict, b0: b, b1: b1, o0: o, o1: o + c.na, t0: t, t1: t + c.nb, listed: true})
			b, o, t = b1, o+c.na, t+c.nb
		}
		if o < s.o1 {
			out = append(out, span{kind: HunkSame, b0: b, b1: b, o0: o, o1: s.o1, t0: t, t1: s.t1})
		}
	}
	if out == nil {
		return spans
	}
	return out
}

// coalesce joins conflicts that are neighbours in git's region list when
// at most three lines separate them, or only lines without an ASCII letter
// or digit: one conflict reads more easily than two around a blank line or
// a lone brace.
func coalesce(spans []span, ours []string) []span {
	out := make([]span, 0, len(spans))
	last := -1 // the last listed span in out
	for _, s := range spans {
		if s.listed && s.kind == HunkConflict && last >= 0 && out[last].kind == HunkConflict {
			p := out[last]
			gapStart, gapEnd := p.o1, s.o0
			if gapEnd-gapStart <= 3 || !containsAlnum(ours[gapStart:gapEnd]) {
				p.b1, p.o1, p.t1 = s.b1, s.o1, s.t1
				out = append(out[:last], p)
				continue
			}
		}
		out = append(out, s)
		if s.listed {
			last = len(out) - 1
		}
	}
	return out
}

func containsAlnum(lines []string) bool {
	for _, l := range lines {
		for i := 0; i < len(l); i++ {
			if c := l[i]; 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				return true
			}
		}
	}
	return false
}

// result turns spans into the exported form.
func (m *merger) result(spans []span) Result {
	r := Result{Hunks: make([]Hunk, len(spans))}
	for i, s := range spans {
		h := Hunk{Kind: s.kind, Base: lines(m.base, s.b0, s.b1), Ours: lines(m.ours, s.o0, s.o1), Theirs: lines(m.theirs, s.t0, s.t1)}
		if s.kind == HunkConflict {
			r.Conflicts++
			if m.needsCR(s) {
				h.eol = "\r\n"
			}
		}
		r.Hunks[i] = h
	}
	return r
}

func lines(all []string, i, j int) []string {
	if i == j {
		return nil
	}
	return all[i:j:j]
}

// needsCR decides, as git does, whether the conflict at s gets CRLF
// markers: the line before it in ours, then in theirs, then the base's
// first line must all use CRLF, where they tell.
func (m *merger) needsCR(s span) bool {
	v := eolStyle(m.ours, max(s.o0-1, 0))
	if v != 0 {
		v = eolStyle(m.theirs, max(s.t0-1, 0))
	}
	if v != 0 {
		v = eolStyle(m.base, 0)
	}
	return v > 0
}

// eolStyle says whether line i of lines ends in CRLF: 1 yes, 0 no, -1
// cannot tell (an empty text, or a lone line without a newline). A last
// line without a newline takes the style of the line before it.
func eolStyle(lines []string, i int) int {
	crlf := func(l string) int {
		if len(l) > 1 && l[len(l)-2] == '\r' {
			return 1
		}
		return 0
	}
	switch {
	case i < len(lines)-1:
		return crlf(lines[i])
	case len(lines) == 0:
		return -1
	case hasNewline(lines[i]):
		return crlf(lines[i])
	case i == 0:
		return -1
	default:
		return crlf(lines[i-1])
	}
}

// MarkerOptions labels the conflict markers Result.Text writes.
type MarkerOptions struct {
	OursLabel, BaseLabel, TheirsLabel string
	// Diff3 adds each conflict's base lines after "||||||| BaseLabel".
	// git merge-file --diff3 output is Merge3Level(..., Eager).Text with
	// Diff3 set; at level Zealous a conflict's Base may be empty (see
	// Zealous).
	Diff3 bool
	// MarkerSize is the length of the markers; 0 means git's 7.
	MarkerSize int
}

// Text returns the merged text, each conflict written between git-style
// markers:
//
//	<<<<<<< OursLabel
//	ours' lines
//	||||||| BaseLabel   (with Diff3)
//	base lines
//	=======
//	theirs' lines
//	>>>>>>> TheirsLabel
//
// byte for byte as `git merge-file -p` writes it: an empty label leaves
// the marker bare; a side whose last line lacks a newline gets one before
// the next marker; markers end in CRLF where the text around uses CRLF.
func (r Result) Text(opt MarkerOptions) string {
	var b strings.Builder
	b.Grow(r.textSize(opt))
	r.writeText(&b, opt)
	return b.String()
}

// textWriter is what the merged text is written to: a strings.Builder for
// Text, a bytes.Buffer for MergeFile.
type textWriter interface {
	WriteString(s string) (int, error)
	WriteByte(c byte) error
}

func (r Result) writeText(w textWriter, opt MarkerOptions) {
	size := opt.MarkerSize
	if size <= 0 {
		size = 7
	}
	for _, h := range r.Hunks {
		if h.Kind != HunkConflict {
			writeLines(w, h.resolved(), "")
			continue
		}
		eol := h.eolOrLF()
		writeMarker(w, '<', size, opt.OursLabel, eol)
		writeLines(w, h.Ours, eol)
		if opt.Diff3 {
			writeMarker(w, '|', size, opt.BaseLabel, eol)
			writeLines(w, h.Base, eol)
		}
		writeMarker(w, '=', size, "", eol)
		writeLines(w, h.Theirs, eol)
		writeMarker(w, '>', size, opt.TheirsLabel, eol)
	}
}

// textSize estimates the length of Text's result, to allocate it once.
func (r Result) textSize(opt MarkerOptions) int {
	return r.size(4*max(opt.MarkerSize, 7) + len(opt.OursLabel) + len(opt.BaseLabel) + len(opt.TheirsLabel) + 8)
}

// Union returns the merged text with each conflict replaced by ours' lines
// followed by theirs' (like git merge-file --union): nothing either side
// wrote is lost. If ours' side ends without a newline, one is added so
// that its last line does not run into theirs' first.
func (r Result) Union() string {
	var b strings.Builder
	b.Grow(r.size(0))
	for _, h := range r.Hunks {
		if h.Kind != HunkConflict {
			writeLines(&b, h.resolved(), "")
			continue
		}
		writeLines(&b, h.Ours, h.eolOrLF())
		writeLines(&b, h.Theirs, "")
	}
	return b.String()
}

// Resolved returns the merged text with the i-th conflict (counting from
// 0) replaced by choice(i, h), for a UI that lets a person pick a side, or
// both, or write something else per conflict. As in Union, a chosen block
// that ends without a newline gets one when more text follows it.
func (r Result) Resolved(choice func(i int, h Hunk) []string) string {
	var b strings.Builder
	b.Grow(r.size(0))
	i := 0
	var pending string // a newline owed by the previous choice
	for _, h := range r.Hunks {
		var ls []string
		if h.Kind == HunkConflict {
			ls = choice(i, h)
			i++
		} else {
			ls = h.resolved()
		}
		if len(ls) == 0 {
			continue
		}
		b.WriteString(pending)
		pending = ""
		writeLines(&b, ls, "")
		if h.Kind == HunkConflict && !hasNewline(ls[len(ls)-1]) {
			pending = h.eolOrLF()
		}
	}
	return b.String()
}

// resolved is what a non-conflict hunk contributes to the merged text.
func (h Hunk) resolved() []string {
	if h.Kind == HunkTheirs {
		return h.Theirs
	}
	return h.Ours
}

func (h Hunk) eolOrLF() string {
	if h.eol == "" {
		return "\n"
	}
	return h.eol
}

// size estimates the merged text's length, plus extra per conflict.
func (r Result) size(extra int) int {
	n := 0
	for _, h := range r.Hunks {
		for _, l := range h.Ours {
			n += len(l)
		}
		if h.Kind == HunkTheirs || h.Kind == HunkConflict {
			for _, l := range h.Theirs {
				n += len(l)
			}
		}
		if h.Kind == HunkConflict {
			n += extra
			for _, l := range h.Base {
				n += len(l)
			}
		}
	}
	return n
}

// writeLines writes lines; if addEOL is not empty and the last line lacks
// a newline, it writes addEOL after it.
func writeLines(b textWriter, lines []string, addEOL string) {
	for _, l := range lines {
		b.WriteString(l)
	}
	if addEOL != "" && len(lines) > 0 && !hasNewline(lines[len(lines)-1]) {
		b.WriteString(addEOL)
	}
}

func writeMarker(b textWriter, c byte, size int, label, eol string) {
	for range size {
		b.WriteByte(c)
	}
	if label != "" {
		b.WriteByte(' ')
		b.WriteString(label)
	}
	b.WriteString(eol)
}
