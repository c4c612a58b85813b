package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"peerwiki/ui/graph"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) logCommand() *cobra.Command {
	var drawGraph, asJSON bool
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
				if shallow, err := r.ReplicationStore().PageShallow(cmd.Context(), p.ID); err == nil && shallow {
					fmt.Fprintln(a.stderr, "peerwiki: older history of this page is not here yet (a shallow replica)")
				}
				return writeJSON(a.stdout, logToJSON(entries))
			}
			w, done := a.pager()
			defer done()
			out := newPrinter(w)
			describe := func(e wiki.LogEntry) string {
				s := out.yellow(shortID(e.Rev.String())) + " " + out.dim(second(e.Time))
				if e.Head {
					s += " " + out.green("(head)")
				}
				s += " " + termtext.Line(e.Title)
				if e.Deleted {
					s += " " + out.dim("[deleted]")
				}
				if e.Void {
					s += " " + out.red("[void: its author is not a member]")
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
			if drawGraph {
				for _, line := range graph.Lines(entries, describe) {
					out.Println(line)
				}
				return nil
			}
			for _, e := range entries {
				out.Println(describe(e))
			}
			if shallow, err := r.ReplicationStore().PageShallow(cmd.Context(), p.ID); err == nil && shallow {
				out.Println(out.dim("… older history not here yet (a shallow replica: 'peerwiki sync --unshallow' fetches it)"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&drawGraph, "graph", false, "draw the revision DAG")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
