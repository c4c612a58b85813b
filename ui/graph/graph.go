// Package graph draws a page's revision DAG as text, the way `git log
// --graph` does: the CLI's log, the terminal UI's history screen and the
// web interface's history page all draw it with Lines.
package graph

import (
	"slices"
	"strings"

	"github.com/ipfs/go-cid"

	"peerwiki/wiki"
)

// Lines draws a DAG given newest first (children before parents) in
// the style of `git log --graph`: one column per line of descent, "*" for
// a revision, "|\" where a merge opens columns, "|/" where lines join.
//
// Columns are laid out as git lays them out: after each revision, the
// next row's columns are the old ones in order with the revision replaced
// by its parents, and a revision awaited by two columns keeps the left
// one. So lines only ever join towards the left, and never cross, except
// where a merge's parent was already drawn to its left.
func Lines(entries []wiki.LogEntry, describe func(wiki.LogEntry) string) []string {
	var cols []cid.Cid // the revision each column is waiting for
	var lines []string
	for _, e := range entries {
		c := slices.Index(cols, e.Rev)
		if c < 0 {
			cols = append(cols, e.Rev) // a head: a new line of descent
			c = len(cols) - 1
		}
		row := make([]byte, 2*len(cols)-1)
		for i := range row {
			row[i] = ' '
		}
		for i := range cols {
			row[2*i] = '|'
		}
		row[2*c] = '*'
		lines = append(lines, string(row)+" "+describe(e))

		// Where each line of this row goes in the next one.
		var next []cid.Cid
		var moves []graphMove
		place := func(rev cid.Cid) int {
			if j := slices.Index(next, rev); j >= 0 {
				return j
			}
			next = append(next, rev)
			return len(next) - 1
		}
		for i, rev := range cols {
			if i != c {
				moves = append(moves, graphMove{i, place(rev)})
				continue
			}
			for _, p := range e.Parents {
				moves = append(moves, graphMove{c, place(p)})
			}
		}
		lines = append(lines, graphMoves(moves)...)
		cols = next
	}
	return lines
}

// graphMove is a line going from column from of one row to column to of
// the next.
type graphMove struct{ from, to int }

// graphMoves draws the rows between two rows of revisions. A line going
// right gets there in the first row ("\" left of where it lands), as a
// merge opens its columns in git; a line going left moves one column a
// row ("/"), so that lines joining from far right are drawn connected.
// When every line goes straight down no row is needed.
func graphMoves(moves []graphMove) []string {
	var rows []string
	pos := make([]int, len(moves))
	for i, m := range moves {
		pos[i] = m.from
	}
	for first := true; ; first = false {
		width := 0
		done := true
		for i, m := range moves {
			width = max(width, 2*max(pos[i], m.to)+1)
			done = done && pos[i] == m.to
		}
		if done {
			break
		}
		row := []byte(strings.Repeat(" ", width))
		set := func(at int, ch byte) {
			if row[at] != ' ' && row[at] != ch {
				ch = 'X' // two lines cross here
			}
			row[at] = ch
		}
		for i, m := range moves {
			switch {
			case m.to > pos[i] && first:
				set(2*m.to-1, '\\')
				pos[i] = m.to
			case m.to > pos[i]:
				set(2*pos[i]+1, '\\')
				pos[i]++
			case m.to < pos[i]:
				set(2*pos[i]-1, '/')
				pos[i]--
			default:
				set(2*pos[i], '|')
			}
		}
		rows = append(rows, strings.TrimRight(string(row), " "))
	}
	return rows
}
