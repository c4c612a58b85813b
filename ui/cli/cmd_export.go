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
	var b bundleFlags
	cmd := &cobra.Command{
		Use:   "export DIR [--force] | export --car FILE [--since REV]... | export --git DIR",
		Short: "Write every page to DIR as a Markdown file (or the history as a CAR bundle or a git repository)",
		Long: `Write every live page to DIR as a Markdown file with front matter (title, id,
rev). 'peerwiki import DIR' reads such a folder back: titles and bodies
survive the round trip byte for byte. File names come from the titles,
shortened and made safe; the exact title is in the front matter.

DIR is created when missing and must be empty unless --force, which
replaces the files whose names the export uses. Symbolic links are never
followed: DIR must not be one, and with --force a link at a file's name is
replaced by the file. Each file is written whole (a temporary file, synced,
then renamed) or not at all.

--car FILE writes the wiki's blocks instead, as a CAR v1 bundle (the format
of IPFS and go-car; "-" for standard output): every revision and body, or
with --since only what is not reachable from the given revisions (another
replica's heads, from its 'list --all --json'). 'peerwiki import --car'
verifies and stores it in another replica: a USB stick can carry history
between machines that never meet.

--git DIR writes the history as a git repository: one commit per revision
(author, time, message), a page per file named by its title, merges as
merge commits, the heads of a conflict off main as branches "conflict/...".
Run again, it adds only the revisions stored since.`,
		Args: args(cobra.RangeArgs(0, 1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			if done, err := a.exportBundle(cmd, b, as); done {
				return err
			}
			if len(as) != 1 {
				return usagef("export needs DIR, --car FILE or --git DIR")
			}
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
	b.exportFlags(cmd)
	return cmd
}

func (a *app) importCommand() *cobra.Command {
	var asJSON bool
	var car string
	var batch int
	cmd := &cobra.Command{
		Use:   "import DIR [--batch N] | import --car FILE",
		Short: "Read Markdown files from DIR (or a CAR bundle) into the wiki",
		Long: `Read every *.md file under DIR. A file whose front matter names a page of this
wiki (id, and optionally rev) edits that page; any other file creates a page,
titled by its front matter, else its first "# " heading, else its file name.
All files are checked first and committed together: a bad file stops the
import with nothing changed.

--batch N commits every N files instead, for an import too large to hold
in memory at once (one transaction keeps every new block in memory until
it commits: about 1.2 GB for 100,000 pages of 4 KB; --batch 1000 keeps
that under 150 MB, and lets other writers in between batches). Every
file is still read and checked before anything is written, so a bad file
still changes nothing; but an error while writing (a full disk, a file
changed meanwhile) keeps the batches already committed, and says how
many files they held: importing those again would make second pages of
the files without a page id in their front matter.

Only regular files are read: symbolic links (to files or folders), named
pipes, sockets and devices are skipped, each named on standard error. A
title the wiki no longer accepts (a line break, a control character, over
512 bytes) is kept when the page already has it, else imported as the
nearest one it accepts, with a note on standard error.

--car FILE reads a CAR v1 bundle ('peerwiki export --car'; "-" for standard
input) instead: every block is verified as a sync verifies what a peer
sends (its CID, the signature, the wiki, automatic merges recomputed) and
the new ones are stored, in one transaction: a bad block anywhere refuses
the bundle with nothing stored, whatever its size. The
replica must exist: 'peerwiki join CODE --no-sync' makes one offline.`,
		Args: args(cobra.RangeArgs(0, 1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			if car != "" {
				if len(as) > 0 {
					return usagef("import takes DIR or --car FILE, not both")
				}
				return a.importCAR(cmd, car, asJSON)
			}
			if len(as) != 1 {
				return usagef("import needs DIR or --car FILE")
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			if batch < 0 {
				return usagef("--batch must be 0 (one transaction) or more")
			}
			if batch > 0 {
				importGC()
			}
			res, err := r.ImportBatched(cmd.Context(), as[0], batch)
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
	cmd.Flags().StringVar(&car, "car", "", "read a CAR v1 bundle instead of Markdown files")
	cmd.Flags().IntVar(&batch, "batch", 0, "commit every N files (bounded memory; see above), 0: all in one transaction")
	return cmd
}
