package wiki_test

import (
	"context"
	"testing"
)

// FirstPages, which stops after n pages, is the head of List:
// pages of one title (in the order of their ids), deleted pages left out
// or kept as List does.
func TestFirstPagesIsTheHeadOfList(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	for _, title := range []string{"Same", "Note 10", "same", "Note 2", "Same", "note 1", "Zebra", "Same", "Ärger", "Gone", "Alpha 007"} {
		id, err := r.Create(ctx, title, "body of "+title, "")
		if err != nil {
			t.Fatal(err)
		}
		if title == "Gone" || title == "note 1" {
			if _, err := r.Delete(ctx, id, "delete"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, all := range []bool{false, true} {
		list, err := r.List(ctx, all, false)
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= len(list)+2; n++ {
			first, err := r.FirstPages(ctx, all, n)
			if err != nil {
				t.Fatal(err)
			}
			want := list[:min(n, len(list))]
			if len(first) != len(want) {
				t.Fatalf("all=%v n=%d: %d pages, want %d", all, n, len(first), len(want))
			}
			for i := range want {
				if !first[i].ID.Equals(want[i].ID) || first[i].Title != want[i].Title || len(first[i].Heads) != len(want[i].Heads) {
					t.Fatalf("all=%v n=%d: page %d is %q (%s), List has %q (%s)", all, n, i, first[i].Title, first[i].ID, want[i].Title, want[i].ID)
				}
			}
		}
	}
}
