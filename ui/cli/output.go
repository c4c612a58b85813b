package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// printer writes human output, with colour only on a terminal and never
// when NO_COLOR is set. Text from the wiki (titles, bodies, names,
// messages) comes from other members: it goes through termtext before it
// is printed, so that nothing in it acts on the terminal.
type printer struct {
	w     io.Writer
	color bool
}

func newPrinter(w io.Writer) *printer {
	p := &printer{w: w}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return p
	}
	switch w := w.(type) {
	case *os.File:
		p.color = isatty.IsTerminal(w.Fd())
	case interface{ terminal() bool }: // a pager on a terminal
		p.color = w.terminal()
	}
	return p
}

func (p *printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *printer) bold(s string) string   { return p.paint("1", s) }
func (p *printer) dim(s string) string    { return p.paint("2", s) }
func (p *printer) red(s string) string    { return p.paint("31", s) }
func (p *printer) green(s string) string  { return p.paint("32", s) }
func (p *printer) yellow(s string) string { return p.paint("33", s) }
func (p *printer) cyan(s string) string   { return p.paint("36", s) }

func (p *printer) Printf(format string, a ...any) { fmt.Fprintf(p.w, format, a...) }
func (p *printer) Println(a ...any)               { fmt.Fprintln(p.w, a...) }

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// plural is one or many, as n asks.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// pluralCount is n and a noun in the form n asks: "1 page", "3 pages".
func pluralCount(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

func shortID(s string) string { return wiki.ShortID(s) }

func printPageList(out *printer, pages []wiki.PageInfo) {
	if len(pages) == 0 {
		out.Println(out.dim("(no pages yet: peerwiki new TITLE)"))
		return
	}
	for _, p := range pages {
		mark := ""
		if p.Conflict {
			mark += " " + out.red(fmt.Sprintf("[conflict: %d heads]", len(p.Heads)))
		}
		if p.Deleted {
			mark += " " + out.dim("[deleted]")
		}
		for _, e := range p.Editing {
			mark += " " + out.yellow("[being edited by "+termtext.Line(e.Name)+"]")
		}
		out.Printf("%s  %s  %s%s\n", out.yellow(shortID(p.ID)), out.dim(p.Updated[:16]), termtext.Line(p.Title), mark)
	}
}
