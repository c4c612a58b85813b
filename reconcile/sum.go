package reconcile

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"math/bits"
)

// SumSize is the size of a Sum in bytes: 512 bits (see the package
// documentation, "Fingerprints", for why not 256).
const SumSize = 64

// FingerprintSize is the size of a range's fingerprint on the wire.
const FingerprintSize = 16

// SaltSize is the size of a session's salt.
const SaltSize = 16

// Sum is the sum, modulo 2^512, of the digests of some items: the value a
// Set keeps per range (or per prefix) so that any range's fingerprint
// costs one subtraction and one hash. The zero value is the sum of no
// items.
type Sum struct {
	w [8]uint64 // little-endian limbs
}

// Digest returns the item's digest: SHA-512 of a domain string and the
// key, read as a little-endian number. Every replica must compute it
// alike; a store keeps it (or sums of it) next to the key.
func Digest(k Key) Sum {
	h := sha512.New()
	h.Write([]byte("peerwiki/reconcile/item/1\x00"))
	h.Write(k[:])
	var b [SumSize]byte
	h.Sum(b[:0])
	return SumFromBytes(b)
}

// Add returns s + t modulo 2^512.
func (s Sum) Add(t Sum) Sum {
	var c uint64
	for i := range s.w {
		s.w[i], c = bits.Add64(s.w[i], t.w[i], c)
	}
	return s
}

// Sub returns s - t modulo 2^512.
func (s Sum) Sub(t Sum) Sum {
	var b uint64
	for i := range s.w {
		s.w[i], b = bits.Sub64(s.w[i], t.w[i], b)
	}
	return s
}

// Bytes returns the sum as 64 little-endian bytes, for a store to keep.
func (s Sum) Bytes() [SumSize]byte {
	var b [SumSize]byte
	for i, w := range s.w {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return b
}

// SumFromBytes is the inverse of Bytes.
func SumFromBytes(b [SumSize]byte) Sum {
	var s Sum
	for i := range s.w {
		s.w[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return s
}

// fingerprint is what a range's items look like on the wire: SHA-256 of a
// domain string, the session's salt, the sum of their digests and their
// count, cut to 16 bytes.
func fingerprint(salt *[SaltSize]byte, s Sum, count int) [FingerprintSize]byte {
	var buf [27 + SaltSize + SumSize + binary.MaxVarintLen64]byte
	b := append(buf[:0], "peerwiki/reconcile/range/1\x00"...)
	b = append(b, salt[:]...)
	sb := s.Bytes()
	b = append(b, sb[:]...)
	b = binary.AppendUvarint(b, uint64(count))
	h := sha256.Sum256(b)
	var fp [FingerprintSize]byte
	copy(fp[:], h[:])
	return fp
}
