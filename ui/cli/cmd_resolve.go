package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"peerwiki/wiki"
)

func (a *app) resolveCommand() *cobra.Command {
	var src bodySource
	var conf confirmFlags
	var title, take, msg string
	cmd := &cobra.Command{
		Use:   "resolve PAGE [--title T] [--body TEXT | --file F | - | --take REV]",
		Short: "End a conflict: one revision whose parents are all heads",
		Long: `Resolve a conflicted page with one new revision whose parents are all of its
current heads, so nothing is lost from history. --take REV keeps that head's
version; --title and --body (or --file, or "-" for standard input) give the
resolved content; fields not given come from the latest head (or REV).`,
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
			hasTake, hasTitle := cmd.Flags().Changed("take"), cmd.Flags().Changed("title")
			if !hasTake && !hasTitle && !given {
				return usagef("say how to resolve: --take REV, --title, --body, --file or -")
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			p, err := r.FindPage(cmd.Context(), as[0])
			if err != nil {
				return err
			}
			res := wiki.Resolution{Msg: msg}
			if hasTake {
				if res.Take, err = r.FindRevision(cmd.Context(), take, p.ID); err != nil {
					return err
				}
			}
			if hasTitle {
				res.Title = &title
			}
			if given {
				res.Body = &body
			}
			a.prepareNotice(cmd, r, &conf)
			rev, err := r.Resolve(cmd.Context(), p.ID, res)
			if err != nil {
				return err
			}
			a.noticeCommits()
			fmt.Fprintln(a.stdout, rev)
			return a.confirm(cmd, r, rev, conf)
		},
	}
	src.register(cmd)
	conf.register(cmd)
	cmd.Flags().StringVar(&title, "title", "", "the resolved title")
	cmd.Flags().StringVar(&take, "take", "", "keep head REV's version")
	cmd.Flags().StringVarP(&msg, "message", "m", "", "a message describing the resolution")
	return cmd
}
