package history

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/klauspost/compress/zstd"
)

// A sync carries a history in the sender's storage encoding ("packed"):
// a body as zstd, or as a delta against a block the same stream carried
// shortly before. A fresh replica's sync of a long history then moves a
// fraction of the bytes, the sender does not rebuild every version from
// its deltas and the receiver does not work the deltas out again: it
// rebuilds each block (which it must, to check its CID) and stores the
// encoding it was sent.
//
// Which earlier blocks a delta may name is fixed by the protocol, so that
// the sender knows what the receiver still holds: the window is the last
// PackWindowBlocks blocks of the stream, fewer while their decoded sizes
// add up to more than PackWindowBytes (both sides count the same blocks).
// The byte bound is what a receiver holds per stream: a delta's base is
// almost always the version just before it, so a small window loses
// little.
const (
	PackWindowBlocks = 1024
	PackWindowBytes  = 8 << 20
)

// Packed is a block as a sync carries it.
type Packed struct {
	Cid cid.Cid
	// Enc is the storage encoding of Data (0 plain: Data is the block).
	Enc uint8
	// Base is the block a delta encoding is against; undefined otherwise.
	Base cid.Cid
	Data []byte
}

// ErrBadPacking marks a packed block that cannot be unpacked: unknown
// encoding, a base outside the window, or a corrupt delta or zstd frame.
var ErrBadPacking = errors.New("bad packed block")

// isDeltaEnc reports whether enc is a delta against a base block.
func isDeltaEnc(enc int) bool { return enc == encDelta || enc == encDeltaZstd }

// packWindow is the protocol's window of recent blocks, as the sender
// (sizes only) or the receiver (with the decoded bytes) keeps it.
type packWindow struct {
	ring  []cid.Cid // oldest first
	size  map[cid.Cid]int
	data  map[cid.Cid][]byte // receiver only
	bytes int
}

func newPackWindow(keepData bool) *packWindow {
	w := &packWindow{size: map[cid.Cid]int{}}
	if keepData {
		w.data = map[cid.Cid][]byte{}
	}
	return w
}

func (w *packWindow) has(c cid.Cid) bool {
	_, ok := w.size[c]
	return ok
}

// add records a block the stream carried (a repeat changes nothing).
func (w *packWindow) add(c cid.Cid, size int, data []byte) {
	if w.has(c) {
		return
	}
	w.ring = append(w.ring, c)
	w.size[c] = size
	if w.data != nil {
		w.data[c] = data
	}
	w.bytes += size
	for len(w.ring) > PackWindowBlocks || (w.bytes > PackWindowBytes && len(w.ring) > 1) {
		old := w.ring[0]
		w.ring = w.ring[1:]
		w.bytes -= w.size[old]
		delete(w.size, old)
		if w.data != nil {
			delete(w.data, old)
		}
	}
	if cap(w.ring) > 4*PackWindowBlocks {
		w.ring = append([]cid.Cid(nil), w.ring...) // let the dropped front go
	}
}

// zwire decodes zstd frames from peers: nothing may claim more memory than
// a delta of the largest block can need.
var zwire = func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(2*MaxBlockSize))
	if err != nil {
		panic(err)
	}
	return d
}()

// Unpacker rebuilds the blocks of one sync stream, in stream order.
type Unpacker struct {
	w *packWindow
}

// NewUnpacker returns an Unpacker for a new stream.
func NewUnpacker() *Unpacker { return &Unpacker{w: newPackWindow(true)} }

// Unpack rebuilds a packed block's bytes. It checks neither the CID nor
// the size limit: Check does.
func (u *Unpacker) Unpack(p Packed) (Block, error) {
	var data []byte
	switch enc := int(p.Enc); {
	case enc == encPlain:
		if p.Base.Defined() {
			return Block{}, fmt.Errorf("%w: %s: a plain block with a base", ErrBadPacking, p.Cid)
		}
		data = p.Data
	case enc == encZstd:
		if p.Base.Defined() {
			return Block{}, fmt.Errorf("%w: %s: a zstd block with a base", ErrBadPacking, p.Cid)
		}
		var err error
		if data, err = zwire.DecodeAll(p.Data, nil); err != nil {
			return Block{}, fmt.Errorf("%w: %s: %v", ErrBadPacking, p.Cid, err)
		}
	case isDeltaEnc(enc):
		base, ok := u.w.data[p.Base]
		if !ok {
			return Block{}, fmt.Errorf("%w: %s: base %s is not among the stream's recent blocks", ErrBadPacking, p.Cid, p.Base)
		}
		var err error
		if data, err = undelta(zwire, enc, base, p.Data); err != nil {
			return Block{}, fmt.Errorf("%w: %s: %v", ErrBadPacking, p.Cid, err)
		}
	default:
		return Block{}, fmt.Errorf("%w: %s: unknown encoding %d", ErrBadPacking, p.Cid, p.Enc)
	}
	u.w.add(p.Cid, len(data), data)
	return Block{Cid: p.Cid, Data: data}, nil
}

// CheckPacked is Check for a batch of a sync stream: it unpacks the
// blocks (in stream order, so one Unpacker per stream and batches in
// order), checks them, and keeps their encodings for the store to reuse.
func (s *Store) CheckPacked(u *Unpacker, batch []Packed) (*Checked, error) {
	blocks := make([]Block, len(batch))
	for i, p := range batch {
		b, err := u.Unpack(p)
		if err != nil {
			return nil, err
		}
		blocks[i] = b
	}
	revs, others, err := s.checkBlocks(blocks, false)
	if err != nil {
		return nil, err
	}
	pre := map[cid.Cid]encoded{}
	for _, p := range batch {
		if p.Enc != encPlain {
			pre[p.Cid] = encoded{enc: int(p.Enc), base: p.Base, data: p.Data}
		}
	}
	preEncode(revs, others, pre)
	return &Checked{revs: revs, others: others, pre: pre}, nil
}
