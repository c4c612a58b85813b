package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/history"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// registerCompletions makes shell completion offer page titles and ids
// where a command takes PAGE, and a page's revisions for --parent, --rev,
// --take and diff's REV_A REV_B. Completion reads the repo only: it never
// starts a node, and asks SQLite one or two questions.
func (a *app) registerCompletions(root *cobra.Command) {
	policies := []string{"manual", "merge", "union", "lww", "priority", "home", "default"}
	for _, c := range root.Commands() {
		switch c.Name() {
		case "edit", "show", "log", "rm", "merge", "resolve":
			c.ValidArgsFunction = a.completeArgs(1, nil)
		case "diff":
			c.ValidArgsFunction = a.completeArgs(3, a.revisionsOf)
		case "policy":
			c.ValidArgsFunction = func(cmd *cobra.Command, as []string, prefix string) ([]string, cobra.ShellCompDirective) {
				var out []string
				if len(as) == 0 {
					out = a.pageCandidates(cmd, prefix)
				}
				if len(as) < 2 {
					for _, p := range policies {
						if strings.HasPrefix(p, prefix) && (len(as) == 1 || p != "home" && p != "default") {
							out = append(out, p)
						}
					}
				}
				return out, cobra.ShellCompDirectiveNoFileComp
			}
		}
		for _, flag := range []string{"parent", "rev", "take"} {
			if c.Flags().Lookup(flag) != nil {
				c.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, as []string, prefix string) ([]string, cobra.ShellCompDirective) {
					return a.revisionsOf(cmd, prefix, as...), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
				})
			}
		}
	}
}

// completeArgs completes PAGE as the first argument and, up to n
// arguments, what more offers for the others.
func (a *app) completeArgs(n int, more func(cmd *cobra.Command, prefix string, as ...string) []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, as []string, prefix string) ([]string, cobra.ShellCompDirective) {
		switch {
		case len(as) == 0:
			return a.pageCandidates(cmd, prefix), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
		case len(as) < n:
			return more(cmd, prefix, as...), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// pageCandidates are the live pages' titles that start with prefix
// (case-insensitively), in natural order, each described by its id; and
// when prefix looks like a page id, the ids that start with it.
func (a *app) pageCandidates(cmd *cobra.Command, prefix string) []string {
	r, err := a.open()
	if err != nil {
		return nil
	}
	rows, err := r.Pages(cmd.Context())
	if err != nil {
		return nil
	}
	slices.SortStableFunc(rows, func(x, y history.PageRow) int { return wiki.CompareTitles(x.Title, y.Title) })
	var out []string
	seen := map[string]bool{}
	for _, p := range rows {
		if p.Deleted && p.Versions < 2 {
			continue
		}
		id := p.ID.String()
		// A title the terminal could not show as it is could not be typed back.
		if title := p.Title; termtext.Line(title) == title && !seen[title] && hasPrefixFold(title, prefix) {
			seen[title] = true
			out = append(out, title+"\tpage "+shortID(id))
		}
		if strings.HasPrefix(prefix, "bafy") && strings.HasPrefix(id, prefix) {
			out = append(out, id+"\t"+termtext.Line(p.Title))
		}
	}
	return out
}

// revisionsOf are the revisions, newest first, of the page named by the
// command's first argument whose ids start with prefix, each described
// by its time and title.
func (a *app) revisionsOf(cmd *cobra.Command, prefix string, as ...string) []string {
	if len(as) == 0 {
		return nil
	}
	r, err := a.open()
	if err != nil {
		return nil
	}
	p, err := r.FindPage(cmd.Context(), as[0])
	if err != nil {
		return nil
	}
	entries, err := r.Log(cmd.Context(), p.ID)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if rev := e.Rev.String(); strings.HasPrefix(rev, prefix) {
			desc := minute(e.Time) + " " + e.Title
			if e.Head {
				desc += " (head)"
			}
			out = append(out, rev+"\t"+termtext.Line(desc))
		}
	}
	return out
}

func hasPrefixFold(s, prefix string) bool {
	return strings.HasPrefix(strings.ToLower(s), strings.ToLower(prefix))
}
