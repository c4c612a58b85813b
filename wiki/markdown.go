package wiki

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/ipfs/go-cid"

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
// title survives the round trip. Files without front matter are imported as
// new pages titled by their first "# " heading, else by their file name.

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

// ParseMarkdown reads a file written by Encode, or plain Markdown.
func ParseMarkdown(name string, data []byte) (MarkdownFile, error) {
	text := string(data)
	if err := CheckBody(text); err != nil {
		return MarkdownFile{}, err
	}
	text = strings.TrimPrefix(text, "\ufeff")
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
	if f.Title == "" {
		for _, line := range strings.SplitN(f.Body, "\n", 50) {
			if h, ok := strings.CutPrefix(line, "# "); ok && strings.TrimSpace(h) != "" {
				f.Title = strings.TrimSpace(h)
				break
			}
		}
	}
	if f.Title == "" {
		f.Title = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	if err := CheckTitle(f.Title); err != nil {
		return f, err
	}
	return f, nil
}

// Slug turns a title into a file name stem.
func Slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
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

// Export writes every live page to dir as a Markdown file and returns how
// many it wrote. A conflicted page is exported as the head lists show;
// its other heads stay in the repo.
func (r *Repo) Export(ctx context.Context, dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	pages, err := r.List(ctx, false, false)
	if err != nil {
		return 0, err
	}
	used := map[string]bool{}
	n := 0
	for _, p := range pages {
		rev, _ := cid.Decode(p.Rev)
		ver, _, err := r.RevisionVersion(ctx, rev)
		if err != nil {
			return n, err
		}
		name := Slug(ver.Title)
		if used[name] {
			name += "-" + strings.TrimPrefix(short(rev), "bafyrei")
		}
		used[name] = true
		f := MarkdownFile{Title: ver.Title, ID: p.ID, Rev: p.Rev, Body: ver.Body}
		if err := os.WriteFile(filepath.Join(dir, name+".md"), f.Encode(), 0o644); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	return n, nil
}

// ImportResult counts what an import did.
type ImportResult struct {
	Created   int            `json:"created"`
	Updated   int            `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Files     []ImportedFile `json:"files"`
}

// ImportedFile says what import did with one file.
type ImportedFile struct {
	File   string `json:"file"`
	Page   string `json:"page"`
	Rev    string `json:"rev"`
	Action string `json:"action"` // created, updated or unchanged
}

// Import reads every *.md file under dir. A file whose id names a page of
// this wiki edits it (building on its rev when that is a revision of the
// page, which may create a divergent head); any other file creates a page.
// All files are checked first and committed in one transaction: a bad
// file stops the import with nothing changed.
func (r *Repo) Import(ctx context.Context, dir string) (ImportResult, error) {
	res := ImportResult{Files: []ImportedFile{}}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	if len(files) == 0 {
		return res, fmt.Errorf("%w: no .md files in %s", ErrInvalid, dir)
	}
	sort.Strings(files)
	var batch []history.Block
	touched := map[cid.Cid]string{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return ImportResult{}, fmt.Errorf("import: %w", err)
		}
		f, err := ParseMarkdown(path, data)
		if err != nil {
			return ImportResult{}, fmt.Errorf("import %s: %w", path, err)
		}
		blocks, outcome, err := r.importFile(ctx, f, touched, path)
		if err != nil {
			return ImportResult{}, fmt.Errorf("import %s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		file := ImportedFile{File: rel, Page: f.ID, Rev: f.Rev, Action: outcome}
		if len(blocks) > 0 {
			last := blocks[len(blocks)-1]
			file.Rev = last.Cid.String()
			if outcome == "created" {
				file.Page = file.Rev
			}
		}
		res.Files = append(res.Files, file)
		switch outcome {
		case "created":
			res.Created++
		case "updated":
			res.Updated++
		default:
			res.Unchanged++
		}
		batch = append(batch, blocks...)
	}
	if len(batch) > 0 {
		put, err := r.Store.PutSignedHere(ctx, batch)
		if err != nil {
			return ImportResult{}, fmt.Errorf("import: %w", err)
		}
		if err := r.AfterReceive(ctx, put.Divergent); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r *Repo) importFile(ctx context.Context, f MarkdownFile, touched map[cid.Cid]string, path string) ([]history.Block, string, error) {
	page, known := cid.Undef, false
	if f.ID != "" {
		if c, err := cid.Decode(f.ID); err == nil {
			if _, err := r.Store.Page(ctx, c); err == nil {
				page, known = c, true
			}
		}
	}
	if !known {
		blk, bodies, err := r.build(ctx, Draft{Title: f.Title, Body: f.Body, Msg: "import"}, nil)
		return append(bodies, blk), "created", err
	}
	if other, dup := touched[page]; dup {
		return nil, "", fmt.Errorf("%w: page %s is also in %s", ErrInvalid, short(page), other)
	}
	touched[page] = path
	base := cid.Undef
	if f.Rev != "" {
		if c, err := cid.Decode(f.Rev); err == nil {
			if p, err := r.Store.RevisionPage(ctx, c); err == nil && p.Equals(page) {
				base = c
			}
		}
	}
	parents := []cid.Cid{base}
	if !base.Defined() {
		var err error
		if parents, err = r.CurrentHeads(ctx, page); errors.Is(err, ErrConflict) {
			return nil, "", fmt.Errorf("%w: page %s has differing heads and the file names none of its revisions", ErrConflict, short(page))
		} else if err != nil {
			return nil, "", err
		}
	}
	parentRevs := make([]*history.Revision, len(parents))
	for i, p := range parents {
		var err error
		if parentRevs[i], err = r.Store.Revision(ctx, p); err != nil {
			return nil, "", err
		}
	}
	prev := parentRevs[0]
	body, err := r.Store.Body(ctx, prev.Body.Cid)
	if err != nil {
		return nil, "", err
	}
	if prev.Title == f.Title && body == f.Body && !prev.Deleted {
		return nil, "unchanged", nil
	}
	blk, bodies, err := r.build(ctx, Draft{Page: page, Parents: parents, Title: f.Title, Body: f.Body,
		Policy: prev.Policy, Msg: "import"}, parentRevs)
	return append(bodies, blk), "updated", err
}
