package cli

import (
	"github.com/spf13/cobra"
)

func (a *app) listCommand() *cobra.Command {
	var conflicts, all, asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--conflicts] [--all] [--json]",
		Short: "List pages",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			pages, err := r.List(cmd.Context(), all, conflicts)
			if err != nil {
				return err
			}
			editing := editorsByPage(r)
			if asJSON {
				return writeJSON(a.stdout, pagesToJSON(pages, editing))
			}
			w, done := a.pager()
			defer done()
			printPageListEditing(newPrinter(w), pages, editing)
			return nil
		},
	}
	cmd.Flags().BoolVar(&conflicts, "conflicts", false, "only pages with several heads")
	cmd.Flags().BoolVar(&all, "all", false, "include deleted pages")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
