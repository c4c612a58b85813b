package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"peerwiki/wiki"
)

func (a *app) resolverCommand() *cobra.Command {
	var timeout time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "resolver [list | add PATTERN COMMAND [--timeout D] | rm PATTERN]",
		Short: "Programs this replica runs to resolve conflicts (like git merge drivers)",
		Long: `A resolver is a program this replica runs when a page whose title matches
PATTERN (a glob: "*", "Journal*", "Log ?") gains a conflict its policy
leaves for a person. COMMAND runs under sh -c with the base, ours and
theirs bodies as files $1 $2 $3, and prints the resolved body on standard
output; it becomes a resolution revision signed by this replica. A program
that fails, prints invalid text or outlives --timeout (default 10s; it is
killed) leaves the conflict for a person, with a log line.

Resolvers are this replica's own setting (resolvers.json in the repo); they
are never replicated, so no peer can make another replica run a program.
When several replicas resolve the same conflict to the same text, their
resolutions converge without a new conflict.

  peerwiki resolver add 'Journal*' 'cat "$2" "$3"'`,
		Args: args(cobra.MaximumNArgs(3)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			rs, err := r.Resolvers()
			if err != nil {
				return err
			}
			if len(as) == 0 || as[0] == "list" {
				if len(as) > 1 {
					return usagef("resolver list takes no arguments")
				}
				if asJSON {
					if rs == nil {
						rs = []wiki.Resolver{}
					}
					return writeJSON(a.stdout, rs)
				}
				if len(rs) == 0 {
					fmt.Fprintln(a.stdout, "no resolvers")
				}
				for _, x := range rs {
					t := x.Timeout
					if t == "" {
						t = wiki.DefaultResolverTimeout.String()
					}
					fmt.Fprintf(a.stdout, "%-20s %s  (timeout %s)\n", x.Pattern, x.Command, t)
				}
				return nil
			}
			switch as[0] {
			case "add":
				if len(as) != 3 {
					return usagef("resolver add takes PATTERN COMMAND")
				}
				x := wiki.Resolver{Pattern: as[1], Command: as[2]}
				if cmd.Flags().Changed("timeout") {
					x.Timeout = timeout.String()
				}
				var kept []wiki.Resolver
				for _, old := range rs {
					if old.Pattern != x.Pattern {
						kept = append(kept, old)
					}
				}
				return r.SetResolvers(append(kept, x))
			case "rm":
				if len(as) != 2 {
					return usagef("resolver rm takes PATTERN")
				}
				var kept []wiki.Resolver
				for _, old := range rs {
					if old.Pattern != as[1] {
						kept = append(kept, old)
					}
				}
				if len(kept) == len(rs) {
					return fmt.Errorf("no resolver for pattern %q", as[1])
				}
				return r.SetResolvers(kept)
			}
			return usagef("unknown resolver action %q (want list, add or rm)", as[0])
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", wiki.DefaultResolverTimeout, "kill the program after this long")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
