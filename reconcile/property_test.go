package reconcile

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// keyShape makes the keys of a property test: spread over the key space,
// sharing long prefixes (so that bounds are long), or grouped by page.
type keyShape func(rng *rand.Rand) Key

var keyShapes = map[string]keyShape{
	"spread": func(rng *rand.Rand) Key { return key(rng.Uint64()) },
	"shared prefix": func(rng *rand.Rand) Key {
		k := key(rng.Uint64())
		copy(k[:28], "a long prefix all keys share")
		k[28] = byte(rng.IntN(3)) // and clusters inside it
		return k
	},
	"pages": func(rng *rand.Rand) Key { return pageKey(rng.Uint64N(1<<20), rng.Uint64N(3)) },
	"dense": func(rng *rand.Rand) Key {
		var k Key
		k[31], k[30] = byte(rng.Uint32()), byte(rng.Uint32()) // 65,536 keys at most, side by side
		return k
	},
}

// randomPair draws two sets: a common part and parts of their own, of
// random sizes, from one key shape.
func randomPair(rng *rand.Rand, shape keyShape, maxItems int) (a, b []Key) {
	seen := map[Key]bool{}
	draw := func() Key {
		for {
			if k := shape(rng); !seen[k] {
				seen[k] = true
				return k
			}
		}
	}
	n := rng.IntN(maxItems + 1)
	// Differences: none, few, many, or all, with the same odds.
	var diff int
	switch rng.IntN(4) {
	case 1:
		diff = rng.IntN(min(n, 10) + 1)
	case 2:
		diff = rng.IntN(n + 1)
	case 3:
		diff = n
	}
	for range n - diff {
		k := draw()
		a, b = append(a, k), append(b, k)
	}
	for range diff {
		if rng.IntN(2) == 0 {
			a = append(a, draw())
		} else {
			b = append(b, draw())
		}
	}
	rng.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
	return a, b
}

// TestReconcileProperties reconciles random pairs of sets of every key
// shape, with the default and the smallest frames, and checks that both
// sides learn exactly the difference, each key once, within the bounds.
// Bounded in count and in time.
func TestReconcileProperties(t *testing.T) {
	cases, maxItems := 300, 3000
	if testing.Short() {
		cases, maxItems = 60, 1000
	}
	deadline := time.Now().Add(20 * time.Second)
	for name, shape := range keyShapes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2026, uint64(len(name))))
			for c := range cases {
				if time.Now().After(deadline) {
					t.Logf("stopped after %d cases: time is up", c)
					return
				}
				a, b := randomPair(rng, shape, maxItems)
				cfg := Config{FrameSize: []int{0, MinFrameSize}[c%2]}
				for i := range cfg.Salt {
					cfg.Salt[i] = byte(rng.Uint32())
				}
				o := run(t, NewMemSet(slices.Clone(a)), NewMemSet(slices.Clone(b)), cfg)
				checkExact(t, a, b, o)
				if o.init.Messages > o.init.MaxMessages || o.resp.Messages > o.resp.MaxMessages {
					t.Fatalf("case %d: messages over the bound: %+v %+v", c, o.init, o.resp)
				}
			}
		})
	}
}

// TestReconcileLarge reconciles sets large enough to need many frames:
// disjoint sets, one empty side, and many differences, at the smallest
// frame, where answers are cut and ranges deferred.
func TestReconcileLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large sets")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		name                 string
		common, onlyA, onlyB int
	}{
		{"disjoint", 0, 60_000, 60_000},
		{"initiator empty", 0, 0, 100_000},
		{"responder empty", 0, 100_000, 0},
		{"a third differs", 60_000, 15_000, 15_000},
		{"one in twenty differs", 95_000, 2_500, 2_500},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := split(rng, c.common, c.onlyA, c.onlyB)
			for _, frame := range []int{MinFrameSize, DefaultFrameSize} {
				o := reconcileKeys(t, a, b, Config{FrameSize: frame})
				t.Logf("frame %7d: %4d messages (bound %d a side), %8d + %8d bytes, largest %d",
					frame, o.messages, o.init.MaxMessages, o.init.Sent, o.resp.Sent, o.largest)
			}
		})
	}
}
