package wiki_test

import (
	"context"
	"slices"
	"testing"

	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

func TestCompareTitlesIsNatural(t *testing.T) {
	titles := []string{"Note 10", "note 2", "Note 1", "Note 02", "apple", "Note", "Banana", "Note 2", "x9y", "x10y", "Note 99999999999999999999999"}
	slices.SortFunc(titles, wiki.CompareTitles)
	want := []string{"apple", "Banana", "Note", "Note 1", "Note 02", "Note 2", "note 2", "Note 10", "Note 99999999999999999999999", "x9y", "x10y"}
	if !slices.Equal(titles, want) {
		t.Fatalf("sorted %q\nwant   %q", titles, want)
	}
}

func TestListSortsTitlesNaturally(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	for _, title := range []string{"Note 10", "Note 2", "Note 1"} {
		if _, err := r.Create(ctx, title, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	pages, err := r.List(ctx, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pages {
		got = append(got, p.Title)
	}
	if want := []string{"Note 1", "Note 2", "Note 10"}; !slices.Equal(got, want) {
		t.Fatalf("list %q, want %q", got, want)
	}
}

func TestRewriteLinks(t *testing.T) {
	for _, tc := range []struct{ body, from, want string }{
		{"See [[Old]].", "Old", "See [[New]]."},
		{"[[old  title|the label]] and [[OLD TITLE]]", "Old title", "[[New|the label]] and [[New]]"},
		{"[[Older]] [[Old title x]]", "Old title", "[[Older]] [[Old title x]]"},
	} {
		if got, _ := wiki.RewriteLinks(tc.body, tc.from, "New"); got != tc.want {
			t.Errorf("RewriteLinks(%q, %q) = %q, want %q", tc.body, tc.from, got, tc.want)
		}
	}
}

func TestUpdateLinksAfterARename(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	target, _ := r.Create(ctx, "Old", "", "")
	a, _ := r.Create(ctx, "A", "see [[Old]] and [[old|it]]\n", "")
	if _, err := r.Create(ctx, "B", "nothing\n", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Edit(ctx, target, wiki.Edit{Title: ptr("New")}); err != nil {
		t.Fatal(err)
	}
	from, ok, err := r.RenamedFrom(ctx, target)
	if err != nil || !ok || from != "Old" {
		t.Fatalf("RenamedFrom = %q %v %v", from, ok, err)
	}
	p, _ := r.FindPage(ctx, "A")
	v, _ := r.View(ctx, p)
	if !slices.Equal(v.MissingLinks, []string{"Old"}) {
		t.Fatalf("missing links after the rename: %q", v.MissingLinks)
	}
	res, err := r.UpdateLinks(ctx, target, from, "New")
	if err != nil || len(res.Updated) != 1 || !res.Updated[0].ID.Equals(a) || len(res.Skipped) != 0 {
		t.Fatalf("UpdateLinks = %+v, %v", res, err)
	}
	v, _ = r.View(ctx, p)
	if v.Body != "see [[New]] and [[New|it]]\n" || len(v.MissingLinks) != 0 {
		t.Fatalf("after UpdateLinks: body %q, missing %q", v.Body, v.MissingLinks)
	}
	if refs, _ := r.LinksTo(ctx, "Old", target); len(refs) != 0 {
		t.Fatalf("still linking to Old: %+v", refs)
	}
	if _, err := r.UpdateLinks(ctx, target, "New", "Bad ] title"); err == nil {
		t.Fatal("a title that breaks link syntax was written into links")
	}
}

// conflicts lists pages in the same natural order as list.
func TestConflictsSortTitlesNaturally(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	for _, title := range []string{"Note 10", "Note 2"} {
		id, err := r.Create(ctx, title, "base\n", "")
		if err != nil {
			t.Fatal(err)
		}
		p, _ := wikitest.Store(r).Page(ctx, id)
		if _, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("one\n")}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Edit(ctx, id, wiki.Edit{Body: ptr("two\n"), Parent: p.Rev}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := r.Conflicts(ctx)
	if err != nil || len(cs) != 2 || cs[0].Title != "Note 2" || cs[1].Title != "Note 10" {
		t.Fatalf("conflicts %+v (%v), want Note 2 then Note 10", cs, err)
	}
}
