package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/history"
	"peerwiki/merge"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

func (a *app) diffCommand() *cobra.Command {
	var unified int
	cmd := &cobra.Command{
		Use:   "diff PAGE [REV_A [REV_B]]",
		Short: "Show a unified diff between two revisions of a page",
		Long: `Show what changed between two revisions of PAGE: the title and deleted state
when they differ, then a unified diff of the body.

With no revision: between the heads of a conflicted page (the latest head
against each other head), else what the last revision changed. With REV_A:
from REV_A to the page's head. With both: from REV_A to REV_B.`,
		Args: args(cobra.RangeArgs(1, 3)),
		RunE: func(cmd *cobra.Command, as []string) error {
			if unified < 0 {
				return usagef("--unified must not be negative")
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := r.FindPage(ctx, as[0])
			if err != nil {
				return err
			}
			pairs, err := diffPairs(ctx, r, p.ID, as[1:])
			if err != nil {
				return err
			}
			w, done := a.pager()
			defer done()
			out := newPrinter(w)
			for i, pair := range pairs {
				if i > 0 {
					out.Println()
				}
				if err := printDiff(ctx, out, r, pair[0], pair[1], unified); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&unified, "unified", "U", 3, "lines of context")
	return cmd
}

// diffPairs decides which revisions to compare; an undefined "from" means
// the empty page before the first revision.
func diffPairs(ctx context.Context, r *wiki.Repo, page cid.Cid, revs []string) ([][2]cid.Cid, error) {
	heads, err := r.Heads(ctx, page)
	if err != nil {
		return nil, err
	}
	var given []cid.Cid
	for _, ref := range revs {
		c, err := r.FindRevision(ctx, ref, page)
		if err != nil {
			return nil, err
		}
		given = append(given, c)
	}
	switch len(given) {
	case 2:
		return [][2]cid.Cid{{given[0], given[1]}}, nil
	case 1:
		return [][2]cid.Cid{{given[0], heads[0]}}, nil
	}
	if len(heads) > 1 {
		var out [][2]cid.Cid
		for _, h := range heads[1:] {
			out = append(out, [2]cid.Cid{h, heads[0]})
		}
		return out, nil
	}
	rev, err := r.Revision(ctx, heads[0])
	if err != nil {
		return nil, err
	}
	if len(rev.Parents) == 0 {
		return [][2]cid.Cid{{cid.Undef, heads[0]}}, nil
	}
	parent := rev.Parents[0].Cid
	if has, err := r.ReplicationStore().Has(ctx, parent); err == nil && !has {
		return nil, fmt.Errorf("%w: the revision before %s is not on this shallow replica; 'peerwiki sync --unshallow' fetches the history", history.ErrShallow, shortID(heads[0].String()))
	}
	return [][2]cid.Cid{{parent, heads[0]}}, nil
}

func printDiff(ctx context.Context, out *printer, r *wiki.Repo, from, to cid.Cid, context int) error {
	var a wiki.Version
	shortA, nameA := "", "/dev/null"
	if from.Defined() {
		var err error
		if a, _, err = r.RevisionVersion(ctx, from); err != nil {
			return err
		}
		shortA = shortID(from.String())
		nameA = "a/" + shortA
	}
	b, _, err := r.RevisionVersion(ctx, to)
	if err != nil {
		return err
	}
	out.Printf("%s\n", out.bold(fmt.Sprintf("diff %s %s", shortA, shortID(to.String()))))
	if a.Title != b.Title {
		out.Printf("title: %s → %s\n", quoteOrNone(a.Title), quoteOrNone(b.Title))
	}
	if a.Deleted != b.Deleted {
		out.Printf("deleted: %v → %v\n", a.Deleted, b.Deleted)
	}
	// Quoted whole, so that a CRLF line end stays one.
	text := termtext.Text(merge.Unified(a.Body, b.Body, nameA, "b/"+shortID(to.String()), context))
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case text == "":
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			out.Println(out.bold(line))
		case strings.HasPrefix(line, "+"):
			out.Println(out.green(line))
		case strings.HasPrefix(line, "-"):
			out.Println(out.red(line))
		case strings.HasPrefix(line, "@@"):
			out.Println(out.cyan(line))
		default:
			out.Println(line)
		}
	}
	return nil
}

// quoteOrNone shows a title in Go quotes, which also escape whatever could
// act on the terminal.
func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", s)
}
