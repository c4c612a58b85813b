package wiki_test

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"peerwiki/history"
	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// BenchmarkReceiveOneRevision is the receiving end of an edit's trip to a
// running replica (issue 14): one new revision of a 3 KB page, checked
// and stored as gossip's inline blocks are, the replica long-lived as a
// node's is. "live" is how a node stores it (history.Checked.Live:
// its search row a moment later, not timed here).
func BenchmarkReceiveOneRevision(b *testing.B) {
	b.Run("now", func(b *testing.B) { benchReceive(b, false) })
	b.Run("live", func(b *testing.B) { benchReceive(b, true) })
}

func benchReceive(b *testing.B, live bool) {
	ctx := context.Background()
	a, ids := benchRepo(b, 200)
	dir := filepath.Join(b.TempDir(), "bob")
	r, err := wiki.InitReplica(dir, "bob", a.Config.Wiki, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.AddMember(ctx, r.ID.ID, "bob", wiki.RoleMember); err != nil {
		b.Fatal(err)
	}
	r.Close()
	if r, err = wiki.OpenWith(dir, wiki.OpenOptions{LongLived: true}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	src, dst := wikitest.Store(a), wikitest.Store(r)
	plan, err := src.PlanSync(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	var all []history.Block
	if err := src.SendPlan(ctx, plan, func(bl history.Block) error { all = append(all, bl); return nil }); err != nil {
		b.Fatal(err)
	}
	res, err := dst.Put(ctx, all)
	if err != nil {
		b.Fatal(err)
	}
	r.ObserveReceived(ctx, res)
	rng := rand.New(rand.NewSource(7))
	bodies := make([]string, 64)
	for i := range bodies {
		bodies[i] = benchText(rng, 3000)
	}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		body := bodies[i%len(bodies)]
		rev, err := a.Edit(ctx, ids[i%len(ids)], wiki.Edit{Body: &body})
		if err != nil {
			b.Fatal(err)
		}
		blocks, err := src.RevisionBlocks(ctx, rev)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		checked, err := dst.Check(blocks)
		if err != nil {
			b.Fatal(err)
		}
		if live {
			checked.Live()
		}
		res, err := dst.PutChecked(ctx, checked)
		if err != nil || len(res.Revisions) != 1 {
			b.Fatalf("stored %v: %v", res, err)
		}
		r.ObserveReceived(ctx, res)
	}
}
