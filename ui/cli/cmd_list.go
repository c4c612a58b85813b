package cli

import (
	"github.com/spf13/cobra"

	"peerwiki/wiki"
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
			streamingGC()
			editing := editorsByPage(r)
			each := func(fn func(wiki.PageInfo) error) error { return r.EachPage(cmd.Context(), all, conflicts, fn) }
			if asJSON {
				return streamPagesJSON(a.stdout, each, editing)
			}
			w, done := a.pager()
			defer done()
			return streamPageList(newPrinter(w), each, editing)
		},
	}
	cmd.Flags().BoolVar(&conflicts, "conflicts", false, "only pages with several heads")
	cmd.Flags().BoolVar(&all, "all", false, "include deleted pages")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
