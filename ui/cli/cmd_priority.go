package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
)

func (a *app) priorityCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "priority [PEERID...]",
		Short: "Show or set the wiki's replica priority",
		Long: `Show or set the wiki's replica priority: peer ids (see 'peerwiki id'),
highest first. It is replicated like the wiki's default policy. A page
resolved by priority ('peerwiki policy PAGE priority') settles a conflict in
favour of the head whose author comes first in this list, last writer wins
among equals; the list the page carries is the one in force when its
policy was set.`,
		Args: args(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			if len(as) > 0 {
				return r.SetPriorityList(cmd.Context(), as)
			}
			list, err := r.PriorityList(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if list == nil {
					list = []string{}
				}
				return writeJSON(a.stdout, map[string][]string{"priority": list})
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stdout, "no replica priority")
			}
			// The list is replicated: any member may have written it.
			for _, id := range list {
				fmt.Fprintln(a.stdout, termtext.Line(id))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
