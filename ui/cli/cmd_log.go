package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) logCommand() *cobra.Command {
	var graph, asJSON bool
	cmd := &cobra.Command{
		Use:   "log PAGE [--graph] [--json]",
		Short: "List a page's revisions, newest first",
		Long: `List every revision of PAGE, newest first and children before parents.
--graph draws the revision DAG as text, like 'git log --graph'; heads are
marked, and so are automatic merges.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			p, err := r.FindPage(cmd.Context(), as[0])
			if err != nil {
				return err
			}
			entries, err := r.Log(cmd.Context(), p.ID)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, entries)
			}
			out := newPrinter(a.stdout)
			describe := func(e wiki.LogEntry) string {
				s := out.yellow(shortID(e.Rev)) + " " + out.dim(e.Time[:19])
				if e.Head {
					s += " " + out.green("(head)")
				}
				s += " " + termtext.Line(e.Title)
				if e.Deleted {
					s += " " + out.dim("[deleted]")
				}
				if e.Auto {
					s += " " + out.cyan("[auto: "+termtext.Line(e.Policy)+"]")
				} else {
					s += " " + out.dim("— "+authorLabel(e.Name, e.Author))
				}
				if e.Message != "" {
					s += ": " + termtext.Line(e.Message)
				}
				return s
			}
			if graph {
				for _, line := range GraphLines(entries, describe) {
					out.Println(line)
				}
				return nil
			}
			for _, e := range entries {
				out.Println(describe(e))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&graph, "graph", false, "draw the revision DAG")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// GraphLines draws a DAG given newest first (children before parents) in
// the style of `git log --graph`: one column per line of descent, "*" for
// a revision, "|\" where a merge opens columns, "|/" where lines join.
func GraphLines(entries []wiki.LogEntry, describe func(wiki.LogEntry) string) []string {
	var cols []string // the revision each column is waiting for
	var lines []string
	row := func(n int) []byte { return []byte(strings.Repeat(" ", 2*n)) }
	for _, e := range entries {
		idx := -1
		for i, c := range cols {
			if c == e.Rev {
				idx = i
				break
			}
		}
		if idx < 0 {
			cols = append(cols, e.Rev)
			idx = len(cols) - 1
		}
		r := row(len(cols))
		for i := range cols {
			r[2*i] = '|'
		}
		r[2*idx] = '*'
		lines = append(lines, strings.TrimRight(string(r), " ")+" "+describe(e))

		var fresh []string
		for _, p := range e.Parents {
			known := false
			for i, c := range cols {
				if c == p && i != idx {
					known = true
				}
			}
			if !known {
				fresh = append(fresh, p)
			}
		}
		before := len(cols)
		next := append([]string{}, cols[:idx]...)
		next = append(next, fresh...)
		next = append(next, cols[idx+1:]...)
		cols = next
		switch {
		case len(fresh) == 0 && idx < before-1 || len(fresh) == 0 && idx == before-1 && len(e.Parents) > 0:
			// The column ends: it joins a line further left.
			if idx == 0 && len(cols) == 0 {
				break
			}
			r := row(before)
			for i := 0; i < idx; i++ {
				r[2*i] = '|'
			}
			if idx > 0 {
				r[2*idx-1] = '/'
			}
			for i := idx + 1; i < before; i++ {
				r[2*i-1] = '/'
			}
			if idx == 0 {
				r[0] = ' '
			}
			lines = append(lines, strings.TrimRight(string(r), " "))
		case len(fresh) > 1:
			// A merge: its extra parents open columns to the right.
			r := row(len(cols) + 1)
			for i := 0; i <= idx; i++ {
				r[2*i] = '|'
			}
			for k := 1; k < len(fresh); k++ {
				r[2*(idx+k)-1] = '\\'
			}
			for i := idx + 1; i < before; i++ {
				r[2*(i+len(fresh)-1)-1] = '\\'
			}
			lines = append(lines, strings.TrimRight(string(r), " "))
		}
	}
	return lines
}
