package reconcile

import "bytes"

// KeySize is the size of an item's key in bytes.
const KeySize = 32

// Key identifies one item of a set. Keys are ordered bytewise (as
// big-endian numbers); a set holds each key at most once.
type Key [KeySize]byte

// Compare returns -1, 0 or +1 as k sorts before, equal to or after o.
func (k Key) Compare(o Key) int { return bytes.Compare(k[:], o[:]) }

// bound is an edge of a range of the key space: a key, or the end of the
// space (above every key). A range [lo, hi) holds the keys k with
// lo <= k < hi; lo is never the end.
type bound struct {
	key Key
	end bool
}

// endBound is the upper edge of the whole key space.
var endBound = bound{end: true}

// less reports whether b sorts strictly before o.
func (b bound) less(o bound) bool {
	if b.end {
		return false
	}
	return o.end || b.key.Compare(o.key) < 0
}

// above reports whether k sorts before b (k is inside a range ending at b).
func (b bound) above(k Key) bool { return b.end || k.Compare(b.key) < 0 }

// between returns the shortest bound b with a < b <= c, for keys a < c:
// the first bytes of c up to and including the first byte where it
// differs from a, then zeros. Its last non-zero byte is that byte, so
// the encoding (prefixLen) is canonical.
func between(a, c Key) Key {
	var b Key
	for i := range c {
		b[i] = c[i]
		if c[i] != a[i] {
			break
		}
	}
	return b
}

// prefixLen is how many leading bytes of a bound's key are sent: up to
// its last non-zero byte (the rest are zeros).
func prefixLen(k Key) int {
	n := KeySize
	for n > 0 && k[n-1] == 0 {
		n--
	}
	return n
}
