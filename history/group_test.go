package history_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// storeGrouped stores blocks in batches of per as a sync's receiver does
// with groups: every batch Groupable allows into one Bulk (BeginGroup),
// committed at the end; it fails the test if a batch may not be grouped.
func storeGrouped(t *testing.T, dst *history.Store, blocks []history.Block, shallow bool, per int) *history.BulkResult {
	t.Helper()
	ctx := context.Background()
	g, err := dst.BeginGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Rollback()
	for from := 0; from < len(blocks); from += per {
		c, err := dst.Check(blocks[from:min(from+per, len(blocks))])
		if err != nil {
			t.Fatal(err)
		}
		c.WaitForHistory()
		if shallow {
			c.AllowShallow()
		}
		if ok, err := dst.Groupable(ctx, c); err != nil || !ok {
			t.Fatalf("batch at %d: groupable %v (%v)", from, ok, err)
		}
		if _, err := g.Put(c); err != nil {
			t.Fatal(err)
		}
	}
	res, err := g.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func sendPlanned(t *testing.T, src *history.Store, plan *history.SyncPlan) []history.Block {
	t.Helper()
	var blocks []history.Block
	if err := src.SendPlan(context.Background(), plan, func(b history.Block) error { blocks = append(blocks, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// A shallow join and then its history, each stored as one group of many
// batches, leave what storing them a batch a transaction leaves: the same
// page index, the schema version of a shallow store and then of a whole
// one, and fsck clean.
func TestGroupStoresAShallowJoinAndItsHistory(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	for i := range 40 {
		g := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), fmt.Sprintf("first %d\n", i))
		r := b.Put(g, fmt.Sprintf("Page %d", i), fmt.Sprintf("second %d\n", i), g)
		switch i % 4 {
		case 1:
			b.Put(g, fmt.Sprintf("Page %d", i), fmt.Sprintf("third %d\n", i), r)
		case 2: // a conflict: sent whole
			b.Put(g, "Left", "left\n", r)
			b.Put(g, "Right", "right\n", r)
		}
	}
	plan, err := src.PlanShallow(ctx, nil, 0)
	if err != nil || plan.Anchors == 0 {
		t.Fatalf("plan: %d anchors (%v)", plan.Anchors, err)
	}
	dst := historytest.NewStore(t, history.Options{})
	res := storeGrouped(t, dst, sendPlanned(t, src, plan), true, 7)
	if res.Revisions == 0 || len(res.Pages) != 40 {
		t.Fatalf("the group stored %d revisions of %d pages", res.Revisions, len(res.Pages))
	}
	if v := userVersion(t, dst); v != 7 {
		t.Fatalf("user_version %d after a shallow group, want 7", v)
	}
	if st, err := dst.Shallow(ctx); err != nil || st.Pages == 0 {
		t.Fatalf("shallow: %+v (%v)", st, err)
	}
	wants, err := dst.ShallowWants(ctx, 1000)
	if err != nil || len(wants) == 0 {
		t.Fatalf("wants: %d (%v)", len(wants), err)
	}
	deep, err := src.PlanDeepen(ctx, wants)
	if err != nil {
		t.Fatal(err)
	}
	storeGrouped(t, dst, sendPlanned(t, src, deep), true, 5)
	if v := userVersion(t, dst); v != 6 {
		st, _ := dst.Shallow(ctx)
		t.Fatalf("user_version %d after the history came, want 6 (%+v)", v, st)
	}
	if _, err := dst.IndexPending(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if bad, warnings := problems(t, dst); len(bad)+len(warnings) > 0 {
		t.Fatalf("fsck: problems %q, warnings %q", bad, warnings)
	}
	sameIndex(t, "grouped", dst, src)
}

// A batch that brings revisions of a system page (whose member list
// judges what follows) is stored alone, not in a group; nor is a batch
// whose automatic merge cannot be checked before the transaction.
func TestGroupableRefusesSystemPages(t *testing.T) {
	ctx := context.Background()
	accept := func(history.Reader, cid.Cid, *history.Revision) error { return nil }
	admitAll := func(*history.Revision) error { return nil }
	dst := historytest.NewStore(t, history.Options{VerifyAuto: accept, Admit: admitAll})
	b := historytest.NewBuilder(t, dst)

	_, person := b.Batch(cid.Undef, "A page", "text\n")
	c, err := dst.Check(person)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dst.Groupable(ctx, c); err != nil || !ok {
		t.Fatalf("a person's page: groupable %v (%v)", ok, err)
	}

	bodies, err := history.BodyBlocks("settings\n")
	if err != nil {
		t.Fatal(err)
	}
	sys := &history.Revision{Wiki: dst.Wiki(), Title: "settings", Body: history.Link{Cid: bodies[0].Cid}, Time: 1_700_000_000_000, Height: 1, Nonce: []byte("settings")}
	blk, err := sys.Block() // unsigned: the wiki's own page
	if err != nil {
		t.Fatal(err)
	}
	c, err = dst.Check(append(append(bodies, blk), person...))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dst.Groupable(ctx, c); err != nil || ok {
		t.Fatalf("a batch with a system page: groupable %v (%v)", ok, err)
	}
}
