package history_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"peerwiki/history"
)

// thenByHand is what storing r and then next did, written out as
// PutResult.Then was before InTurn: r's pages that next did not touch,
// then next's; r's divergent pages that next did not touch, then next's.
func thenByHand(r, next *history.PutResult) *history.PutResult {
	out := &history.PutResult{Blocks: r.Blocks + next.Blocks}
	out.Deferred = append(append(out.Deferred, r.Deferred...), next.Deferred...)
	out.Revisions = append(append(out.Revisions, r.Revisions...), next.Revisions...)
	out.Void = append(append(out.Void, r.Void...), next.Void...)
	later := map[cid.Cid]bool{}
	for _, p := range next.Pages {
		later[p] = true
	}
	for _, p := range r.Pages {
		if !later[p] {
			out.Pages = append(out.Pages, p)
		}
	}
	out.Pages = append(out.Pages, next.Pages...)
	for _, p := range r.Divergent {
		if !later[p] {
			out.Divergent = append(out.Divergent, p)
		}
	}
	out.Divergent = append(out.Divergent, next.Divergent...)
	return out
}

// A run of batches' results taken in turn at once (a sync's group) is
// what folding them one after another gives, over random runs in which
// batches touch the same pages again and leave them divergent or not.
func TestInTurnIsAFold(t *testing.T) {
	var ids []cid.Cid
	for i := range 12 {
		h, err := multihash.Sum(fmt.Appendf(nil, "page %d", i), multihash.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cid.NewCidV1(cid.DagCBOR, h))
	}
	rng := rand.New(rand.NewPCG(19, 14))
	result := func() *history.PutResult {
		r := &history.PutResult{Blocks: rng.IntN(5)}
		for _, i := range rng.Perm(len(ids))[:rng.IntN(6)] {
			r.Pages = append(r.Pages, ids[i])
			r.Revisions = append(r.Revisions, ids[rng.IntN(len(ids))])
			if rng.IntN(3) == 0 {
				r.Divergent = append(r.Divergent, ids[i])
			}
			if rng.IntN(4) == 0 {
				r.Void = append(r.Void, ids[i])
			}
			if rng.IntN(5) == 0 {
				r.Deferred = append(r.Deferred, history.Deferral{Rev: ids[i]})
			}
		}
		return r
	}
	for run := range 500 {
		rs := make([]*history.PutResult, 1+rng.IntN(8))
		for i := range rs {
			rs[i] = result()
		}
		want := rs[0]
		for _, r := range rs[1:] {
			want = thenByHand(want, r)
		}
		if got := history.InTurn(rs...); !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d: InTurn gave\n%+v\nfolding gives\n%+v", run, got, want)
		}
		if len(rs) == 2 {
			if got := rs[0].Then(rs[1]); !reflect.DeepEqual(got, want) {
				t.Fatalf("run %d: Then gave %+v, want %+v", run, got, want)
			}
		}
	}
}
