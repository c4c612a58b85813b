package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) showCommand() *cobra.Command {
	var rev string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show PAGE [--rev REV] [--json]",
		Short: "Print a page (every version when it is conflicted)",
		Long: `Print a page: its title, id, revision and body, then the pages it links to
and the pages that link to it. A conflicted page prints every head's version,
clearly marked. --rev prints one revision of the page instead.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := r.FindPage(ctx, as[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("rev") {
				c, err := r.FindRevision(ctx, rev, p.ID)
				if err != nil {
					return err
				}
				v, _, err := r.RevisionVersion(ctx, c)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, versionToJSON(v))
				}
				w, done := a.pager()
				defer done()
				printVersion(newPrinter(w), v, "")
				return nil
			}
			v, err := r.View(ctx, p)
			if err != nil {
				return err
			}
			editing := editorsByPage(r)[v.ID.String()]
			if asJSON {
				return writeJSON(a.stdout, pageViewToJSON(v, editing))
			}
			w, done := a.pager()
			defer done()
			printPageView(newPrinter(w), v, editing)
			return nil
		},
	}
	cmd.Flags().StringVar(&rev, "rev", "", "show revision REV of the page")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printVersion(out *printer, v wiki.Version, label string) {
	title := out.bold(termtext.Line(v.Title))
	if v.Deleted {
		title += " " + out.dim("[deleted]")
	}
	if label != "" {
		out.Printf("%s %s\n", out.red(label), title)
	} else {
		out.Println(title)
	}
	out.Printf("%s\n", out.dim(fmt.Sprintf("rev %s  %s  %s", v.Rev, stamp(v.Time), authorLabel(v.Name, v.Author))))
	out.Println()
	printBody(out, v.Body)
}

// printBody prints a page body, ending with a line break.
func printBody(out *printer, body string) {
	out.Printf("%s", termtext.Text(body))
	if body != "" && !strings.HasSuffix(body, "\n") {
		out.Println()
	}
}

func authorLabel(name, author string) string {
	return termtext.Line(wiki.AuthorLabel(name, author))
}

// groupVersions groups the versions of a page's heads that have the same
// title, body and deleted state, in the order they first appear.
func groupVersions(vs []wiki.Version) [][]wiki.Version {
	var groups [][]wiki.Version
	for _, v := range vs {
		found := false
		for i, g := range groups {
			if g[0].Title == v.Title && g[0].Body == v.Body && g[0].Deleted == v.Deleted {
				groups[i], found = append(g, v), true
				break
			}
		}
		if !found {
			groups = append(groups, []wiki.Version{v})
		}
	}
	return groups
}

// printPageView prints a page, with the other replicas' editors open on
// it (editing).
func printPageView(out *printer, v *wiki.PageView, editing []editor) {
	out.Printf("%s\n", out.dim("page "+v.ID.String()))
	for _, e := range editing {
		out.Printf("%s\n", out.yellow(termtext.Line(fmt.Sprintf("being edited by %s since %s (%s)", e.Name, clock(e.Since), shortID(e.PeerID)))))
	}
	if v.Conflict {
		// Heads that agree are one version: print it once, naming the
		// other heads that hold it.
		groups := groupVersions(v.Versions)
		out.Printf("%s\n\n", out.red(fmt.Sprintf("CONFLICT: %d heads; resolve with 'peerwiki merge' or 'peerwiki resolve'", len(v.Versions))))
		for i, g := range groups {
			if i > 0 {
				out.Println()
			}
			printVersion(out, g[0], fmt.Sprintf("=== version %d of %d:", i+1, len(groups)))
			for _, same := range g[1:] {
				out.Printf("%s\n", out.dim(fmt.Sprintf("(the same in rev %s  %s  %s)", same.Rev, stamp(same.Time), authorLabel(same.Name, same.Author))))
			}
		}
	} else {
		title := out.bold(termtext.Line(v.Title))
		if v.Deleted {
			title += " " + out.dim("[deleted]")
		}
		out.Println(title)
		out.Printf("%s\n\n", out.dim(fmt.Sprintf("rev %s  updated %s", v.Rev, stamp(v.Updated))))
		printBody(out, v.Body)
	}
	if len(v.Links) > 0 {
		// Links to pages that do not exist are a wiki's red links: in
		// red, and said in words for a terminal without colour.
		missing := map[string]bool{}
		for _, l := range v.MissingLinks {
			missing[l] = true
		}
		var names []string
		for _, l := range v.Links {
			name := termtext.Line(l)
			if missing[l] {
				name = out.red(name + " (no page yet)")
			}
			names = append(names, name)
		}
		out.Printf("\n%s %s\n", out.dim("Links:"), strings.Join(names, ", "))
	}
	if len(v.Backlinks) > 0 {
		var names []string
		for _, b := range v.Backlinks {
			names = append(names, b.Title)
		}
		out.Printf("%s %s\n", out.dim("Linked from:"), termtext.Line(strings.Join(names, ", ")))
	}
}
