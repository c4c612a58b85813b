package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/ui/drafts"
	"peerwiki/wiki"
)

func (a *app) newCommand() *cobra.Command {
	var src bodySource
	var conf confirmFlags
	var msg string
	var duplicate bool
	cmd := &cobra.Command{
		Use:   "new TITLE [--body TEXT | --file F | -] [--duplicate]",
		Short: "Create a page; prints its id",
		Long: `Create a page titled TITLE and print its id. The body comes from --body,
--file, or standard input with "-"; on a terminal with none of them,
$EDITOR opens; otherwise the page starts empty.

A page is its id, not its title, so two pages may have the same title (two
replicas can make them without knowing of each other). When a page titled
TITLE exists, new refuses and names it, unless --duplicate asks for a
second page with that title.`,
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
			r, err := a.open()
			if err != nil {
				return err
			}
			if !duplicate {
				if err := refuseTakenTitle(cmd, r, as[0]); err != nil {
					return err
				}
			}
			var d *drafts.Draft
			if !given && interactive(a.stdin, a.stdout) {
				if body, d, err = editText(a.stderr, r, "", "", as[0]); err != nil {
					return err
				}
				// A page of that title may have arrived from a peer while
				// the editor was open.
				if !duplicate {
					if err := refuseTakenTitle(cmd, r, as[0]); err != nil {
						return d.Keep(err, "'peerwiki edit' that page with --file "+d.Path+", or give --duplicate")
					}
				}
			}
			a.prepareNotice(cmd, r, &conf)
			id, err := r.Create(cmd.Context(), as[0], body, msg)
			if err != nil && d != nil {
				return d.Keep(err, "'peerwiki new TITLE --file "+d.Path+"' tries again")
			} else if err != nil {
				return err
			}
			d.Discard()
			drafts.DropSaved(r.Dir, src.file)
			a.noticeCommits()
			fmt.Fprintln(a.stdout, id)
			return a.confirm(cmd, r, id, conf)
		},
	}
	src.register(cmd)
	conf.register(cmd)
	cmd.Flags().StringVarP(&msg, "message", "m", "", "a message describing the change")
	cmd.Flags().BoolVar(&duplicate, "duplicate", false, "make the page even when a page with this title exists")
	return cmd
}

// refuseTakenTitle is new's error when a live page has the title already.
func refuseTakenTitle(cmd *cobra.Command, r *wiki.Repo, title string) error {
	taken, err := r.LivePagesTitled(cmd.Context(), title)
	if err != nil || len(taken) == 0 {
		return err
	}
	var ids []string
	for _, p := range taken {
		ids = append(ids, p.ID.String())
	}
	what := fmt.Sprintf("a page titled %q exists: %s", taken[0].Title, ids[0])
	if len(taken) > 1 {
		what = fmt.Sprintf("%d pages titled %q exist: %s", len(taken), taken[0].Title, strings.Join(ids, ", "))
	}
	return fmt.Errorf("%s; edit it ('peerwiki edit %s'), or give --duplicate to make another page with this title", what, shortID(ids[0]))
}
