package reconcile

import (
	"fmt"
	"slices"
	"sort"
)

// Set is one side's items, sorted by key, as the reconciliation reads
// them. Positions run from 0 to Len()-1 in key order. A Set must not
// change while a session reads it; a store answers from one read
// transaction (or a snapshot). The methods are what an index with
// per-node sums (a B-tree or a Fenwick tree over the keys) answers in
// O(log n); MemSet answers from memory.
type Set interface {
	// Len is how many items the set holds.
	Len() int
	// Search returns the position of the first item whose key is at least
	// k, or Len() when there is none.
	Search(k Key) (int, error)
	// Keys appends the keys at positions [i, j) to dst, in order.
	Keys(dst []Key, i, j int) ([]Key, error)
	// Sum returns the sum of the digests (Digest) of the items at
	// positions [i, j).
	Sum(i, j int) (Sum, error)
}

// MemSet is a Set held in memory: the sorted keys and the prefix sums of
// their digests, so that Sum is one subtraction and Search a binary
// search. It takes 96 bytes an item (9.6 MB for 100,000).
type MemSet struct {
	keys []Key
	pre  []Sum // pre[i] = sum of the digests of keys[:i]
}

// NewMemSet returns the set of the given keys, which it sorts in place
// and keeps (a key given twice is held once).
func NewMemSet(keys []Key) *MemSet {
	slices.SortFunc(keys, Key.Compare)
	keys = slices.Compact(keys)
	pre := make([]Sum, len(keys)+1)
	for i, k := range keys {
		pre[i+1] = pre[i].Add(Digest(k))
	}
	return &MemSet{keys: keys, pre: pre}
}

// Len is how many items the set holds.
func (m *MemSet) Len() int { return len(m.keys) }

// Search returns the position of the first key at least k.
func (m *MemSet) Search(k Key) (int, error) {
	return sort.Search(len(m.keys), func(i int) bool { return m.keys[i].Compare(k) >= 0 }), nil
}

// Keys appends the keys at positions [i, j) to dst.
func (m *MemSet) Keys(dst []Key, i, j int) ([]Key, error) {
	if i < 0 || i > j || j > len(m.keys) {
		return dst, fmt.Errorf("reconcile: positions [%d, %d) outside a set of %d", i, j, len(m.keys))
	}
	return append(dst, m.keys[i:j]...), nil
}

// Sum returns the sum of the digests at positions [i, j).
func (m *MemSet) Sum(i, j int) (Sum, error) {
	if i < 0 || i > j || j > len(m.keys) {
		return Sum{}, fmt.Errorf("reconcile: positions [%d, %d) outside a set of %d", i, j, len(m.keys))
	}
	return m.pre[j].Sub(m.pre[i]), nil
}
