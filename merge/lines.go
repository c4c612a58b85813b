package merge

import (
	"hash/maphash"
	"strings"
)

// splitLines cuts s into lines that keep their "\n" (the last line may lack
// one), so that joining the lines gives s back byte for byte and a missing
// final newline is a difference like any other. The lines share s's memory.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	n := strings.Count(s, "\n")
	if s[len(s)-1] != '\n' {
		n++
	}
	lines := make([]string, 0, n)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}

// interner numbers distinct lines in order of first appearance, so that the
// diff compares small integers instead of strings. Numbering by first
// appearance keeps the ids, and so every result, the same on every machine;
// the hash (seeded per process) only decides where a line is looked up.
// It is a plain open-addressing table because interning megabytes of lines
// is the largest cost of a merge, and this is about twice as fast as a map.
type interner struct {
	seed   maphash.Seed
	table  []int32  // id+1 of the line hashed to each slot; 0 is empty
	hashes []uint64 // each id's hash
	lines  []string // each id's line
}

func newInterner(sizeHint int) *interner {
	n := 64
	for n < 2*sizeHint {
		n <<= 1
	}
	return &interner{
		seed:   maphash.MakeSeed(),
		table:  make([]int32, n),
		hashes: make([]uint64, 0, sizeHint),
		lines:  make([]string, 0, sizeHint),
	}
}

// id returns line's id, numbering it if it is new.
func (in *interner) id(line string) int32 {
	h := maphash.String(in.seed, line)
	mask := uint64(len(in.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := in.table[i]
		if e == 0 {
			id := int32(len(in.lines))
			in.table[i] = id + 1
			in.hashes = append(in.hashes, h)
			in.lines = append(in.lines, line)
			if 2*len(in.lines) > len(in.table) {
				in.grow()
			}
			return id
		}
		if in.hashes[e-1] == h && in.lines[e-1] == line {
			return e - 1
		}
	}
}

// grow doubles the table, keeping it at most half full.
func (in *interner) grow() {
	in.table = make([]int32, 2*len(in.table))
	mask := uint64(len(in.table) - 1)
	for id, h := range in.hashes {
		i := h & mask
		for in.table[i] != 0 {
			i = (i + 1) & mask
		}
		in.table[i] = int32(id) + 1
	}
}

// intern returns the id of each line.
func (in *interner) intern(lines []string) []int32 {
	out := make([]int32, len(lines))
	for i, l := range lines {
		out[i] = in.id(l)
	}
	return out
}

// editBase is a text that others are edits of, indexed for splitEdit.
type editBase struct {
	text  string
	lines []string
	ids   []int32
	off   []int32 // off[j] is where line j starts in text
	first []int32 // first[id] is the first line with that id
}

func newEditBase(text string, lines []string, ids []int32, classes int) *editBase {
	e := &editBase{text: text, lines: lines, ids: ids, off: make([]int32, len(lines)+1), first: make([]int32, classes)}
	for j, l := range lines {
		e.off[j+1] = e.off[j] + int32(len(l))
	}
	for j := len(ids) - 1; j >= 0; j-- {
		e.first[ids[j]] = int32(j)
	}
	return e
}

// splitEdit splits s, a text that is mostly an edit of ref, into lines and
// returns their ids. It is the same as splitLines then intern, only
// cheaper: in an edit most lines are where they were, so it first measures
// how far s goes on exactly like ref from the line the edit so far
// suggests (a block comparison) and takes ref's lines and ids for that
// stretch without scanning or hashing them; only lines that differ are
// split and hashed.
func (in *interner) splitEdit(s string, ref *editBase) ([]string, []int32) {
	if s == "" {
		return nil, nil
	}
	n := strings.Count(s, "\n") + 1
	lines := make([]string, 0, n)
	ids := make([]int32, 0, n)
	// whole reports whether line r of ref, found at the start of s, is a
	// whole line of s too (it ends in a newline, or so does s).
	whole := func(r string) bool {
		return hasNewline(r) || len(r) == len(s)
	}
	nref := len(ref.lines)
	j := 0 // the line of ref that the next line of s probably is
	for len(s) > 0 {
		// The stretch that s shares with ref from line j on.
		if j < nref {
			common := int32(commonPrefix(s, ref.text[ref.off[j]:]))
			k := j
			for k < nref && ref.off[k+1]-ref.off[j] <= common && whole(ref.lines[k]) {
				k++
			}
			if k > j {
				for ; j < k; j++ {
					l := len(ref.lines[j])
					lines = append(lines, s[:l])
					ids = append(ids, ref.ids[j])
					s = s[l:]
				}
				continue
			}
		}
		// This line differs from ref's line j: perhaps ref's line j was
		// deleted, else the line is new or moved.
		var line string
		var id int32
		if j+1 < nref && strings.HasPrefix(s, ref.lines[j+1]) && whole(ref.lines[j+1]) {
			line, id = s[:len(ref.lines[j+1])], ref.ids[j+1]
			j += 2
		} else {
			line = s
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				line = s[:i+1]
			}
			id = in.id(line)
			// After an insertion or a deletion, pick up the thread at
			// the next line that ref has too.
			if int(id) < len(ref.first) && int(ref.first[id]) >= j {
				j = int(ref.first[id]) + 1
			}
		}
		lines = append(lines, line)
		ids = append(ids, id)
		s = s[len(line):]
	}
	return lines, ids
}

// commonPrefix returns the length of the longest common prefix of a and
// b, comparing in blocks first because the prefixes are usually long.
func commonPrefix(a, b string) int {
	const block = 256
	limit := min(len(a), len(b))
	n := 0
	for n+block <= limit && a[n:n+block] == b[n:n+block] {
		n += block
	}
	for n < limit && a[n] == b[n] {
		n++
	}
	return n
}

// classes is the number of distinct lines seen so far.
func (in *interner) classes() int { return len(in.lines) }

// joinLines concatenates lines.
func joinLines(lines []string) string {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	var b strings.Builder
	b.Grow(n)
	for _, l := range lines {
		b.WriteString(l)
	}
	return b.String()
}

// hasNewline reports whether line ends in "\n" (only a text's last line may not).
func hasNewline(line string) bool {
	return line != "" && line[len(line)-1] == '\n'
}
