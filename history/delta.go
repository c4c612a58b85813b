package history

import (
	"encoding/binary"
	"errors"

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
	index := make(map[uint64]int32, len(base)/deltaWindow+1)
	for i := 0; i+deltaWindow <= len(base); i += deltaWindow {
		h := windowHash(base[i : i+deltaWindow])
		if _, ok := index[h]; !ok {
			index[h] = int32(i)
		}
	}
	lit := 0 // start of the pending literal run
	j := 0
	var h uint64
	rolling := false
	for j+deltaWindow <= len(target) {
		if !rolling {
			h = windowHash(target[j : j+deltaWindow])
			rolling = true
		}
		if off, ok := index[h]; ok && string(base[off:int(off)+deltaWindow]) == string(target[j:j+deltaWindow]) {
			s, t := int(off), j
			for s > 0 && t > lit && base[s-1] == target[t-1] {
				s--
				t--
			}
			e, f := int(off)+deltaWindow, j+deltaWindow
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
