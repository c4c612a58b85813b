package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) exportCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "export DIR [--force]",
		Short: "Write every page to DIR as a Markdown file",
		Long: `Write every live page to DIR as a Markdown file with front matter (title, id,
rev). 'peerwiki import DIR' reads such a folder back: titles and bodies
survive the round trip byte for byte. File names come from the titles,
shortened and made safe; the exact title is in the front matter.

DIR is created when missing and must be empty unless --force, which
replaces the files whose names the export uses. Symbolic links are never
followed: DIR must not be one, and with --force a link at a file's name is
replaced by the file. Each file is written whole (a temporary file, synced,
then renamed) or not at all.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			n, err := r.ExportWith(cmd.Context(), as[0], wiki.ExportOptions{Force: force})
			if errors.Is(err, wiki.ErrNotEmpty) {
				return fmt.Errorf("export: %s is not empty: export into a new or empty folder, or give --force to replace the files it writes there", as[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "exported %s to %s\n", pluralCount(n, "page", "pages"), as[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "write into a folder that is not empty, replacing files")
	return cmd
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
import with nothing changed.

Only regular files are read: symbolic links (to files or folders), named
pipes, sockets and devices are skipped, each named on standard error. A
title the wiki no longer accepts (a line break, a control character, over
512 bytes) is kept when the page already has it, else imported as the
nearest one it accepts, with a note on standard error.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			res, err := r.Import(cmd.Context(), as[0])
			for _, s := range res.Skipped {
				fmt.Fprintf(a.stderr, "peerwiki: skipped %s: %s\n", termtext.Line(s.File), s.Reason)
			}
			if err != nil {
				return err
			}
			for _, f := range res.Files {
				if f.Note != "" {
					fmt.Fprintf(a.stderr, "peerwiki: %s: %s\n", termtext.Line(f.File), termtext.Line(f.Note))
				}
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
