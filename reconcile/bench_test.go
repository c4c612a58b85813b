package reconcile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkReconcile100k runs whole sessions between two sets of 100,000
// items that differ by 0, 10 and 1,000 keys (new pages on the responder's
// side), both sides in this process; the sets are built once, outside
// the timing. It reports the payload of a session, both ways.
func BenchmarkReconcile100k(b *testing.B) {
	const n = 100_000
	base := pages(n)
	ours := NewMemSet(slices.Clone(base))
	rng := rand.New(rand.NewPCG(100, 100))
	for _, k := range []int{0, 10, 1000} {
		other := slices.Clone(base)
		for _, p := range rng.Perm(n)[:k] {
			other = append(other, pageKey(uint64(n+p), 0))
		}
		theirs := NewMemSet(other)
		b.Run(fmt.Sprintf("differences=%d", k), func(b *testing.B) {
			var o outcome
			for b.Loop() {
				o = run(b, ours, theirs, Config{})
			}
			b.ReportMetric(float64(o.init.Sent+o.resp.Sent), "payload-bytes")
			b.ReportMetric(float64(o.messages), "messages")
		})
	}
}
