package wiki_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

func newRepo(t *testing.T) *wiki.Repo {
	t.Helper()
	return wikitest.NewRepo(t, "tester")
}

func ptr(s string) *string { return &s }

func TestCreateEditRenameDelete(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	id, err := r.Create(ctx, "Meeting notes", "agenda\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("agenda\n- budget\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Edit(ctx, id, wiki.Edit{Title: ptr("Weekly meeting")}); err != nil {
		t.Fatal(err)
	}
	p, err := r.FindPage(ctx, "weekly MEETING")
	if err != nil || !p.ID.Equals(id) {
		t.Fatalf("find renamed page: %v", err)
	}
	if _, err := r.FindPage(ctx, "Meeting notes"); !errors.Is(err, wiki.ErrNotFound) {
		t.Fatalf("old title still found: %v", err)
	}
	v, err := r.View(ctx, p)
	if err != nil || v.Body != "agenda\n- budget\n" || v.Title != "Weekly meeting" || v.Conflict {
		t.Fatalf("view = %+v, %v", v, err)
	}
	if _, err := r.Edit(ctx, id, wiki.Edit{Title: ptr("Weekly meeting")}); !errors.Is(err, wiki.ErrNoChange) {
		t.Fatalf("no-op edit: %v", err)
	}
	if _, err := r.Delete(ctx, id, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Delete(ctx, id, ""); !errors.Is(err, wiki.ErrNoChange) {
		t.Fatalf("second delete: %v", err)
	}
	live, _ := r.List(ctx, false, false)
	all, _ := r.List(ctx, true, false)
	if len(live) != 0 || len(all) != 1 || !all[0].Deleted {
		t.Fatalf("list after delete: live %v all %v", live, all)
	}
	if hits, _ := wikitest.Store(r).Search(ctx, "budget", 10); len(hits) != 0 {
		t.Fatalf("deleted page still searchable: %v", hits)
	}
	log, _ := r.Log(ctx, id)
	if len(log) != 4 || !log[0].Deleted || log[0].Message != "gone" {
		t.Fatalf("log = %+v", log)
	}
	// Editing a deleted page restores it.
	if _, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("back\n")}); err != nil {
		t.Fatal(err)
	}
	if live, _ := r.List(ctx, false, false); len(live) != 1 {
		t.Fatal("page not restored by an edit")
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	for _, title := range []string{"", "  ", "a\nb", string([]byte{0xff, 0xfe})} {
		if _, err := r.Create(ctx, title, "x", ""); !errors.Is(err, wiki.ErrInvalid) {
			t.Errorf("title %q: %v", title, err)
		}
	}
	if _, err := r.Create(ctx, "T", string([]byte{'a', 0xff}), ""); !errors.Is(err, wiki.ErrInvalid) {
		t.Errorf("invalid UTF-8 body: %v", err)
	}
	if st, _ := r.Status(ctx); st.Revisions != 0 {
		t.Fatalf("bad input stored %d revisions", st.Revisions)
	}
	if _, err := wiki.Init(r.Dir, ""); !errors.Is(err, wiki.ErrAlreadyInit) {
		t.Fatalf("second init: %v", err)
	}
	if _, err := wiki.Open(t.TempDir()); !errors.Is(err, wiki.ErrNotInitialised) {
		t.Fatalf("open empty dir: %v", err)
	}
}

func TestAmbiguousTitleListsCandidates(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	a, _ := r.Create(ctx, "Todo", "a", "")
	b, _ := r.Create(ctx, "todo", "b", "")
	_, err := r.FindPage(ctx, "TODO")
	if !errors.Is(err, wiki.ErrAmbiguous) {
		t.Fatalf("err = %v", err)
	}
	for _, id := range []string{wiki.Short(a), wiki.Short(b)} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not list %s", err, id)
		}
	}
	if p, err := r.FindPage(ctx, a.String()[:20]); err != nil || !p.ID.Equals(a) {
		t.Fatalf("find by id prefix: %v", err)
	}
	st, _ := r.Status(ctx)
	if len(st.DuplicateTitles) != 1 || st.DuplicateTitles[0] != "todo" {
		t.Fatalf("duplicate titles = %v", st.DuplicateTitles)
	}
}

func TestLinksAndBacklinks(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	home, _ := r.Create(ctx, "Home", "See [[Ideas]] and [[ideas|the list]] and [[Nowhere]].\n", "")
	ideas, _ := r.Create(ctx, "Ideas", "none yet\n", "")
	p, _ := wikitest.Store(r).Page(ctx, ideas)
	v, _ := r.View(ctx, p)
	if len(v.Backlinks) != 1 || v.Backlinks[0].Title != "Home" {
		t.Fatalf("backlinks of Ideas = %+v", v.Backlinks)
	}
	hp, _ := wikitest.Store(r).Page(ctx, home)
	hv, _ := r.View(ctx, hp)
	if len(hv.Links) != 2 || hv.Links[0] != "Ideas" || hv.Links[1] != "Nowhere" {
		t.Fatalf("links of Home = %v", hv.Links)
	}
	// Renaming the target keeps backlinks by the title in use now.
	if _, err := r.Edit(ctx, ideas, wiki.Edit{Title: ptr("Plans")}); err != nil {
		t.Fatal(err)
	}
	p, _ = wikitest.Store(r).Page(ctx, ideas)
	if v, _ := r.View(ctx, p); len(v.Backlinks) != 0 {
		t.Fatalf("backlinks after rename = %+v", v.Backlinks)
	}
}

func TestDivergentHeadsAreAConflictWithBothKept(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	id, _ := r.Create(ctx, "A", "base\n", "")
	p, _ := wikitest.Store(r).Page(ctx, id)
	genesis := p.Rev
	if _, err := r.Edit(ctx, id, wiki.Edit{Title: ptr("B")}); err != nil {
		t.Fatal(err)
	}
	// An offline replica would have built on the genesis too.
	if _, err := r.Edit(ctx, id, wiki.Edit{Title: ptr("C"), Parent: genesis}); err != nil {
		t.Fatal(err)
	}
	p, _ = wikitest.Store(r).Page(ctx, id)
	v, err := r.View(ctx, p)
	if err != nil || !v.Conflict || len(v.Versions) != 2 {
		t.Fatalf("view = %+v, %v", v, err)
	}
	titles := map[string]bool{v.Versions[0].Title: true, v.Versions[1].Title: true}
	if !titles["B"] || !titles["C"] {
		t.Fatalf("versions = %+v", v.Versions)
	}
	if _, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("x\n")}); !errors.Is(err, wiki.ErrConflict) {
		t.Fatalf("edit of a conflicted page: %v", err)
	}
	cs, _ := r.Conflicts(ctx)
	if len(cs) != 1 || len(cs[0].Differs) != 1 || cs[0].Differs[0] != "title" || !cs[0].Base.Equals(genesis) {
		t.Fatalf("conflicts = %+v", cs)
	}
	if st, _ := r.Status(ctx); len(st.Conflicts) != 1 {
		t.Fatalf("status conflicts = %v", st.Conflicts)
	}
	hits, _ := wikitest.Store(r).Search(ctx, "C", 10)
	if len(hits) != 1 {
		t.Fatalf("search finds every head's title: %v", hits)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	titles := []string{"Plain", `Quotes "and" \backslash\`, "Ünïcødé: colon", "---"}
	bodies := []string{"one\n", "no final newline", "---\nlooks like front matter\n---\n", "\n\n  spaces  \n"}
	for i := range titles {
		if _, err := r.Create(ctx, titles[i], bodies[i], ""); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if n, err := r.Export(ctx, dir); err != nil || n != 4 {
		t.Fatalf("export: %d, %v", n, err)
	}
	// Into a fresh repo: every page comes back byte for byte.
	r2 := newRepo(t)
	res, err := r2.Import(ctx, dir)
	if err != nil || res.Created != 4 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	got := map[string]string{}
	pages, _ := r2.List(ctx, false, false)
	for _, p := range pages {
		row, _ := r2.FindPage(ctx, p.ID.String())
		v, _ := r2.View(ctx, row)
		got[v.Title] = v.Body
	}
	for i := range titles {
		if b, ok := got[titles[i]]; !ok || b != bodies[i] {
			t.Errorf("title %q: got body %q (present %v), want %q", titles[i], b, ok, bodies[i])
		}
	}
	// Into the same repo: nothing changes; an edited file becomes an edit.
	res, err = r.Import(ctx, dir)
	if err != nil || res.Unchanged != 4 {
		t.Fatalf("re-import: %+v, %v", res, err)
	}
	path := filepath.Join(dir, "plain.md")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append(data, "more\n"...), 0o644)
	res, err = r.Import(ctx, dir)
	if err != nil || res.Updated != 1 || res.Unchanged != 3 {
		t.Fatalf("import of an edit: %+v, %v", res, err)
	}
	// A bad file stops the import with nothing changed.
	before, _ := r.Status(ctx)
	os.WriteFile(filepath.Join(dir, "bad.md"), []byte{0xff, 0xfe, 'x'}, 0o644)
	os.WriteFile(path, append(data, "even more\n"...), 0o644)
	if _, err := r.Import(ctx, dir); err == nil {
		t.Fatal("import with an invalid file succeeded")
	}
	if after, _ := r.Status(ctx); after.Revisions != before.Revisions {
		t.Fatalf("failed import stored %d revisions", after.Revisions-before.Revisions)
	}
}

func TestClockNeverGoesBackwards(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	fixed := time.UnixMilli(1_000)
	id, _ := r.Create(ctx, "T", "a", "")
	r.Now = func() time.Time { return fixed } // a wall clock far in the past
	rev, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("b")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := wikitest.Store(r).Revision(ctx, rev)
	parent, _ := wikitest.Store(r).Revision(ctx, got.Parents[0].Cid)
	if got.Time != parent.Time+1 {
		t.Fatalf("time %d after parent %d: want parent+1", got.Time, parent.Time)
	}
}

// A reference is tried as an id prefix only when it looks like one of
// peerwiki's ids ("bafyrei..."); any other is a title.
func TestFindPageByIdPrefixOrTitle(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	id, err := r.Create(ctx, "brainstorming", "ideas\n", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"brainstorming", "Brainstorming", id.String()[:12], id.String()} {
		p, err := r.FindPage(ctx, ref)
		if err != nil || !p.ID.Equals(id) {
			t.Errorf("FindPage(%q) = %v, %v; want the page", ref, p.ID, err)
		}
	}
	if _, err := r.FindPage(ctx, "bafyreizzzzzzzzz"); !errors.Is(err, wiki.ErrNotFound) {
		t.Errorf("an id prefix of no page: err = %v, want ErrNotFound", err)
	}
}
