package cli

import (
	"fmt"
	"io"

	"peerwiki/ui/drafts"
	"peerwiki/ui/termtext"
)

// reportLeftDrafts tells w of the drafts that edits which ended without
// saving left in the repo (drafts.LeftBehind), and how to save each.
func reportLeftDrafts(w io.Writer, left []drafts.Left) {
	for _, l := range left {
		fmt.Fprintf(w, "peerwiki: note: %s\n", termtext.Line(l.Note()))
	}
}
