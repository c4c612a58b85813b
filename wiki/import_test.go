package wiki_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// An import in batches commits every batch, and still checks every file
// before it writes: a bad file at the end changes nothing.
func TestImportBatched(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	dir := t.TempDir()
	for i := range 5 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.md", i)), []byte(fmt.Sprintf("# Page %d\n\nbody %d\n", i, i)), 0o644)
	}
	res, err := r.ImportBatched(ctx, dir, 2)
	if err != nil || res.Created != 5 || len(res.Files) != 5 {
		t.Fatalf("import in batches of 2: %+v, %v", res, err)
	}
	pages, err := r.List(ctx, false, false)
	if err != nil || len(pages) != 5 || pages[0].Title != "Page 0" || pages[4].Title != "Page 4" {
		t.Fatalf("pages after the import: %v, %v", pages, err)
	}

	before, _ := r.Status(ctx)
	os.WriteFile(filepath.Join(dir, "z-bad.md"), []byte{0xff, 0xfe, 'x'}, 0o644)
	if _, err := r.ImportBatched(ctx, dir, 2); err == nil {
		t.Fatal("a batched import with an invalid file succeeded")
	}
	if after, _ := r.Status(ctx); after.Revisions != before.Revisions {
		t.Fatalf("a failed batched import stored %d revisions", after.Revisions-before.Revisions)
	}

	// Two files for one page: refused before the first batch.
	os.Remove(filepath.Join(dir, "z-bad.md"))
	row, err := r.FindPage(ctx, "Page 1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a1.md", "a2.md"} {
		os.WriteFile(filepath.Join(dir, name), []byte("---\nid: "+row.ID.String()+"\ntitle: \"Page 1\"\n---\nnew\n"), 0o644)
	}
	if _, err := r.ImportBatched(ctx, dir, 1); err == nil {
		t.Fatal("a batched import of two files for one page succeeded")
	}
	if after, _ := r.Status(ctx); after.Revisions != before.Revisions {
		t.Fatalf("a refused batched import stored %d revisions", after.Revisions-before.Revisions)
	}
}
