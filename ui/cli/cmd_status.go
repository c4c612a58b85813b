package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
)

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Summarise the repo: wiki, identity, counts, conflicts",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			st, err := r.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, st)
			}
			p := newPrinter(a.stdout)
			p.Printf("wiki       %s\nrepo       %s\npeer id    %s\nname       %s\npages      %d\nrevisions  %d\n",
				st.Wiki, r.Dir, st.PeerID, termtext.Line(st.Name), st.Pages, st.Revisions)
			if len(st.Conflicts) > 0 {
				p.Printf("%s %d (peerwiki conflicts)\n", p.red("conflicts "), len(st.Conflicts))
			} else {
				p.Printf("conflicts  0\n")
			}
			if len(st.DuplicateTitles) > 0 {
				p.Printf("%s %s\n", p.yellow("duplicate titles"), termtext.Line(strings.Join(st.DuplicateTitles, ", ")))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
