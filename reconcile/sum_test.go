package reconcile

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSumArithmetic(t *testing.T) {
	var max Sum
	for i := range max.w {
		max.w[i] = ^uint64(0)
	}
	one := Sum{w: [8]uint64{1}}
	if got := max.Add(one); got != (Sum{}) {
		t.Fatalf("(2^512-1) + 1 = %x; want 0", got.Bytes())
	}
	if got := (Sum{}).Sub(one); got != max {
		t.Fatalf("0 - 1 = %x; want 2^512-1", got.Bytes())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 1000 {
		a, b := Digest(key(rng.Uint64())), Digest(key(rng.Uint64()))
		if a.Add(b).Sub(b) != a || a.Add(b) != b.Add(a) {
			t.Fatal("Add and Sub do not undo each other, or Add does not commute")
		}
		if SumFromBytes(a.Bytes()) != a {
			t.Fatal("Bytes does not round-trip")
		}
	}
}

func TestMemSet(t *testing.T) {
	ks := keys(0, 500)
	dup := append(slices.Clone(ks), ks[:50]...)
	m := NewMemSet(dup)
	if m.Len() != 500 {
		t.Fatalf("Len = %d; want 500 (a key given twice is held once)", m.Len())
	}
	sorted := slices.Clone(ks)
	slices.SortFunc(sorted, Key.Compare)
	got, err := m.Keys(nil, 0, m.Len())
	if err != nil || !slices.Equal(got, sorted) {
		t.Fatalf("Keys = %v; want the keys sorted", err)
	}
	for _, c := range [][2]int{{0, 0}, {0, 500}, {10, 11}, {100, 437}, {499, 500}} {
		var want Sum
		for _, k := range sorted[c[0]:c[1]] {
			want = want.Add(Digest(k))
		}
		if got, err := m.Sum(c[0], c[1]); err != nil || got != want {
			t.Fatalf("Sum(%d, %d) is not the sum of the digests (%v)", c[0], c[1], err)
		}
	}
	for i, k := range sorted {
		if got, _ := m.Search(k); got != i {
			t.Fatalf("Search(key %d) = %d", i, got)
		}
	}
	if got, _ := m.Search(Key{}); got != 0 {
		t.Fatalf("Search(0) = %d", got)
	}
	var top Key
	for i := range top {
		top[i] = 0xff
	}
	if got, _ := m.Search(top); got != 500 {
		t.Fatalf("Search(top) = %d; want Len", got)
	}
	for _, c := range [][2]int{{-1, 2}, {3, 2}, {0, 501}} {
		if _, err := m.Sum(c[0], c[1]); err == nil {
			t.Fatalf("Sum(%d, %d) did not fail", c[0], c[1])
		}
		if _, err := m.Keys(nil, c[0], c[1]); err == nil {
			t.Fatalf("Keys(%d, %d) did not fail", c[0], c[1])
		}
	}
}

func TestBetween(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for range 10000 {
		a, c := key(rng.Uint64()), key(rng.Uint64())
		if rng.IntN(4) == 0 {
			copy(c[:rng.IntN(KeySize)], a[:]) // a long shared prefix
		}
		switch a.Compare(c) {
		case 0:
			continue
		case 1:
			a, c = c, a
		}
		b := between(a, c)
		if a.Compare(b) >= 0 || b.Compare(c) > 0 {
			t.Fatalf("between(%x, %x) = %x: not in (a, c]", a, c, b)
		}
		n := prefixLen(b)
		if n == 0 || b[n-1] == 0 {
			t.Fatalf("between(%x, %x) = %x: not canonical", a, c, b)
		}
		for short := n - 1; short > 0; short-- { // no shorter prefix of c would do
			var s Key
			copy(s[:short], c[:short])
			if a.Compare(s) < 0 {
				t.Fatalf("between(%x, %x) = %x, but %x is shorter", a, c, b, s)
			}
		}
	}
}
