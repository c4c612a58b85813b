package cli

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) editCommand() *cobra.Command {
	var src bodySource
	var conf confirmFlags
	var title, msg, parent string
	cmd := &cobra.Command{
		Use:   "edit PAGE [--title T] [--body TEXT | --file F | -] [-m MSG] [--parent REV]",
		Short: "Make a new revision of a page (rename with --title)",
		Long: `Make a new revision of PAGE with a new title (--title: that is how pages are
renamed) and/or body (--body, --file, or "-" for standard input). On a
terminal with neither, $EDITOR opens on the body. Prints the new revision.

A page with several heads (a conflict) is not edited until they are resolved
('peerwiki merge' or 'peerwiki resolve'), unless --parent picks the revision
to build on. --parent may name any revision of the page: building on an old
one creates a divergent head, as an offline replica would. Editing a deleted
page restores it.`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, as []string) error {
			as, dash, err := dashArg(as, 1)
			if err != nil {
				return err
			}
			body, given, err := src.read(cmd, a.stdin, dash)
			if err != nil {
				return err
			}
			if !given && !cmd.Flags().Changed("title") && !interactive(a.stdin, a.stdout) {
				return usagef("nothing to change: give --title, --body, --file or - (or run on a terminal to use $EDITOR)")
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			p, err := r.FindPage(cmd.Context(), as[0])
			if err != nil {
				return err
			}
			e := wiki.Edit{Msg: msg}
			if cmd.Flags().Changed("parent") {
				if e.Parent, err = r.FindRevision(cmd.Context(), parent, p.ID); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("title") {
				e.Title = &title
			}
			if given {
				e.Body = &body
			}
			if !given && e.Title == nil {
				current, err := a.bodyToEdit(cmd, r, p.ID, e.Parent)
				if err != nil {
					return err
				}
				// Presence: advisory, never a lock.
				for _, other := range presenceByPage(r)[p.ID.String()] {
					fmt.Fprintf(a.stderr, "peerwiki: note: %s has been editing this page since %s; your edits may conflict\n", termtext.Line(other.Name), other.Since[11:16])
				}
				done, _ := p2p.StartEditing(r.Dir, p.ID.String())
				edited, err := editText(current, p.Title)
				done()
				if err != nil {
					return err
				}
				e.Body = &edited
			}
			rev, err := r.Edit(cmd.Context(), p.ID, e)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, rev)
			return a.confirm(cmd, r, rev, conf)
		},
	}
	src.register(cmd)
	conf.register(cmd)
	cmd.Flags().StringVar(&title, "title", "", "new title (renames the page)")
	cmd.Flags().StringVarP(&msg, "message", "m", "", "a message describing the change")
	cmd.Flags().StringVar(&parent, "parent", "", "build on revision REV instead of the head")
	return cmd
}

// bodyToEdit is the text $EDITOR starts from: the parent's body.
func (a *app) bodyToEdit(cmd *cobra.Command, r *wiki.Repo, page, parent cid.Cid) (string, error) {
	if !parent.Defined() {
		heads, err := r.CurrentHeads(cmd.Context(), page)
		if err != nil {
			return "", err
		}
		parent = heads[0]
	}
	v, _, err := r.RevisionVersion(cmd.Context(), parent)
	return v.Body, err
}

func (a *app) rmCommand() *cobra.Command {
	var msg string
	cmd := &cobra.Command{
		Use:   "rm PAGE",
		Short: "Delete a page (a tombstone revision; history is kept)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			p, err := r.FindPage(cmd.Context(), as[0])
			if err != nil {
				return err
			}
			rev, err := r.Delete(cmd.Context(), p.ID, msg)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, rev)
			return nil
		},
	}
	cmd.Flags().StringVarP(&msg, "message", "m", "", "a message describing the change")
	return cmd
}
