package history_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

func sameSet(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[cid.Cid]bool{}
	for _, c := range a {
		m[c] = true
	}
	for _, c := range b {
		if !m[c] {
			return false
		}
	}
	return true
}

func TestHeadsFollowTheDAG(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	g := b.Put(cid.Undef, "P", "0\n")
	a := b.Put(g, "P", "a\n", g)
	heads, _ := s.Heads(ctx, g)
	if !sameSet(heads, []cid.Cid{a}) {
		t.Fatalf("heads = %v, want [a]", heads)
	}
	c := b.Put(g, "P", "c\n", g) // fork from the genesis
	heads, _ = s.Heads(ctx, g)
	if !sameSet(heads, []cid.Cid{a, c}) {
		t.Fatalf("heads = %v, want [a c]", heads)
	}
	p, _ := s.Page(ctx, g)
	if p.Heads != 2 {
		t.Fatalf("page index says %d heads", p.Heads)
	}
	m := b.Put(g, "P", "ac\n", a, c)
	heads, _ = s.Heads(ctx, g)
	if !sameSet(heads, []cid.Cid{m}) {
		t.Fatalf("heads = %v, want [m]", heads)
	}
	log, err := s.Log(ctx, g)
	if err != nil || len(log) != 4 || !log[0].Cid.Equals(m) || !log[3].Cid.Equals(g) {
		t.Fatalf("log order wrong: %v", log)
	}
}

func TestMergeBaseCrissCrossIsDeterministic(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	g := b.Put(cid.Undef, "P", "0\n")
	x := b.Put(g, "P", "x\n", g)
	y := b.Put(g, "P", "y\n", g)
	// Criss-cross: two different merges of the same two revisions.
	m1 := b.Put(g, "P", "xy\n", x, y)
	m2 := b.Put(g, "P", "yx\n", x, y)
	base, err := s.MergeBase(ctx, m1, m2)
	if err != nil {
		t.Fatal(err)
	}
	want := x
	if bytes.Compare(y.Bytes(), x.Bytes()) < 0 {
		want = y
	}
	if !base.Equals(want) {
		t.Fatalf("merge base = %s, want the smaller of the two candidates %s", base, want)
	}
	if again, _ := s.MergeBase(ctx, m2, m1); !again.Equals(base) {
		t.Fatal("merge base depends on argument order")
	}
	// Simple cases: the base of a revision and its descendant is the revision.
	if mb, _ := s.MergeBase(ctx, x, m1); !mb.Equals(x) {
		t.Fatalf("base(x, m1) = %s, want x", mb)
	}
	if mb, _ := s.MergeBase(ctx, x, y); !mb.Equals(g) {
		t.Fatalf("base(x, y) = %s, want g", mb)
	}
	if ok, _ := s.IsAncestor(ctx, g, m2); !ok {
		t.Fatal("g should be an ancestor of m2")
	}
	if ok, _ := s.IsAncestor(ctx, m1, m2); ok {
		t.Fatal("m1 is not an ancestor of m2")
	}
	// Every lowest common ancestor: both of the criss-cross, in CID order;
	// one where there is one.
	dag, err := s.PageDAG(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	both := []cid.Cid{x, y}
	if bytes.Compare(y.Bytes(), x.Bytes()) < 0 {
		both = []cid.Cid{y, x}
	}
	for _, tc := range []struct {
		a, b cid.Cid
		want []cid.Cid
	}{{m1, m2, both}, {m2, m1, both}, {x, y, []cid.Cid{g}}, {x, m1, []cid.Cid{x}}, {m1, m1, []cid.Cid{m1}}} {
		if got := history.MergeBasesIn(dag, tc.a, tc.b); !slices.EqualFunc(got, tc.want, cid.Cid.Equals) {
			t.Errorf("MergeBasesIn(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestMergeBaseSameOnEveryReplica(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	g := b.Put(cid.Undef, "P", "0\n")
	x := b.Put(g, "P", "x\n", g)
	y := b.Put(g, "P", "y\n", g)
	m1 := b.Put(g, "P", "xy\n", x, y)
	m2 := b.Put(g, "P", "yx\n", x, y)
	want, _ := src.MergeBase(ctx, m1, m2)

	// A replica that received the same revisions in another order.
	dst := historytest.NewStore(t, history.Options{})
	var blocks []history.Block
	for _, c := range []cid.Cid{m2, y, m1, x, g} {
		data, _ := src.Get(ctx, c)
		rev, _ := history.DecodeRevision(data)
		body, _ := src.Get(ctx, rev.Body.Cid)
		blocks = append(blocks, history.Block{Cid: c, Data: data}, history.Block{Cid: rev.Body.Cid, Data: body})
	}
	if _, err := dst.Put(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	got, _ := dst.MergeBase(ctx, m1, m2)
	if !got.Equals(want) {
		t.Fatalf("replica picked %s, origin %s", got, want)
	}
	for _, s := range []*history.Store{src, dst} {
		if probs, err := s.Fsck(ctx, nil); err != nil || len(probs) != 0 {
			t.Fatalf("fsck: %v %v", probs, err)
		}
	}
}

func TestPutRejectsWrongHeightTimeAndWiki(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	g := b.Put(cid.Undef, "P", "0\n")
	bodies, _ := history.BodyBlocks("x\n")
	mk := func(mut func(r *history.Revision)) []history.Block {
		r := &history.Revision{Wiki: s.Wiki(), Page: &history.Link{Cid: g}, Title: "P",
			Body: history.Link{Cid: bodies[0].Cid}, Time: b.Clock + 10, Height: 2}
		r.SetParents([]cid.Cid{g})
		mut(r)
		if err := r.Sign(b.ID.Key); err != nil {
			t.Fatal(err)
		}
		blk, _ := r.Block()
		return append(bodies, blk)
	}
	for name, mut := range map[string]func(*history.Revision){
		"height":      func(r *history.Revision) { r.Height = 5 },
		"time":        func(r *history.Revision) { r.Time = 1 },
		"wiki":        func(r *history.Revision) { r.Wiki = "other" },
		"no parents":  func(r *history.Revision) { r.Parents = nil },
		"wrong page":  func(r *history.Revision) { r.Page = &history.Link{Cid: bodies[0].Cid} },
		"bad genesis": func(r *history.Revision) { r.Page = nil },
	} {
		if _, err := s.Put(ctx, mk(mut)); err == nil {
			t.Errorf("%s: bad revision accepted", name)
		}
	}
	// Missing body block.
	blocks := mk(func(*history.Revision) {})
	if _, err := s.Put(ctx, blocks[1:]); err == nil {
		t.Error("revision without its body accepted")
	}
	if st, _ := s.Stats(ctx); st.Revisions != 1 {
		t.Fatalf("%d revisions stored, want only the genesis", st.Revisions)
	}
}
