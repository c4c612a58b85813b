package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/history"
	"peerwiki/ui/drafts"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) editCommand() *cobra.Command {
	var src bodySource
	var conf confirmFlags
	var title, msg, parent string
	var updateLinks bool
	cmd := &cobra.Command{
		Use:   "edit PAGE [--title T [--update-links]] [--body TEXT | --file F | -] [-m MSG] [--parent REV]",
		Short: "Make a new revision of a page (rename with --title)",
		Long: `Make a new revision of PAGE with a new title (--title: that is how pages are
renamed) and/or body (--body, --file, or "-" for standard input). On a
terminal with neither, $EDITOR opens on the body. Prints the new revision.

An edit made in $EDITOR builds on the revision the editor opened: when
another edit of the page arrives meanwhile (from a peer, or another
command), the page then has both as heads, for its policy or for
'peerwiki merge', and edit says so. When the editor fails, or what it
wrote cannot be saved, the text is kept and the error says where. The
editor's text lives in the repo's drafts/ until it is saved: if the command
is killed or the machine goes down meanwhile, the next edit or new in
$EDITOR says where the text is and how to save it ('edit PAGE --file
PATH', which then removes the draft).

A page with several heads (a conflict) is not edited until they are resolved
('peerwiki merge' or 'peerwiki resolve'), unless --parent picks the revision
to build on. --parent may name any revision of the page: building on an old
one creates a divergent head, as an offline replica would. Editing a deleted
page restores it.

Links are by title: after a rename, [[Old title]] links lead nowhere. A
rename says how many pages link to the old title; --update-links makes
them link to the new one (one revision of each linking page; pages in
conflict are skipped and named). --update-links alone does it for the
page's latest rename.`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, as []string) error {
			onePageWrite()
			as, dash, err := dashArg(as, 1)
			if err != nil {
				return err
			}
			body, given, err := src.read(cmd, a.stdin, dash)
			if err != nil {
				return err
			}
			linksOnly := updateLinks && !given && !cmd.Flags().Changed("title")
			if updateLinks && given && !cmd.Flags().Changed("title") {
				return usagef("--update-links goes with --title, or alone (for the page's latest rename)")
			}
			if !given && !cmd.Flags().Changed("title") && !updateLinks && !interactive(a.stdin, a.stdout) {
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
			if linksOnly {
				return a.updateLinksAfterRename(cmd, r, p)
			}
			e := wiki.Edit{Msg: msg}
			if cmd.Flags().Changed("parent") {
				if e.Parent, err = r.FindRevision(cmd.Context(), parent, p.ID); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("title") {
				e.Title = &title
				if updateLinks {
					// Before the rename, not after it.
					if err := wiki.CheckLinkTitle(title); err != nil {
						return err
					}
				}
			}
			if given {
				e.Body = &body
			}
			var d *drafts.Draft
			if !given && e.Title == nil {
				current, base, err := a.bodyToEdit(cmd, r, p.ID, e.Parent)
				if err != nil {
					return err
				}
				// The edit builds on the revision the editor opened: one a
				// peer made meanwhile (a serve receives them) becomes a
				// second head beside it, for the page's policy or a person
				// to merge, instead of being overwritten by text that never
				// saw it.
				e.Parent = base
				// Presence: advisory, never a lock.
				for _, other := range editorsByPage(r)[p.ID.String()] {
					fmt.Fprintf(a.stderr, "peerwiki: note: %s has been editing this page since %s; your edits may conflict\n", termtext.Line(other.Name), clock(other.Since))
				}
				done := editingVia(nodeAPI(r), r)(p.ID)
				edited, dr, err := editText(a.stderr, r, p.ID.String(), current, p.Title)
				done()
				if err != nil {
					return err
				}
				d = dr
				e.Body = &edited
			}
			oldTitle := p.Title
			if e.Parent.Defined() {
				if v, _, err := r.RevisionVersion(cmd.Context(), e.Parent); err == nil {
					oldTitle = v.Title
				}
			}
			a.prepareNotice(cmd, r, &conf)
			rev, err := r.Edit(cmd.Context(), p.ID, e)
			if err != nil && d != nil && !errors.Is(err, wiki.ErrNoChange) {
				return d.Keep(err, "'peerwiki edit "+p.ID.String()+" --file "+d.Path+"' tries again")
			}
			d.Discard()
			if err != nil {
				return err
			}
			drafts.DropSaved(r.Dir, src.file)
			a.noticeCommits()
			fmt.Fprintln(a.stdout, rev)
			if d != nil {
				if row, err := r.Page(cmd.Context(), p.ID); err == nil && row.Versions > 1 {
					fmt.Fprintf(a.stderr, "peerwiki: note: the page changed while you edited: it has %d heads now (see 'peerwiki merge %s')\n", row.Heads, p.ID)
				}
			}
			if e.Title != nil && wiki.NormTitle(oldTitle) != wiki.NormTitle(title) {
				if err := a.linksAfterRename(cmd, r, p.ID, oldTitle, title, updateLinks); err != nil {
					return err
				}
			}
			return a.confirm(cmd, r, rev, conf)
		},
	}
	src.register(cmd)
	conf.register(cmd)
	cmd.Flags().StringVar(&title, "title", "", "new title (renames the page)")
	cmd.Flags().BoolVar(&updateLinks, "update-links", false, "make the pages that link to the old title link to the new one")
	cmd.Flags().StringVarP(&msg, "message", "m", "", "a message describing the change")
	cmd.Flags().StringVar(&parent, "parent", "", "build on revision REV instead of the head")
	return cmd
}

// bodyToEdit is the text $EDITOR starts from, the parent's body, and
// that parent (the page's head when none is given).
func (a *app) bodyToEdit(cmd *cobra.Command, r *wiki.Repo, page, parent cid.Cid) (string, cid.Cid, error) {
	if !parent.Defined() {
		heads, err := r.CurrentHeads(cmd.Context(), page)
		if err != nil {
			return "", cid.Undef, err
		}
		parent = heads[0]
	}
	v, _, err := r.RevisionVersion(cmd.Context(), parent)
	return v.Body, parent, err
}

func (a *app) rmCommand() *cobra.Command {
	var msg string
	cmd := &cobra.Command{
		Use:   "rm PAGE",
		Short: "Delete a page (a tombstone revision; history is kept)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			onePageWrite()
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

// linksAfterRename, after page was renamed from old to title, makes the
// pages linking to old link to title (update), or says how many there are
// and how to do it.
func (a *app) linksAfterRename(cmd *cobra.Command, r *wiki.Repo, page cid.Cid, old, title string, update bool) error {
	ctx := cmd.Context()
	if update {
		res, err := r.UpdateLinks(ctx, page, old, title)
		if err != nil {
			return err
		}
		printLinkUpdate(a.stderr, res, old, title, page)
		return nil
	}
	if still, err := r.LivePagesTitled(ctx, old); err != nil || len(still) > 0 {
		return err // another page has the old title: the links lead there
	}
	refs, err := r.LinksTo(ctx, old, page)
	if err != nil || len(refs) == 0 {
		return err
	}
	fmt.Fprintf(a.stderr, "peerwiki: note: %s to %q (%s), which no page has now; 'peerwiki edit %s --update-links' makes %s to %q\n",
		pluralCount(len(refs), "page links", "pages link"), old, refTitles(refs), shortID(page.String()),
		plural(len(refs), "it link", "them link"), title)
	return nil
}

// updateLinksAfterRename is `edit PAGE --update-links` alone: the pages
// linking to the page's title before its latest rename link to its title.
func (a *app) updateLinksAfterRename(cmd *cobra.Command, r *wiki.Repo, p history.PageRow) error {
	old, ok, err := r.RenamedFrom(cmd.Context(), p.ID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("page %q was never renamed: no links to update", p.Title)
	}
	res, err := r.UpdateLinks(cmd.Context(), p.ID, old, p.Title)
	if err != nil {
		return err
	}
	printLinkUpdate(a.stdout, res, old, p.Title, p.ID)
	return nil
}

func printLinkUpdate(w io.Writer, res wiki.LinkUpdate, old, title string, page cid.Cid) {
	if len(res.Updated) == 0 && len(res.Skipped) == 0 {
		fmt.Fprintf(w, "no page links to %q\n", old)
	}
	if len(res.Updated) > 0 {
		fmt.Fprintf(w, "links to %q now lead to %q in %s: %s\n", old, title,
			pluralCount(len(res.Updated), "page", "pages"), refTitles(res.Updated))
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(w, "not updated, in conflict: %s (resolve, then 'peerwiki edit %s --update-links')\n", refTitles(res.Skipped), shortID(page.String()))
	}
}

// refTitles names pages for a line of output: the first few titles,
// quoted for the terminal, and how many more.
func refTitles(refs []wiki.PageRef) string {
	const most = 5
	var ts []string
	for _, r := range refs[:min(len(refs), most)] {
		ts = append(ts, termtext.Line(r.Title))
	}
	if len(refs) > most {
		ts = append(ts, fmt.Sprintf("and %d more", len(refs)-most))
	}
	return strings.Join(ts, ", ")
}
