package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newCommand() *cobra.Command {
	var src bodySource
	var conf confirmFlags
	var msg string
	cmd := &cobra.Command{
		Use:   "new TITLE [--body TEXT | --file F | -]",
		Short: "Create a page; prints its id",
		Long: `Create a page titled TITLE and print its id. The body comes from --body,
--file, or standard input with "-"; on a terminal with none of them,
$EDITOR opens; otherwise the page starts empty.`,
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
			r, err := a.open()
			if err != nil {
				return err
			}
			if !given && interactive(a.stdin, a.stdout) {
				if body, err = editText("", as[0]); err != nil {
					return err
				}
			}
			id, err := r.Create(cmd.Context(), as[0], body, msg)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, id)
			return a.confirm(cmd, r, id, conf)
		},
	}
	src.register(cmd)
	conf.register(cmd)
	cmd.Flags().StringVarP(&msg, "message", "m", "", "a message describing the change")
	return cmd
}
