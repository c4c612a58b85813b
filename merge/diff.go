package merge

import "math"

// The line diff is Myers' O(ND) algorithm in its linear-space form (the
// middle snake, divide and conquer), preceded and followed by the same
// published heuristics that git's xdiff applies, with git's constants:
//
//   - the common prefix and suffix are trimmed first;
//   - lines that occur nowhere in the other text are marked changed before
//     the search, and lines that occur very often in the other text are too
//     when they sit among such unmatched lines (GNU diff's "discard
//     confusing lines"), which keeps the search small and the hunks sane;
//   - the search is bounded by edit cost, never by time: past a cost of
//     max(256, ~sqrt(N)) for one split, it cuts at the furthest-reaching
//     point found so far, and past a cost of 256 it may cut at a long
//     (20-line) snake. Same input, same cut, on every machine;
//   - ties prefer a deletion over an insertion;
//   - afterwards each group of changed lines is slid as far down as it can
//     go, or back up to line up with a change in the other text (GNU diff's
//     boundary shifting), so that equivalent diffs come out in one form.
//
// Mirroring git here is what makes our three-way merges agree with `git
// merge-file`: a merge's verdict depends on where the two diffs put their
// hunks, not only on how many lines they change. The diff is a shortest one
// unless a split reaches the cap or a frequent line is discarded among
// unmatched ones, which ordinary edits, even 1% of the lines of a megabyte
// text, do not do (TestDiffMinimal); on two unrelated megabyte texts the
// cap keeps it to tens of milliseconds.
const (
	maxEqLimit    = 1024 // a line this frequent in the other text is "multi-match"
	simscanWindow = 100  // how far a multi-match line looks for unmatched neighbours
	kpdisRun      = 4    // discard a multi-match line when unmatched ones outnumber its kind 3:1
	minCostCap    = 256  // the least edit cost one split may reach before it is cut
	heurMinCost   = 256  // edit cost above which a long snake may end a split early
	snakeCount    = 20   // what counts as a long snake
	kHeur         = 4    // how far along a snake must be, per unit of cost, to be taken
)

// change is one hunk of a line diff: lines [a, a+na) of the old text are
// replaced by lines [b, b+nb) of the new one. Hunks are in order and never
// touch: at least one unchanged line lies between two of them.
type change struct {
	a, na int
	b, nb int
}

// side is one text during a diff: its line ids and which lines changed.
type side struct {
	ids []int32
	// chg[i+1] reports whether line i is changed; chg[0] and
	// chg[len(ids)+1] stay false so that walks stop at either end.
	chg []bool
}

// differ computes line diffs over interned lines. It keeps scratch space so
// that the diffs of one merge share allocations.
type differ struct {
	cnt1, cnt2 []int32 // occurrences of each line id; all zero between diffs
	dis1, dis2 []byte  // each line's class for the discard step
	a, b       []int32 // the lines the search considers
	ia, ib     []int32 // their indexes in the whole texts
	kv         []int32 // the search's diagonal vectors
}

func newDiffer(classes int) *differ {
	return &differ{cnt1: make([]int32, classes), cnt2: make([]int32, classes)}
}

// diff returns the hunks that turn x into y.
func (d *differ) diff(x, y []int32) []change {
	n1, n2 := len(x), len(y)
	pre := 0
	for pre < n1 && pre < n2 && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < n1-pre && suf < n2-pre && x[n1-1-suf] == y[n2-1-suf] {
		suf++
	}
	if pre+suf == n1 && pre+suf == n2 {
		return nil
	}
	s1 := &side{ids: x, chg: make([]bool, n1+2)}
	s2 := &side{ids: y, chg: make([]bool, n2+2)}
	d.search(s1, s2, pre, n1-suf, pre, n2-suf)
	compact(s1, s2)
	compact(s2, s1)
	return changes(s1, s2)
}

// search marks the changed lines of x[start1:end1] and y[start2:end2].
func (d *differ) search(s1, s2 *side, start1, end1, start2, end2 int) {
	x, y := s1.ids, s2.ids
	for _, id := range x {
		d.cnt1[id]++
	}
	for _, id := range y {
		d.cnt2[id]++
	}
	d.dis1 = classify(d.dis1, x[start1:end1], d.cnt2, len(x))
	d.dis2 = classify(d.dis2, y[start2:end2], d.cnt1, len(y))
	for _, id := range x {
		d.cnt1[id] = 0
	}
	for _, id := range y {
		d.cnt2[id] = 0
	}
	d.a, d.ia = keep(d.a[:0], d.ia[:0], s1, d.dis1, start1)
	d.b, d.ib = keep(d.b[:0], d.ib[:0], s2, d.dis2, start2)

	ndiags := len(d.a) + len(d.b) + 3
	if cap(d.kv) < 2*ndiags {
		d.kv = make([]int32, 2*ndiags)
	}
	m := myers{
		a: d.a, b: d.b, ia: d.ia, ib: d.ib,
		c1: s1.chg, c2: s2.chg,
		kf: d.kv[:ndiags], kb: d.kv[ndiags : 2*ndiags],
		koff:   len(d.b) + 1,
		mxcost: max(minCostCap, bogosqrt(ndiags)),
	}
	m.compare(0, len(d.a), 0, len(d.b), false)
}

// Line classes for the discard heuristic.
const (
	noMatch    = 0 // occurs nowhere in the other text: certainly changed
	match      = 1
	multiMatch = 2 // occurs very often in the other text
)

// classify says, for each line, how often it occurs in the other text,
// whose line counts are in other; n is the length of the line's own text.
// It reuses dis's memory.
func classify(dis []byte, lines []int32, other []int32, n int) []byte {
	limit := min(bogosqrt(n), maxEqLimit)
	if cap(dis) < len(lines) {
		dis = make([]byte, len(lines))
	}
	dis = dis[:len(lines)]
	for i, id := range lines {
		switch nm := int(other[id]); {
		case nm == 0:
			dis[i] = noMatch
		case nm >= limit:
			dis[i] = multiMatch
		default:
			dis[i] = match
		}
	}
	return dis
}

// keep appends to ids and idx the lines the search must consider and
// their indexes in the whole text, and marks the others changed. start is
// the offset of dis[0] in the text.
func keep(ids, idx []int32, s *side, dis []byte, start int) ([]int32, []int32) {
	if cap(ids) < len(dis) {
		ids, idx = make([]int32, 0, len(dis)), make([]int32, 0, len(dis))
	}
	for i, c := range dis {
		if c == match || c == multiMatch && !discardMultiMatch(dis, i) {
			ids = append(ids, s.ids[start+i])
			idx = append(idx, int32(start+i))
		} else {
			s.chg[start+i+1] = true
		}
	}
	return ids, idx
}

// discardMultiMatch reports whether the multi-match line i sits in a run of
// lines that mostly have no match at all: such a line would only anchor a
// spurious alignment inside a region that changed anyway.
func discardMultiMatch(dis []byte, i int) bool {
	lo, hi := max(0, i-simscanWindow), min(len(dis)-1, i+simscanWindow)
	unmatched, multi := 0, 1
	for j := i - 1; j >= lo; j-- {
		if dis[j] == noMatch {
			unmatched++
		} else if dis[j] == multiMatch {
			multi++
		} else {
			break
		}
	}
	if unmatched == 0 {
		return false
	}
	unmatchedAfter, multiAfter := 0, 1
	for j := i + 1; j <= hi; j++ {
		if dis[j] == noMatch {
			unmatchedAfter++
		} else if dis[j] == multiMatch {
			multiAfter++
		} else {
			break
		}
	}
	if unmatchedAfter == 0 {
		return false
	}
	unmatched += unmatchedAfter
	multi += multiAfter
	return multi*kpdisRun < multi+unmatched
}

// bogosqrt approximates sqrt(n) by a power of two, cheaply and exactly the
// same everywhere (no floating point).
func bogosqrt(n int) int {
	i := 1
	for ; n > 0; n >>= 2 {
		i <<= 1
	}
	return i
}

// myers is one run of the divide-and-conquer search over the lines that
// survived the discard step.
type myers struct {
	a, b   []int32 // the lines searched
	ia, ib []int32 // their indexes in the whole texts
	c1, c2 []bool  // the texts' change flags (see side.chg)
	// kf and kb hold, for each diagonal k = i1-i2 (at index k+koff), the
	// furthest point reached forward and backward.
	kf, kb []int32
	koff   int
	mxcost int // edit cost at which a split is cut short
}

// compare marks the changes between a[off1:lim1] and b[off2:lim2]. needMin
// asks for a minimal diff of this box: no heuristic cut.
func (m *myers) compare(off1, lim1, off2, lim2 int, needMin bool) {
	for {
		for off1 < lim1 && off2 < lim2 && m.a[off1] == m.b[off2] {
			off1++
			off2++
		}
		for off1 < lim1 && off2 < lim2 && m.a[lim1-1] == m.b[lim2-1] {
			lim1--
			lim2--
		}
		if off1 == lim1 {
			for ; off2 < lim2; off2++ {
				m.c2[m.ib[off2]+1] = true
			}
			return
		}
		if off2 == lim2 {
			for ; off1 < lim1; off1++ {
				m.c1[m.ia[off1]+1] = true
			}
			return
		}
		sp1, sp2, minLo, minHi := m.split(off1, lim1, off2, lim2, needMin)
		m.compare(off1, sp1, off2, sp2, minLo)
		off1, off2, needMin = sp1, sp2, minHi
	}
}

// split finds a point (sp1, sp2) on a good path through the box, searching
// forward from its top-left and backward from its bottom-right corner one
// unit of edit cost at a time until the two searches meet (the middle
// snake). minLo and minHi say whether the two halves must still be diffed
// minimally: after a heuristic cut the half that was searched exactly is.
func (m *myers) split(off1, lim1, off2, lim2 int, needMin bool) (sp1, sp2 int, minLo, minHi bool) {
	a, b, kf, kb, o := m.a, m.b, m.kf, m.kb, m.koff
	dmin, dmax := off1-lim2, lim1-off2
	fmid, bmid := off1-off2, lim1-lim2
	odd := (fmid-bmid)&1 != 0
	fmin, fmax := fmid, fmid
	bmin, bmax := bmid, bmid
	kf[o+fmid] = int32(off1)
	kb[o+bmid] = int32(lim1)

	for ec := 1; ; ec++ {
		gotSnake := false

		// Widen the forward diagonals by one each side; at the box's edge
		// narrow instead, keeping the parity. The sentinels outside make
		// the first and last diagonal take their only possible move.
		if fmin > dmin {
			fmin--
			kf[o+fmin-1] = -1
		} else {
			fmin++
		}
		if fmax < dmax {
			fmax++
			kf[o+fmax+1] = -1
		} else {
			fmax--
		}
		for d := fmax; d >= fmin; d -= 2 {
			var i1 int
			if kf[o+d-1] >= kf[o+d+1] {
				i1 = int(kf[o+d-1]) + 1 // a deletion; preferred on a tie
			} else {
				i1 = int(kf[o+d+1]) // an insertion
			}
			prev := i1
			i2 := i1 - d
			for i1 < lim1 && i2 < lim2 && a[i1] == b[i2] {
				i1++
				i2++
			}
			if i1-prev > snakeCount {
				gotSnake = true
			}
			kf[o+d] = int32(i1)
			if odd && bmin <= d && d <= bmax && int(kb[o+d]) <= i1 {
				return i1, i2, true, true
			}
		}

		if bmin > dmin {
			bmin--
			kb[o+bmin-1] = math.MaxInt32
		} else {
			bmin++
		}
		if bmax < dmax {
			bmax++
			kb[o+bmax+1] = math.MaxInt32
		} else {
			bmax--
		}
		for d := bmax; d >= bmin; d -= 2 {
			var i1 int
			if kb[o+d-1] < kb[o+d+1] {
				i1 = int(kb[o+d-1])
			} else {
				i1 = int(kb[o+d+1]) - 1
			}
			prev := i1
			i2 := i1 - d
			for i1 > off1 && i2 > off2 && a[i1-1] == b[i2-1] {
				i1--
				i2--
			}
			if prev-i1 > snakeCount {
				gotSnake = true
			}
			kb[o+d] = int32(i1)
			if !odd && fmin <= d && d <= fmax && i1 <= int(kf[o+d]) {
				return i1, i2, true, true
			}
		}

		if needMin {
			continue
		}

		// Costly, but some diagonal has come far along a long snake: take
		// the point furthest from its corner (penalised by its distance
		// from the middle diagonal) if it is far enough for the cost spent.
		if gotSnake && ec > heurMinCost {
			best := 0
			for d := fmax; d >= fmin; d -= 2 {
				dd := abs(d - fmid)
				i1 := int(kf[o+d])
				i2 := i1 - d
				v := (i1 - off1) + (i2 - off2) - dd
				if v > kHeur*ec && v > best &&
					off1+snakeCount <= i1 && i1 < lim1 &&
					off2+snakeCount <= i2 && i2 < lim2 {
					for k := 1; a[i1-k] == b[i2-k]; k++ {
						if k == snakeCount {
							best, sp1, sp2 = v, i1, i2
							break
						}
					}
				}
			}
			if best > 0 {
				return sp1, sp2, true, false
			}
			for d := bmax; d >= bmin; d -= 2 {
				dd := abs(d - bmid)
				i1 := int(kb[o+d])
				i2 := i1 - d
				v := (lim1 - i1) + (lim2 - i2) - dd
				if v > kHeur*ec && v > best &&
					off1 < i1 && i1 <= lim1-snakeCount &&
					off2 < i2 && i2 <= lim2-snakeCount {
					for k := 0; a[i1+k] == b[i2+k]; k++ {
						if k == snakeCount-1 {
							best, sp1, sp2 = v, i1, i2
							break
						}
					}
				}
			}
			if best > 0 {
				return sp1, sp2, false, true
			}
		}

		// The effort cap: take the furthest-reaching point of either search.
		if ec >= m.mxcost {
			fbest, fbest1 := -1, -1
			for d := fmax; d >= fmin; d -= 2 {
				i1 := min(int(kf[o+d]), lim1)
				i2 := i1 - d
				if lim2 < i2 {
					i1, i2 = lim2+d, lim2
				}
				if fbest < i1+i2 {
					fbest, fbest1 = i1+i2, i1
				}
			}
			bbest, bbest1 := math.MaxInt, math.MaxInt
			for d := bmax; d >= bmin; d -= 2 {
				i1 := max(off1, int(kb[o+d]))
				i2 := i1 - d
				if i2 < off2 {
					i1, i2 = off2+d, off2
				}
				if i1+i2 < bbest {
					bbest, bbest1 = i1+i2, i1
				}
			}
			if (lim1+lim2)-bbest < fbest-(off1+off2) {
				return fbest1, fbest - fbest1, true, false
			}
			return bbest1, bbest - bbest1, false, true
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// group is a run [start, end) of changed lines of one side; it may be empty.
type group struct{ start, end int }

func (s *side) firstGroup() group {
	g := group{}
	for s.chg[g.end+1] {
		g.end++
	}
	return g
}

// next moves g to the following group; false at the end of the text.
func (s *side) next(g *group) bool {
	if g.end == len(s.ids) {
		return false
	}
	g.start = g.end + 1
	g.end = g.start
	for s.chg[g.end+1] {
		g.end++
	}
	return true
}

// prev moves g to the preceding group; false at the start of the text.
func (s *side) prev(g *group) bool {
	if g.start == 0 {
		return false
	}
	g.end = g.start - 1
	g.start = g.end
	for s.chg[g.start] {
		g.start--
	}
	return true
}

// slideDown shifts g one line down if the line after it equals its first
// line (the diff stays valid), merging any group it runs into.
func (s *side) slideDown(g *group) bool {
	if g.end < len(s.ids) && s.ids[g.start] == s.ids[g.end] {
		s.chg[g.start+1] = false
		g.start++
		s.chg[g.end+1] = true
		g.end++
		for s.chg[g.end+1] {
			g.end++
		}
		return true
	}
	return false
}

// slideUp shifts g one line up if the line before it equals its last line.
func (s *side) slideUp(g *group) bool {
	if g.start > 0 && s.ids[g.start-1] == s.ids[g.end-1] {
		g.start--
		s.chg[g.start+1] = true
		g.end--
		s.chg[g.end+1] = false
		for s.chg[g.start] {
			g.start--
		}
		return true
	}
	return false
}

// compact puts every group of changed lines of x, where it can slide, in
// one canonical place: as low as possible, unless it can line up with a
// group of changes in the other side o, in which case the lowest such
// place. Groups that slide into each other merge. Walking x's groups moves
// o's groups in step (each slide moves one unchanged line across).
func compact(x, o *side) {
	g, gO := x.firstGroup(), o.firstGroup()
	for {
		if g.end != g.start {
			var earliestEnd, endMatchingOther int
			for {
				size := g.end - g.start
				endMatchingOther = -1
				for x.slideUp(&g) {
					mustMove(o.prev(&gO))
				}
				earliestEnd = g.end
				if gO.end > gO.start {
					endMatchingOther = g.end
				}
				for x.slideDown(&g) {
					mustMove(o.next(&gO))
					if gO.end > gO.start {
						endMatchingOther = g.end
					}
				}
				if size == g.end-g.start {
					break
				}
			}
			if g.end != earliestEnd && endMatchingOther != -1 {
				for gO.end == gO.start {
					mustMove(x.slideUp(&g))
					mustMove(o.prev(&gO))
				}
			}
		}
		if !x.next(&g) {
			break
		}
		mustMove(o.next(&gO))
	}
	if o.next(&gO) {
		panic("merge: diff groups out of step at end of text")
	}
}

func mustMove(ok bool) {
	if !ok {
		panic("merge: diff groups out of step")
	}
}

// changes reads the hunks off the change flags of both sides.
func changes(s1, s2 *side) []change {
	var out []change
	n1, n2 := len(s1.ids), len(s2.ids)
	i1, i2 := 0, 0
	for i1 < n1 || i2 < n2 {
		if s1.chg[i1+1] || s2.chg[i2+1] {
			a, b := i1, i2
			for s1.chg[i1+1] {
				i1++
			}
			for s2.chg[i2+1] {
				i2++
			}
			out = append(out, change{a: a, na: i1 - a, b: b, nb: i2 - b})
			continue
		}
		i1++
		i2++
	}
	return out
}

// diffStrings diffs two texts line by line.
func diffStrings(a, b string) (la, lb []string, cs []change) {
	la = splitLines(a)
	in := newInterner(len(la) + len(la)/8)
	x := in.intern(la)
	lb, y := in.splitEdit(b, newEditBase(a, la, x, in.classes()))
	return la, lb, newDiffer(in.classes()).diff(x, y)
}
