package reconcile

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPayload reports what a session costs between two replicas of
// 100,000 pages of one head each, with 0, 1, 10 and 1,000 differences of
// two kinds: pages only the responder has (new pages), and pages whose
// head the responder replaced (an edit: one key on each side, next to
// each other). Run with -v to see the figures; BENCHMARKS.md records
// them.
func TestPayload(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 items")
	}
	const n = 100_000
	base := pages(n)
	baseSet := NewMemSet(slices.Clone(base))
	rng := rand.New(rand.NewPCG(19, 19))
	for _, kind := range []string{"new pages", "edited pages"} {
		for _, k := range []int{0, 1, 10, 1000} {
			other := slices.Clone(base)
			for _, p := range rng.Perm(n)[:k] {
				if kind == "new pages" {
					other = append(other, pageKey(uint64(n+p), 0))
				} else {
					other[p] = pageKey(uint64(p), 1)
				}
			}
			o := run(t, baseSet, NewMemSet(slices.Clone(other)), Config{})
			checkExact(t, base, other, o)
			total := o.init.Sent + o.resp.Sent
			t.Logf("%-12s %5d differences: %4d round trips, %7d bytes (%d + %d), %.0f bytes a difference",
				kind, len(minus(base, other))+len(minus(other, base)), (o.messages+1)/2, total, o.init.Sent, o.resp.Sent,
				float64(total)/float64(max(1, len(minus(base, other))+len(minus(other, base)))))
		}
	}
}
