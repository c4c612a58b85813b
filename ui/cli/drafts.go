package cli

import (
	"fmt"
	"io"
	"strings"

	"peerwiki/ui/drafts"
	"peerwiki/ui/termtext"
)

// reportLeftDrafts tells w of the drafts that edits which ended without
// saving left in the repo (drafts.LeftBehind), and how to save each.
func reportLeftDrafts(w io.Writer, left []drafts.Left) {
	for _, l := range left {
		how := "'peerwiki new " + shellQuote(l.Title) + " --file " + shellQuote(l.Path) + "' saves it"
		if l.Page != "" {
			how = "'peerwiki edit " + shellQuote(l.Page) + " --file " + shellQuote(l.Path) + "' saves it"
		}
		fmt.Fprintf(w, "peerwiki: note: unsaved text of %q from an edit begun %s is kept in %s: %s; delete the file to drop it\n",
			termtext.Line(l.Title), l.Began.Local().Format("2006-01-02 15:04"), termtext.Line(l.Path), termtext.Line(how))
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c == '/' || c == '.' || c == '-' || c == '_' || c == ':' || c == '+' || c == '=' ||
			c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
