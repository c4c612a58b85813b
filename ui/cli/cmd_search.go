package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
)

// searchHit is the JSON shape of one `search` result.
type searchHit struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Snippet string `json:"snippet"`
}

func (a *app) searchCommand() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "search QUERY [--limit N] [--json]",
		Short: "Full-text search of titles and bodies",
		Long: `Search the titles and bodies of every page (every head of a conflicted page).
Words match regardless of case and accents; "a phrase", prefix*, OR and
-exclude work as in SQLite full-text search. The most recently changed
pages come first; at most --limit of them (50 by default), and the
output says when there were more.`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			query := strings.Join(as, " ")
			if strings.TrimSpace(query) == "" {
				return usagef("empty search query")
			}
			if limit < 1 {
				return usagef("--limit must be at least 1")
			}
			// One more than asked, to know whether the limit cut the list.
			// Pages a large sync left for later are indexed first: work
			// that grows with the wiki (100,000 pages: 17 s), whose
			// garbage is collected as it goes.
			if n, err := r.ReplicationStore().SearchPending(cmd.Context()); err == nil && n > 0 {
				streamingGC()
			}
			var progress func(done, total int)
			if stderrIsTerminal(a.stderr) {
				progress = func(done, total int) { fmt.Fprintf(a.stderr, "\rindexing pages for search %d/%d", done, total) }
			}
			hits, err := r.SearchWithProgress(cmd.Context(), query, limit+1, progress)
			if progress != nil {
				fmt.Fprint(a.stderr, "\r\x1b[K")
			}
			if err != nil {
				return err
			}
			more := len(hits) > limit
			hits = hits[:min(len(hits), limit)]
			out := []searchHit{}
			for _, h := range hits {
				out = append(out, searchHit{ID: h.Page.String(), Title: h.Title, Snippet: strings.Join(strings.Fields(h.Snippet), " ")})
			}
			if asJSON {
				return writeJSON(a.stdout, out)
			}
			w, done := a.pager()
			defer done()
			p := newPrinter(w)
			if len(out) == 0 {
				p.Println(p.dim("no matches"))
			}
			for _, h := range out {
				p.Printf("%s  %s\n    %s\n", p.yellow(shortID(h.ID)), p.bold(termtext.Line(h.Title)), termtext.Line(h.Snippet))
			}
			if more {
				p.Println(p.dim(fmt.Sprintf("(stopped at %s: more pages match; --limit N shows more)", pluralCount(limit, "match", "matches"))))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many results")
	return cmd
}
