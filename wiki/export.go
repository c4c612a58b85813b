package wiki

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotEmpty is an export into a folder that holds something already.
var ErrNotEmpty = errors.New("folder is not empty")

// ExportOptions say how an export writes.
type ExportOptions struct {
	// Force exports into a folder that is not empty, replacing the files
	// whose names the export uses. A symbolic link at such a name is
	// replaced by the file, never written through.
	Force bool
}

// Export writes every live page to dir, which must be missing or empty,
// as a Markdown file and returns how many it wrote.
func (r *Repo) Export(ctx context.Context, dir string) (int, error) {
	return r.ExportWith(ctx, dir, ExportOptions{})
}

// ExportWith writes every live page to dir as a Markdown file and returns
// how many it wrote. A conflicted page is exported as the head lists show;
// its other heads stay in the repo. dir is created when missing; a folder
// that is not empty is refused (ErrNotEmpty) unless o.Force, and a
// symbolic link as dir always. Each file is written whole or not at all:
// a temporary file in dir, synced, then renamed over the name.
func (r *Repo) ExportWith(ctx context.Context, dir string, o ExportOptions) (int, error) {
	dir = filepath.Clean(dir) // "link/" would follow the link
	if err := exportDir(dir, o.Force); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	pages, err := r.List(ctx, false, false)
	if err != nil {
		return 0, err
	}
	used := map[string]bool{}
	n := 0
	for _, p := range pages {
		ver, _, err := r.RevisionVersion(ctx, p.Rev)
		if err != nil {
			return n, err
		}
		f := MarkdownFile{Title: ver.Title, ID: p.ID.String(), Rev: p.Rev.String(), Body: ver.Body}
		if err := writeExportFile(dir, exportName(ver.Title, f.Rev, used), f.Encode()); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync() // the renames are durable too
		d.Close()
		if err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
	}
	return n, nil
}

// exportDir makes sure dir is a real folder an export may write into.
func exportDir(dir string, force bool) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link; export writes into a real folder only", dir)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	}
	if force {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s", ErrNotEmpty, dir)
	}
	return nil
}

// writeExportFile writes data to dir/name through a new temporary file
// (O_EXCL: never an existing file or link), synced before it is renamed
// over the name, so a reader sees the old file or the new one, and a
// symbolic link there is replaced, not followed.
func writeExportFile(dir, name string, data []byte) error {
	var tmp *os.File
	for {
		nonce := make([]byte, 6)
		rand.Read(nonce)
		path := filepath.Join(dir, "."+name+"."+hex.EncodeToString(nonce)+".tmp")
		var err error
		tmp, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	_, err := tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
