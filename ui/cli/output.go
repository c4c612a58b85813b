package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
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

// Times are written in UTC: in full (to the millisecond) in JSON and
// where one revision is shown, shorter in listings.
func stamp(t time.Time) string  { return string(appendStamp(make([]byte, 0, 24), t)) }
func second(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }
func minute(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }
func clock(t time.Time) string  { return t.UTC().Format("15:04") }

// appendStamp appends t as stamp writes it (wiki.TimeFormat, in UTC),
// digit by digit: time.Format was a third of the encoding of a page in
// `list --json` (two times a page).
func appendStamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, wiki.TimeFormat)
	}
	hour, min, sec := t.Clock()
	digits := func(b []byte, v, n int) []byte {
		for i := n - 1; i >= 0; i-- {
			b = append(b, 0)
		}
		for i := len(b) - 1; n > 0; i, n = i-1, n-1 {
			b[i] = byte('0' + v%10)
			v /= 10
		}
		return b
	}
	b = digits(b, year, 4)
	b = digits(append(b, '-'), int(month), 2)
	b = digits(append(b, '-'), day, 2)
	b = digits(append(b, 'T'), hour, 2)
	b = digits(append(b, ':'), min, 2)
	b = digits(append(b, ':'), sec, 2)
	b = digits(append(b, '.'), t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// The JSON shapes of the wiki's views, as list, show and log print them.
// Their field names are part of the command line's contract (DESIGN.md,
// "JSON shapes"): scripts rely on them. Ids and times become text here.

// pageJSON is a page in `list --json`, and the first fields of
// `show --json`.
type pageJSON struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Rev      string   `json:"rev"`
	Heads    []string `json:"heads"`
	Conflict bool     `json:"conflict"`
	Deleted  bool     `json:"deleted"`
	Policy   string   `json:"policy"`
	Updated  string   `json:"updated"`
	Created  string   `json:"created"`
	// Editing lists other replicas with the page open in an editor now.
	Editing []editorJSON `json:"editing,omitempty"`
}

type editorJSON struct {
	PeerID string `json:"peer_id"`
	Name   string `json:"name"`
	Since  string `json:"since"`
}

// versionJSON is a revision in `show --rev --json`, and one head of a
// conflicted page in `show --json`.
type versionJSON struct {
	Rev     string `json:"rev"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	Deleted bool   `json:"deleted"`
	Author  string `json:"author"`
	Name    string `json:"name"`
	Time    string `json:"time"`
}

type pageRefJSON struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// pageViewJSON is `show --json`.
type pageViewJSON struct {
	pageJSON
	Body         string        `json:"body"`
	Versions     []versionJSON `json:"versions,omitempty"`
	Links        []string      `json:"links"`
	Backlinks    []pageRefJSON `json:"backlinks"`
	MissingLinks []string      `json:"missing_links"`
}

// logEntryJSON is one revision in `log --json`.
type logEntryJSON struct {
	Rev     string   `json:"rev"`
	Parents []string `json:"parents"`
	Title   string   `json:"title"`
	Deleted bool     `json:"deleted"`
	Author  string   `json:"author"`
	Name    string   `json:"name"`
	Time    string   `json:"time"`
	Message string   `json:"message"`
	Auto    bool     `json:"auto"`
	Policy  string   `json:"policy,omitempty"`
	Head    bool     `json:"head"`
	Void    bool     `json:"void,omitempty"`
}

// conflictJSON is a conflicted page in `conflicts --json`.
type conflictJSON struct {
	ID      string             `json:"id"`
	Title   string             `json:"title"`
	Heads   []conflictHeadJSON `json:"heads"`
	Differs []string           `json:"differs"`
	Policy  string             `json:"policy"`
	Base    string             `json:"base"`
}

type conflictHeadJSON struct {
	Rev     string `json:"rev"`
	Title   string `json:"title"`
	Deleted bool   `json:"deleted"`
	Author  string `json:"author"`
	Name    string `json:"name"`
	Time    string `json:"time"`
}

func cidStrings(cs []cid.Cid) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

func pageToJSON(p wiki.PageInfo, editing []editor) pageJSON {
	out := pageJSON{ID: p.ID.String(), Title: p.Title, Rev: p.Rev.String(), Conflict: p.Conflict, Deleted: p.Deleted,
		Policy: p.Policy, Updated: stamp(p.Updated), Created: stamp(p.Created)}
	if len(p.Heads) == 1 && p.Heads[0].Equals(p.Rev) {
		out.Heads = []string{out.Rev} // most pages: not encoded twice
	} else {
		out.Heads = cidStrings(p.Heads)
	}
	for _, e := range editing {
		out.Editing = append(out.Editing, editorJSON{PeerID: e.PeerID, Name: e.Name, Since: stamp(e.Since)})
	}
	return out
}

// streamPagesJSON is `list --json` written one page at a time, as each
// gives them: the same bytes writeJSON prints for the whole array of
// pageToJSON's, without holding the list. Pages are encoded on another
// goroutine, in batches, while the store reads the next ones (two cores:
// 100,000 pages in 0.8 s instead of 1.0).
func streamPagesJSON(w io.Writer, each func(func(wiki.PageInfo) error) error, editing map[string][]editor) error {
	const batchSize = 64
	batches := make(chan []wiki.PageInfo, 4)
	failed := make(chan struct{}) // closed when writing failed: stop reading
	var writeErr error
	n := 0
	bw := bufio.NewWriterSize(w, 64<<10)
	written := make(chan struct{})
	go func() {
		defer close(written)
		var elem []byte
		for batch := range batches {
			for _, p := range batch {
				if writeErr != nil {
					break
				}
				var pj pageJSON
				if len(editing) == 0 {
					pj = pageToJSON(p, nil)
				} else {
					pj = pageToJSON(p, editing[p.ID.String()])
				}
				sep := ",\n  "
				if n == 0 {
					sep = "[\n  "
				}
				n++
				elem = appendPageElem(append(elem[:0], sep...), &pj)
				if _, writeErr = bw.Write(elem); writeErr != nil {
					close(failed)
				}
			}
		}
	}()
	errStop := errors.New("stop")
	send := func(batch []wiki.PageInfo) error {
		select {
		case batches <- batch:
			return nil
		case <-failed:
			return errStop
		}
	}
	var batch []wiki.PageInfo
	err := each(func(p wiki.PageInfo) error {
		batch = append(batch, p)
		if len(batch) < batchSize {
			return nil
		}
		full := batch
		batch = make([]wiki.PageInfo, 0, batchSize)
		return send(full)
	})
	if err == nil && len(batch) > 0 {
		err = send(batch)
	}
	close(batches)
	<-written
	if writeErr != nil {
		return writeErr
	}
	if err != nil {
		return err
	}
	if n == 0 {
		bw.WriteString("[]\n")
	} else {
		bw.WriteString("\n]\n")
	}
	return bw.Flush()
}

func versionToJSON(v wiki.Version) versionJSON {
	return versionJSON{Rev: v.Rev.String(), Title: v.Title, Body: v.Body, Deleted: v.Deleted,
		Author: v.Author, Name: v.Name, Time: stamp(v.Time)}
}

func pageViewToJSON(v *wiki.PageView, editing []editor) pageViewJSON {
	out := pageViewJSON{pageJSON: pageToJSON(v.PageInfo, editing), Body: v.Body, Links: v.Links,
		Backlinks: make([]pageRefJSON, 0, len(v.Backlinks)), MissingLinks: v.MissingLinks}
	for _, ver := range v.Versions {
		out.Versions = append(out.Versions, versionToJSON(ver))
	}
	for _, b := range v.Backlinks {
		out.Backlinks = append(out.Backlinks, pageRefJSON{ID: b.ID.String(), Title: b.Title})
	}
	return out
}

func conflictsToJSON(cs []wiki.Conflict) []conflictJSON {
	out := make([]conflictJSON, 0, len(cs))
	for _, c := range cs {
		j := conflictJSON{ID: c.ID.String(), Title: c.Title, Heads: make([]conflictHeadJSON, 0, len(c.Heads)),
			Differs: c.Differs, Policy: c.Policy}
		if c.Base.Defined() {
			j.Base = c.Base.String()
		}
		for _, h := range c.Heads {
			j.Heads = append(j.Heads, conflictHeadJSON{Rev: h.Rev.String(), Title: h.Title, Deleted: h.Deleted,
				Author: h.Author, Name: h.Name, Time: stamp(h.Time)})
		}
		out = append(out, j)
	}
	return out
}

func logToJSON(entries []wiki.LogEntry) []logEntryJSON {
	out := make([]logEntryJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, logEntryJSON{Rev: e.Rev.String(), Parents: cidStrings(e.Parents), Title: e.Title,
			Deleted: e.Deleted, Author: e.Author, Name: e.Name, Time: stamp(e.Time), Message: e.Message,
			Auto: e.Auto, Policy: e.Policy, Head: e.Head, Void: e.Void})
	}
	return out
}

// printPageList prints pages.
func printPageList(out *printer, pages []wiki.PageInfo) { printPageListEditing(out, pages, nil) }

// printPageListEditing prints pages, each with the other replicas'
// editors open on it (editing, by page id).
func printPageListEditing(out *printer, pages []wiki.PageInfo, editing map[string][]editor) {
	streamPageList(out, func(fn func(wiki.PageInfo) error) error {
		for _, p := range pages {
			if err := fn(p); err != nil {
				return err
			}
		}
		return nil
	}, editing)
}

// streamPageList prints the pages each gives, one line each as they come,
// with the other replicas' editors open on them (editing, by page id).
func streamPageList(out *printer, each func(func(wiki.PageInfo) error) error, editing map[string][]editor) error {
	bw := bufio.NewWriterSize(out.w, 16<<10)
	lines := &printer{w: bw, color: out.color}
	n := 0
	err := each(func(p wiki.PageInfo) error {
		n++
		mark := ""
		if p.Conflict {
			mark += " " + lines.red(fmt.Sprintf("[conflict: %d heads]", len(p.Heads)))
		}
		if p.Deleted {
			mark += " " + lines.dim("[deleted]")
		}
		id := p.ID.String()
		for _, e := range editing[id] {
			mark += " " + lines.yellow("[being edited by "+termtext.Line(e.Name)+"]")
		}
		lines.Printf("%s  %s  %s%s\n", lines.yellow(shortID(id)), lines.dim(minute(p.Updated)), termtext.Line(p.Title), mark)
		_, err := bw.Write(nil) // the first failed write, if any: a pager that quit stops the walk
		return err
	})
	if err == nil && n == 0 {
		lines.Println(lines.dim("(no pages yet: peerwiki new TITLE)"))
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, syscall.EPIPE) { // the reader (a pager) had read enough
		return nil
	}
	return err
}
