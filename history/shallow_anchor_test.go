package history_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A page of two revisions joined shallow has its genesis as its anchor
// and as its boundary's missing parent: the deepening must ask for it
// (it asked only for parents not stored at all, and such a page stayed
// shallow for good).
func TestShallowPageOfTwoRevisionsGetsItsHistory(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	for i := range 20 {
		g := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), fmt.Sprintf("first %d\n", i))
		r := b.Put(g, fmt.Sprintf("Page %d", i), fmt.Sprintf("second %d\n", i), g)
		if i%2 == 1 {
			b.Put(g, fmt.Sprintf("Page %d", i), fmt.Sprintf("third %d\n", i), r)
		}
	}
	for _, per := range []int{3, 1000} {
		plan, err := src.PlanShallow(ctx, nil, 0)
		if err != nil || plan.Anchors != 20 {
			t.Fatalf("plan: %d anchors (%v)", plan.Anchors, err)
		}
		dst := historytest.NewStore(t, history.Options{})
		if err := transfer(t, src, dst, plan, true, per); err != nil {
			t.Fatal(err)
		}
		wants, err := dst.ShallowWants(ctx, 1000)
		if err != nil || len(wants) != 20 {
			t.Fatalf("batches of %d: %d wants, want one a page (%v)", per, len(wants), err)
		}
		deep, err := src.PlanDeepen(ctx, wants)
		if err != nil {
			t.Fatal(err)
		}
		if err := transfer(t, src, dst, deep, true, per); err != nil {
			t.Fatal(err)
		}
		if st, err := dst.Shallow(ctx); err != nil || st.Pages != 0 {
			t.Fatalf("batches of %d: after the history, %+v (%v)", per, st, err)
		}
		if v := userVersion(t, dst); v != 6 {
			t.Fatalf("batches of %d: user_version %d, want 6", per, v)
		}
		if bad, warnings := problems(t, dst); len(bad)+len(warnings) > 0 {
			t.Fatalf("batches of %d: fsck: %q %q", per, bad, warnings)
		}
	}
}
