package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/history"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) policyCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "policy [PAGE] [manual|merge|union|lww|home[:PEERID]|priority|default]",
		Short: "Show or set the conflict policy of the wiki or of a page",
		Long: `Show or set how divergent heads are reconciled. Policies are replicated data:
the wiki-wide default and each page's override travel to every replica.

  policy                 the wiki's default policy
  policy NAME            set the wiki's default (then applied to current conflicts)
  policy PAGE            the policy of PAGE, and where it comes from
  policy PAGE NAME       set PAGE's override; NAME "default" follows the wiki again

manual  heads stay until a person resolves them (the default)
merge   three-way merge of title, body and deleted; a real conflict stays
union   like merge, but conflicting lines keep both sides
lww     last writer wins (by time, then author); the others stay in history
priority the edits of the replica highest in the wiki's priority list
        ('peerwiki priority') win; lww among equals. The list in force when
        the policy is set travels with it.
home:PEERID   (a page only) the edits of replica PEERID win any conflict on
        the page, as if all its writes went through that one leader; the
        others' edits stay in history. "home" alone names this replica.

One argument that is a policy name sets the wiki's default; to show a page
titled like a policy, name it by its id.`,
		Args: args(cobra.MaximumNArgs(2)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			if len(as) == 2 {
				if as[1] == "home" {
					as[1] = wiki.HomePrefix + r.ID.ID.String()
				}
				if as[1] == "priority" {
					list, err := r.PriorityList(cmd.Context())
					if err != nil {
						return err
					}
					if len(list) == 0 {
						return fmt.Errorf("the wiki has no replica priority yet: peerwiki priority PEERID...")
					}
					as[1] = wiki.PriorityPrefix + strings.Join(list, ",")
				}
				if as[1] != "default" {
					if _, err := wiki.CheckPagePolicy(as[1]); err != nil {
						if !strings.Contains(as[1], ":") {
							return unknownPolicy(as[1])
						}
						return err
					}
				}
			}
			ctx := cmd.Context()
			out := newPrinter(a.stdout)
			switch {
			case len(as) == 0:
				p, err := r.WikiPolicy(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, map[string]string{"wiki": string(p)})
				}
				out.Println(termtext.Line(string(p)))
				return nil
			case len(as) == 1:
				if as[0] == "home" || strings.HasPrefix(as[0], wiki.HomePrefix) {
					return usagef("home is a page's policy: peerwiki policy PAGE home[:PEERID]")
				}
				if as[0] == "priority" {
					list, err := r.PriorityList(ctx)
					if err != nil {
						return err
					}
					if len(list) == 0 {
						return fmt.Errorf("the wiki has no replica priority yet: peerwiki priority PEERID...")
					}
					as[0] = wiki.PriorityPrefix + strings.Join(list, ",")
				}
				if p, err := wiki.CheckPagePolicy(as[0]); err == nil {
					before, err := r.ConflictedPages(ctx)
					if err != nil {
						return err
					}
					if _, err := r.SetWikiPolicy(ctx, p); err != nil {
						return err
					}
					out.Printf("wiki policy: %s\n", p)
					return printSettled(ctx, out, r, before, nil)
				}
				page, err := r.FindPage(ctx, as[0])
				if errors.Is(err, wiki.ErrNotFound) && !strings.Contains(as[0], ":") {
					return unknownPolicy(as[0])
				}
				if err != nil {
					return err
				}
				pp, err := r.PolicyOf(ctx, page.ID)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, pp)
				}
				if pp.Override == "" {
					out.Printf("%s (the wiki's)\n", termtext.Line(pp.Policy))
				} else {
					out.Printf("%s (this page's; the wiki's is %s)\n", termtext.Line(pp.Policy), termtext.Line(pp.Wiki))
				}
				return nil
			}
			page, err := r.FindPage(ctx, as[0])
			if err != nil {
				return err
			}
			name := as[1]
			if name == "default" {
				name = ""
			}
			pp, err := r.SetPagePolicy(ctx, page.ID, name)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, pp)
			}
			out.Printf("%s: %s\n", termtext.Line(page.Title), termtext.Line(pp.Policy))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// unknownPolicy is the error for a name that is no policy (and, where a
// page could be meant, no page's title either).
func unknownPolicy(name string) error {
	return fmt.Errorf("unknown policy %s (manual, merge, union, lww, priority, home)", name)
}

// printSettled says what applying policies did to the pages that were
// in conflict before (before): which are settled now, and which are left
// for a person, with the policy that left each one. only, when given,
// limits both to those pages.
func printSettled(ctx context.Context, out *printer, r *wiki.Repo, before []history.PageRow, only []cid.Cid) error {
	cs, err := r.Conflicts(ctx)
	if err != nil {
		return err
	}
	var settled, left int
	for _, b := range before {
		if (only == nil || slices.ContainsFunc(only, b.ID.Equals)) && !slices.ContainsFunc(cs, func(c wiki.Conflict) bool { return c.ID.Equals(b.ID) }) {
			out.Printf("%s %s  %s\n", out.green("merged  "), shortID(b.ID.String()), termtext.Line(b.Title))
			settled++
		}
	}
	for _, c := range cs {
		if only == nil || slices.ContainsFunc(only, c.ID.Equals) {
			out.Printf("%s %s  %s (policy %s): resolve with 'peerwiki merge' or 'peerwiki resolve'\n",
				out.red("conflict"), shortID(c.ID.String()), termtext.Line(c.Title), termtext.Line(c.Policy))
			left++
		}
	}
	if settled == 0 && left == 0 {
		out.Println("no conflicts")
	} else {
		out.Printf("settled %s; %s left for a person\n", pluralCount(settled, "conflict", "conflicts"), pluralCount(left, "conflict", "conflicts"))
	}
	return nil
}
