package history

import (
	"encoding/binary"
	"errors"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// A storage delta encodes a block's bytes as copies from a base block and
// literal runs. It is a local storage detail (never sent, never hashed):
// consecutive revisions of a page differ by a few lines, so storing each
// body as a delta against its parent's body keeps a long history small.
//
// Format: uvarint(target length), then ops until the end:
// uvarint(n<<1) + n literal bytes, or uvarint(n<<1|1) + uvarint(offset)
// to copy n bytes of the base from offset.

const deltaWindow = 16

var errBadDelta = errors.New("corrupt storage delta")

// makeDelta encodes target against base.
func makeDelta(base, target []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(target)))
	if len(base) < deltaWindow || len(target) < deltaWindow {
		return appendLiteral(out, target)
	}
	index := newWindowIndex(base)
	defer index.free()
	lit := 0 // start of the pending literal run
	j := 0
	var h uint64
	rolling := false
	for j+deltaWindow <= len(target) {
		if !rolling {
			h = windowHash(target[j : j+deltaWindow])
			rolling = true
		}
		if off, ok := index.find(h, base, target[j:j+deltaWindow]); ok {
			s, t := off, j
			for s > 0 && t > lit && base[s-1] == target[t-1] {
				s--
				t--
			}
			e, f := off+deltaWindow, j+deltaWindow
			for e < len(base) && f < len(target) && base[e] == target[f] {
				e++
				f++
			}
			out = appendLiteral(out, target[lit:t])
			out = binary.AppendUvarint(out, uint64(f-t)<<1|1)
			out = binary.AppendUvarint(out, uint64(s))
			j, lit = f, f
			rolling = false
			continue
		}
		if j+deltaWindow < len(target) {
			h = rollHash(h, target[j], target[j+deltaWindow])
		}
		j++
	}
	return appendLiteral(out, target[lit:])
}

// windowIndex finds a window of base by its hash: a table of offsets
// (plus one; zero is empty) addressed by the hash's top bits, at most a
// quarter full, a window that finds its slot taken put in the next one
// (or dropped: the delta then may miss a match, never makes a wrong one).
// Every edit, and a bundle's import, makes a delta of each block: a Go map
// made and filled for each cost more than finding the matches.
type windowIndex struct {
	slots []int32
	shift uint
	mask  uint64
}

// windowTables are windowIndex tables to reuse.
var windowTables sync.Pool

func newWindowIndex(base []byte) windowIndex {
	bits := uint(6)
	for 1<<bits < 4*(len(base)/deltaWindow+1) {
		bits++
	}
	var slots []int32
	if t, ok := windowTables.Get().(*[]int32); ok && cap(*t) >= 1<<bits {
		slots = (*t)[:1<<bits]
		clear(slots)
	} else {
		if ok {
			windowTables.Put(t)
		}
		slots = make([]int32, 1<<bits)
	}
	x := windowIndex{slots: slots, shift: 64 - bits, mask: 1<<bits - 1}
	for i := 0; i+deltaWindow <= len(base); i += deltaWindow {
		k := x.slot(windowHash(base[i : i+deltaWindow]))
		if x.slots[k] == 0 {
			x.slots[k] = int32(i) + 1
		} else if k1 := (k + 1) & x.mask; x.slots[k1] == 0 {
			x.slots[k1] = int32(i) + 1
		}
	}
	return x
}

func (x windowIndex) slot(h uint64) uint64 { return (h * 0x9e3779b97f4a7c15) >> x.shift }

// find returns the offset of a window of base equal to w, whose hash is h.
func (x windowIndex) find(h uint64, base, w []byte) (int, bool) {
	k := x.slot(h)
	for range 2 {
		v := int(x.slots[k])
		if v == 0 {
			return 0, false
		}
		if string(base[v-1:v-1+deltaWindow]) == string(w) {
			return v - 1, true
		}
		k = (k + 1) & x.mask
	}
	return 0, false
}

// free gives the table back for reuse.
func (x windowIndex) free() { windowTables.Put(&x.slots) }

func appendLiteral(out, lit []byte) []byte {
	if len(lit) == 0 {
		return out
	}
	out = binary.AppendUvarint(out, uint64(len(lit))<<1)
	return append(out, lit...)
}

// undelta rebuilds a block stored (or sent) as a delta of encoding enc
// against base, undoing the delta's zstd with dec for encDeltaZstd.
func undelta(dec *zstd.Decoder, enc int, base, data []byte) ([]byte, error) {
	if enc == encDeltaZstd {
		var err error
		if data, err = dec.DecodeAll(data, nil); err != nil {
			return nil, err
		}
	}
	return applyDelta(base, data)
}

// applyDelta rebuilds the target from base and a delta made by makeDelta.
func applyDelta(base, delta []byte) ([]byte, error) {
	n, k := binary.Uvarint(delta)
	if k <= 0 || n > MaxBlockSize {
		return nil, errBadDelta
	}
	delta = delta[k:]
	out := make([]byte, 0, n)
	for len(delta) > 0 {
		op, k := binary.Uvarint(delta)
		if k <= 0 {
			return nil, errBadDelta
		}
		delta = delta[k:]
		size := op >> 1
		if op&1 == 0 {
			if size > uint64(len(delta)) {
				return nil, errBadDelta
			}
			out = append(out, delta[:size]...)
			delta = delta[size:]
			continue
		}
		off, k := binary.Uvarint(delta)
		if k <= 0 || off > uint64(len(base)) || size > uint64(len(base))-off {
			return nil, errBadDelta
		}
		delta = delta[k:]
		out = append(out, base[off:off+size]...)
	}
	if uint64(len(out)) != n {
		return nil, errBadDelta
	}
	return out, nil
}

// Rabin-Karp hash over deltaWindow bytes, base hashPrime, modulo 2^64.
const hashPrime = 1099511628211

var hashOut = func() uint64 { // hashPrime^(deltaWindow-1)
	p := uint64(1)
	for i := 0; i < deltaWindow-1; i++ {
		p *= hashPrime
	}
	return p
}()

func windowHash(b []byte) uint64 {
	var h uint64
	for _, c := range b {
		h = h*hashPrime + uint64(c)
	}
	return h
}

func rollHash(h uint64, out, in byte) uint64 {
	return (h-uint64(out)*hashOut)*hashPrime + uint64(in)
}
