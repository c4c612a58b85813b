package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
)

func (a *app) conflictsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "conflicts [--json]",
		Short: "List conflicted pages: their heads, who wrote them, what differs",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			cs, err := r.Conflicts(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, conflictsToJSON(cs))
			}
			w, done := a.pager()
			defer done()
			out := newPrinter(w)
			if len(cs) == 0 {
				out.Println("no conflicts")
				return nil
			}
			for _, c := range cs {
				out.Printf("%s  %s  %s\n", out.yellow(shortID(c.ID.String())), out.bold(termtext.Line(c.Title)), out.red(fmt.Sprintf("%d heads; differ in %s; policy %s", len(c.Heads), strings.Join(c.Differs, ", "), termtext.Line(c.Policy))))
				for _, h := range c.Heads {
					state := fmt.Sprintf("%q", h.Title)
					if h.Deleted {
						state = "deleted"
					}
					out.Printf("    %s  %s  %s  %s\n", out.yellow(shortID(h.Rev.String())), out.dim(second(h.Time)), authorLabel(h.Name, h.Author), state)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
