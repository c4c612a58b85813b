package wiki

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// maxImportFile bounds a file import reads: a body at history.MaxBodySize
// and front matter around it, whose title may be as long as a revision
// block, JSON-escaped.
const maxImportFile = history.MaxBodySize + 8*history.MaxBlockSize

// ImportResult counts what an import did.
type ImportResult struct {
	Created   int            `json:"created"`
	Updated   int            `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Files     []ImportedFile `json:"files"`
	// Skipped are the *.md entries that are not regular files.
	Skipped []SkippedFile `json:"skipped"`
}

// ImportedFile says what import did with one file.
type ImportedFile struct {
	File   string `json:"file"`
	Page   string `json:"page"`
	Rev    string `json:"rev"`
	Action string `json:"action"` // created, updated or unchanged
	// Note says what import changed, when it could not keep the file's
	// title.
	Note string `json:"note,omitempty"`
}

// SkippedFile is an entry import did not read, and why.
type SkippedFile struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// Import reads every *.md regular file under dir. A file whose id names a
// page of this wiki edits it (building on its rev when that is a revision
// of the page, which may create a divergent head); any other file creates
// a page. Symbolic links (to files or folders) are not followed, and
// named pipes, sockets and devices are not opened: they are listed in
// Skipped. All files are checked first and committed in one transaction:
// a bad file stops the import with nothing changed.
func (r *Repo) Import(ctx context.Context, dir string) (ImportResult, error) {
	return r.ImportBatched(ctx, dir, 0)
}

// ImportBatched is Import committing every batch files (0: all in one
// transaction, which holds every block of the import in memory until it
// commits). With batches, memory is bounded by a batch, and the write
// lock is held a batch at a time; in exchange, the import is all or
// nothing only for what can be checked before writing: every file is
// read, parsed and checked first (a bad file, or two files for one page,
// stop it with nothing changed), but an error while writing (a full disk,
// a file changed since the check) leaves the batches before it
// committed, and the error says how many files they held.
func (r *Repo) ImportBatched(ctx context.Context, dir string, batch int) (ImportResult, error) {
	res := ImportResult{Files: []ImportedFile{}, Skipped: []SkippedFile{}}
	files, err := importFiles(dir, &res)
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	if len(files) == 0 {
		return res, fmt.Errorf("%w: no .md files in %s", ErrInvalid, dir)
	}
	failed := ImportResult{Files: []ImportedFile{}, Skipped: res.Skipped}
	if batch <= 0 || batch >= len(files) {
		batch = len(files)
	} else if err := r.checkImport(ctx, dir, files); err != nil {
		return failed, err
	} else {
		// Every page's current version is read once: caching them only
		// held 32 MB more of a bounded import's memory.
		r.store.LimitBlockCache(4 << 20)
	}
	touched := map[cid.Cid]string{}
	committed := 0
	for start := 0; start < len(files); start += batch {
		part := files[start:min(start+batch, len(files))]
		var blocks []history.Block
		for _, rel := range part {
			path := filepath.Join(dir, rel)
			data, skip, err := readImportFile(path)
			if err != nil {
				return r.importFailed(failed, res, committed, fmt.Errorf("import %s: %w", path, err))
			}
			if skip != "" { // it changed since the walk saw it
				res.Skipped = append(res.Skipped, SkippedFile{File: rel, Reason: skip})
				continue
			}
			f, err := ParseMarkdown(path, data)
			if err != nil {
				return r.importFailed(failed, res, committed, fmt.Errorf("import %s: %w", path, err))
			}
			bs, file, err := r.importFile(ctx, f, touched, path)
			if err != nil {
				return r.importFailed(failed, res, committed, fmt.Errorf("import %s: %w", path, err))
			}
			file.File = rel
			res.Files = append(res.Files, file)
			res.count(file.Action)
			blocks = append(blocks, bs...)
		}
		if len(blocks) > 0 {
			put, err := r.store.PutSignedHere(ctx, blocks)
			if err != nil {
				return r.importFailed(failed, res, committed, fmt.Errorf("import: %w", err))
			}
			if err := r.ApplyPolicies(ctx, put.Divergent); err != nil {
				return res, err
			}
		}
		committed = len(res.Files)
	}
	if batch < len(files) {
		// Many transactions leave the search index in more segments than
		// SQLite merges as it goes (see history's compact).
		r.store.MergeSearchIndex(ctx)
	}
	return res, nil
}

// importFailed is the result of an import stopped by err: nothing, when
// no batch was committed; else what the committed batches did, and an
// error that says so.
func (r *Repo) importFailed(failed, res ImportResult, committed int, err error) (ImportResult, error) {
	if committed == 0 {
		return failed, err
	}
	res.Files = res.Files[:committed]
	res.Created, res.Updated, res.Unchanged = 0, 0, 0
	for _, f := range res.Files {
		res.count(f.Action)
	}
	return res, fmt.Errorf("%w (the first %d files were imported and stay; importing them again would make new pages of the files without a page id)", err, committed)
}

// checkImport reads and checks every file as the import will, without
// building a revision: a file that cannot be read or parsed, and two
// files naming one page, stop a batched import before anything is
// written.
func (r *Repo) checkImport(ctx context.Context, dir string, files []string) error {
	touched := map[cid.Cid]string{}
	for _, rel := range files {
		path := filepath.Join(dir, rel)
		data, skip, err := readImportFile(path)
		if err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		if skip != "" {
			continue
		}
		f, err := ParseMarkdown(path, data)
		if err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		if f.ID == "" {
			continue
		}
		c, err := cid.Decode(f.ID)
		if err != nil {
			continue
		}
		if _, err := r.store.Page(ctx, c); err != nil {
			continue
		}
		if other, dup := touched[c]; dup {
			return fmt.Errorf("import %s: %w: page %s is also in %s", path, ErrInvalid, Short(c), other)
		}
		touched[c] = path
		if _, err := r.importParents(ctx, c, f.Rev); err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
	}
	return nil
}

// importFiles lists the *.md regular files under dir (followed when it
// is itself a link: it was named), relative to it and sorted, and adds
// the entries it will not read to res.Skipped.
func importFiles(dir string, res *ImportResult) ([]string, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch t := d.Type(); {
		case t.IsDir():
		case t&fs.ModeSymlink != 0:
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				res.Skipped = append(res.Skipped, SkippedFile{File: rel, Reason: "a symbolic link to a folder (not followed)"})
			} else if isMarkdown(path) {
				res.Skipped = append(res.Skipped, SkippedFile{File: rel, Reason: "a symbolic link (not followed)"})
			}
		case !isMarkdown(path):
		case !t.IsRegular():
			res.Skipped = append(res.Skipped, SkippedFile{File: rel, Reason: fileKind(t)})
		default:
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func isMarkdown(path string) bool { return strings.EqualFold(filepath.Ext(path), ".md") }

// fileKind says what a file that is not a regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link (not followed)"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (not opened)"
	case m&fs.ModeSocket != 0:
		return "a socket (not opened)"
	case m&fs.ModeDevice != 0:
		return "a device (not opened)"
	}
	return "not a regular file"
}

// readImportFile reads a regular file, at most maxImportFile bytes. It
// opens with O_NOFOLLOW and O_NONBLOCK and checks what it opened, so that
// a link or a named pipe put in the file's place after the walk is
// skipped (skip says why), neither followed nor waited on.
func readImportFile(path string) (data []byte, skip string, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fileKind(fs.ModeSymlink), nil
	}
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if !fi.Mode().IsRegular() {
		return nil, fileKind(fi.Mode()), nil
	}
	tooBig := func(n int64) error {
		return fmt.Errorf("%w: the file is %d bytes, more than a page can be (a body of at most %d MiB and its front matter: %d bytes)",
			ErrInvalid, n, history.MaxBodySize>>20, maxImportFile)
	}
	if fi.Size() > maxImportFile {
		return nil, "", tooBig(fi.Size())
	}
	data, err = io.ReadAll(io.LimitReader(f, maxImportFile+1))
	if err != nil {
		return nil, "", err
	}
	if len(data) > maxImportFile {
		return nil, "", tooBig(int64(len(data)))
	}
	return data, "", nil
}

// importFile makes the blocks of one file: a new page, or a revision of
// the page its front matter names. The returned file says what it did.
func (r *Repo) importFile(ctx context.Context, f MarkdownFile, touched map[cid.Cid]string, path string) ([]history.Block, ImportedFile, error) {
	out := ImportedFile{Page: f.ID, Rev: f.Rev}
	page, known := cid.Undef, false
	if f.ID != "" {
		if c, err := cid.Decode(f.ID); err == nil {
			if _, err := r.store.Page(ctx, c); err == nil {
				page, known = c, true
			}
		}
	}
	if !known {
		out.Action = "created"
		title, note := importTitle(f.Title, path, nil)
		out.Note = note
		blk, bodies, err := r.build(ctx, Draft{Title: title, Body: f.Body, Msg: "import"}, nil)
		out.Page, out.Rev = blk.Cid.String(), blk.Cid.String()
		return append(bodies, blk), out, err
	}
	if other, dup := touched[page]; dup {
		return nil, out, fmt.Errorf("%w: page %s is also in %s", ErrInvalid, Short(page), other)
	}
	touched[page] = path
	parents, err := r.importParents(ctx, page, f.Rev)
	if err != nil {
		return nil, out, err
	}
	parentRevs := make([]*history.Revision, len(parents))
	for i, p := range parents {
		if parentRevs[i], err = r.store.Revision(ctx, p); err != nil {
			return nil, out, err
		}
	}
	prev := parentRevs[0]
	body, err := r.store.Body(ctx, prev.Body.Cid)
	if err != nil {
		return nil, out, err
	}
	title, note := importTitle(f.Title, path, parentRevs)
	out.Note = note
	if prev.Title == title && body == f.Body && !prev.Deleted {
		out.Action = "unchanged"
		return nil, out, nil
	}
	out.Action = "updated"
	blk, bodies, err := r.build(ctx, Draft{Page: page, Parents: parents, Title: title, Body: f.Body,
		Policy: prev.Policy, Msg: "import"}, parentRevs)
	out.Rev = blk.Cid.String()
	return append(bodies, blk), out, err
}

// importParents are the parents of a file's revision of page: the
// revision the file names (rev), when it is one of the page's, else the
// page's heads, which must not differ.
func (r *Repo) importParents(ctx context.Context, page cid.Cid, rev string) ([]cid.Cid, error) {
	if rev != "" {
		if c, err := cid.Decode(rev); err == nil {
			if p, err := r.store.RevisionPage(ctx, c); err == nil && p.Equals(page) {
				return []cid.Cid{c}, nil
			}
		}
	}
	parents, err := r.CurrentHeads(ctx, page)
	if errors.Is(err, ErrConflict) {
		return nil, fmt.Errorf("%w: page %s has differing heads and the file names none of its revisions", ErrConflict, Short(page))
	}
	return parents, err
}

// count adds one file's action to the totals.
func (res *ImportResult) count(action string) {
	switch action {
	case "created":
		res.Created++
	case "updated":
		res.Updated++
	default:
		res.Unchanged++
	}
}
