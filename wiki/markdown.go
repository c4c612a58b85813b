package wiki

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"peerwiki/history"
)

// A Markdown file of an export: front matter, then the body byte for byte.
//
//	---
//	title: "The title"
//	id: bafy…        (the page id; import edits that page)
//	rev: bafy…       (the revision exported; import builds on it)
//	---
//	body…
//
// Titles are written as JSON strings, which YAML reads the same, so any
// title survives the round trip: a line break or a control character is
// escaped, and the title's length is not the file name's (exportName).
// Files without front matter are imported as new pages titled by their
// first "# " heading, else by their file name.

// MarkdownFile is one page of an export.
type MarkdownFile struct {
	Title string
	ID    string
	Rev   string
	Body  string
}

// Encode renders the file.
func (f MarkdownFile) Encode() []byte {
	var b bytes.Buffer
	t, _ := json.Marshal(f.Title)
	b.WriteString("---\ntitle: ")
	b.Write(t)
	b.WriteString("\n")
	if f.ID != "" {
		b.WriteString("id: " + f.ID + "\n")
	}
	if f.Rev != "" {
		b.WriteString("rev: " + f.Rev + "\n")
	}
	b.WriteString("---\n")
	b.WriteString(f.Body)
	return b.Bytes()
}

// ParseMarkdown reads a file written by Encode, or plain Markdown. The
// title is as the file has it: whether the wiki takes it is the import's
// question (importTitle), since a page may keep a title stored before
// titles were checked.
func ParseMarkdown(name string, data []byte) (MarkdownFile, error) {
	if !utf8.Valid(data) {
		return MarkdownFile{}, fmt.Errorf("%w: not valid UTF-8 text", ErrInvalid)
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	var f MarkdownFile
	if rest, ok := strings.CutPrefix(text, "---\n"); ok {
		end := strings.Index(rest, "\n---\n")
		if end < 0 && strings.HasSuffix(rest, "\n---") {
			end = len(rest) - 4
		}
		if end < 0 {
			return f, fmt.Errorf("%w: unterminated front matter", ErrInvalid)
		}
		for _, line := range strings.Split(rest[:end], "\n") {
			key, val, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			val = strings.TrimSpace(val)
			switch strings.TrimSpace(key) {
			case "title":
				if strings.HasPrefix(val, `"`) {
					if err := json.Unmarshal([]byte(val), &f.Title); err != nil {
						return f, fmt.Errorf("%w: title: %v", ErrInvalid, err)
					}
				} else {
					f.Title = strings.Trim(val, `'`)
				}
			case "id":
				f.ID = val
			case "rev":
				f.Rev = val
			}
		}
		f.Body = strings.TrimPrefix(rest[end:], "\n---")
		f.Body = strings.TrimPrefix(f.Body, "\n")
	} else {
		f.Body = text
	}
	if err := CheckBody(f.Body); err != nil {
		return f, err
	}
	if strings.TrimSpace(f.Title) == "" {
		f.Title = ""
		for _, line := range strings.SplitN(f.Body, "\n", 50) {
			if h, ok := strings.CutPrefix(line, "# "); ok && strings.TrimSpace(h) != "" {
				f.Title = strings.TrimSpace(h)
				break
			}
		}
	}
	if f.Title == "" {
		f.Title = fileTitle(name)
	}
	// The title, id and rev are cut out of the file's text: copied, or
	// whatever keeps one (an import's result lists each file's page id)
	// keeps the whole file. An import of 24,000 edited pages held all
	// their text to its end, 357 MB resident with --batch 1000.
	f.Title, f.ID, f.Rev = strings.Clone(f.Title), strings.Clone(f.ID), strings.Clone(f.Rev)
	return f, nil
}

// fileTitle is the title a file name gives: its name without extension.
func fileTitle(name string) string {
	return strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
}

// Slug turns a title into a file name stem: lower-case letters and digits
// joined by dashes, at most about 80 bytes whatever the title's length.
func Slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range title {
		r = unicode.ToLower(r)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() > 80 {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		s = "page"
	}
	return s
}

// exportName is the file name of a page in an export: its title's slug,
// made unique among used (which it extends) with the revision's id. It is
// bounded and safe on any file system whatever the title holds; the exact
// title is in the front matter.
func exportName(title, rev string, used map[string]bool) string {
	stem := Slug(title)
	name := stem + ".md"
	for n := 0; used[name]; n++ {
		suffix := strings.TrimPrefix(rev, "bafyrei")
		suffix = suffix[:min(len(suffix), 9)]
		if n > 0 {
			suffix += fmt.Sprintf("-%d", n)
		}
		name = stem + "-" + suffix + ".md"
	}
	used[name] = true
	return name
}

// importTitle is the title an imported file's page gets, and a note when
// it is not the file's. The file's title is kept exactly when the store
// takes it: it passes history.CheckTitle, or it is the title of a revision
// the import builds on (a title stored before titles were checked, which
// the page may keep). Else it becomes the nearest title the store takes:
// line breaks and tabs as spaces, other control characters dropped, cut
// to history.MaxTitleLen; else the file's name.
func importTitle(title, file string, parents []*history.Revision) (string, string) {
	if history.CheckTitle(title) == nil {
		return title, ""
	}
	for _, p := range parents {
		if p.Title == title {
			return title, ""
		}
	}
	why := strings.TrimPrefix(history.CheckTitle(title).Error(), history.ErrBadTitle.Error()+": ")
	var b strings.Builder
	for _, r := range title {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case !unicode.IsControl(r):
			b.WriteRune(r)
		}
	}
	fixed := strings.Join(strings.Fields(b.String()), " ")
	if len(fixed) > history.MaxTitleLen {
		cut := history.MaxTitleLen - len("…")
		for !utf8.RuneStart(fixed[cut]) {
			cut--
		}
		fixed = fixed[:cut] + "…"
	}
	for _, t := range []string{fixed, fileTitle(file), "Imported page"} {
		if history.CheckTitle(t) == nil {
			return t, fmt.Sprintf("%s; imported as %q", why, t)
		}
	}
	return title, "" // unreachable: the last candidate is a valid title
}
