package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) exportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "export DIR",
		Short: "Write every page to DIR as a Markdown file",
		Long: `Write every live page to DIR as a Markdown file with front matter (title, id,
rev). 'peerwiki import DIR' reads such a folder back: titles and bodies
survive the round trip byte for byte.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			n, err := r.Export(cmd.Context(), as[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "exported %d pages to %s\n", n, as[0])
			return nil
		},
	}
}

func (a *app) importCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Read Markdown files from DIR into the wiki",
		Long: `Read every *.md file under DIR. A file whose front matter names a page of this
wiki (id, and optionally rev) edits that page; any other file creates a page,
titled by its front matter, else its first "# " heading, else its file name.
All files are checked first and committed together: a bad file stops the
import with nothing changed.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			res, err := r.Import(cmd.Context(), as[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, res)
			}
			fmt.Fprintf(a.stdout, "imported %s: %d created, %d updated, %d unchanged\n", as[0], res.Created, res.Updated, res.Unchanged)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
