package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"peerwiki/wiki"
)

func (a *app) initCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "init [--name NAME]",
		Short: "Create a new wiki in the repo",
		Long: `Create a new wiki in the repo: this node's identity (an Ed25519 key), the
wiki's id and its 32-byte pre-shared key, and the database. NAME is the
display name your revisions carry (default user@host).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := wiki.Init(a.dir(), name)
			if err != nil {
				return err
			}
			a.repo = r
			fmt.Fprintf(a.stdout, "Initialised wiki %s in %s\npeer id %s, name %q\n", r.Config.Wiki, r.Dir, r.ID.ID, r.Config.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name carried by your revisions")
	return cmd
}
