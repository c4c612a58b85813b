package reconcile

import (
	"crypto/sha256"
	"encoding/binary"
)

// key returns a key derived from n, spread over the key space like the
// hashes callers use.
func key(n uint64) Key {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return Key(sha256.Sum256(b[:]))
}

// keys returns the keys of the numbers [from, to).
func keys(from, to uint64) []Key {
	out := make([]Key, 0, to-from)
	for n := from; n < to; n++ {
		out = append(out, key(n))
	}
	return out
}

// pageKey is the key a caller would give (page, head): the first 8 bytes
// from the page alone, so that a page's heads sit side by side, the rest
// from both.
func pageKey(page, head uint64) Key {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], page)
	p := sha256.Sum256(b[:8])
	binary.BigEndian.PutUint64(b[8:], head)
	ph := sha256.Sum256(b[:])
	var k Key
	copy(k[:8], p[:8])
	copy(k[8:], ph[:24])
	return k
}

// pages returns the keys of n pages of one head each.
func pages(n int) []Key {
	out := make([]Key, n)
	for p := range out {
		out[p] = pageKey(uint64(p), 0)
	}
	return out
}
