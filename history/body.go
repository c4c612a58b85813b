package history

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// Body limits. Bodies up to ChunkThreshold are one raw block; larger ones
// are split into content-defined chunks so that a small edit of a large
// page stores and sends only the chunks it touched.
const (
	ChunkThreshold = 256 << 10
	MaxBodySize    = 64 << 20
	minChunk       = 16 << 10
	maxChunk       = 256 << 10
	chunkMask      = (1 << 16) - 1 // about 64 KiB average past minChunk
)

// ErrInvalidUTF8 is returned for a body that is not UTF-8 text.
var ErrInvalidUTF8 = errors.New("body is not valid UTF-8")

// chunkList is the dag-cbor node that lists a large body's chunks in order.
type chunkList struct {
	Chunks []Link `cbor:"chunks"`
	Size   uint64 `cbor:"size"`
}

// BodyBlocks encodes text as body blocks. The first block is the root the
// revision's Body field names; for a chunked body the chunks follow it.
func BodyBlocks(text string) ([]Block, error) {
	if !utf8.ValidString(text) {
		return nil, ErrInvalidUTF8
	}
	if len(text) > MaxBodySize {
		return nil, fmt.Errorf("body is %d bytes, the limit is %d", len(text), MaxBodySize)
	}
	if len(text) <= ChunkThreshold {
		return []Block{NewBlock(CodecRaw, []byte(text))}, nil
	}
	var list chunkList
	blocks := []Block{{}}
	for _, piece := range splitChunks([]byte(text)) {
		b := NewBlock(CodecRaw, piece)
		list.Chunks = append(list.Chunks, Link{b.Cid})
		blocks = append(blocks, b)
	}
	list.Size = uint64(len(text))
	data, err := encMode.Marshal(&list)
	if err != nil {
		return nil, err
	}
	blocks[0] = NewBlock(CodecDagCBOR, data)
	return blocks, nil
}

// decodeChunkList parses a body root that is a chunk list.
func decodeChunkList(data []byte) (*chunkList, error) {
	var l chunkList
	if err := decodeCanonical(data, &l); err != nil {
		return nil, fmt.Errorf("%w: chunk list: %v", ErrMalformed, err)
	}
	if len(l.Chunks) == 0 || l.Size > MaxBodySize {
		return nil, fmt.Errorf("%w: chunk list of %d chunks, %d bytes", ErrMalformed, len(l.Chunks), l.Size)
	}
	for _, c := range l.Chunks {
		if c.Prefix().Codec != CodecRaw {
			return nil, fmt.Errorf("%w: chunk %s is not raw", ErrMalformed, c.Cid)
		}
	}
	return &l, nil
}

// joinChunks reassembles a chunked body given a way to read each chunk.
func joinChunks(l *chunkList, get func(cid.Cid) ([]byte, error)) (string, error) {
	var sb strings.Builder
	sb.Grow(int(l.Size))
	for _, c := range l.Chunks {
		b, err := get(c.Cid)
		if err != nil {
			return "", err
		}
		sb.Write(b)
	}
	if uint64(sb.Len()) != l.Size {
		return "", fmt.Errorf("%w: chunked body is %d bytes, list says %d", ErrMalformed, sb.Len(), l.Size)
	}
	return sb.String(), nil
}

// gear is a fixed table for the gear rolling hash; it is generated from a
// constant seed so chunk boundaries (and so CIDs) never change.
var gear = func() (t [256]uint64) {
	x := uint64(0x9E3779B97F4A7C15)
	for i := range t {
		x += 0x9E3779B97F4A7C15 // splitmix64
		z := x
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		t[i] = z ^ (z >> 31)
	}
	return t
}()

// splitChunks cuts data at content-defined boundaries (gear hash), so an
// insertion shifts only the chunk it lands in.
func splitChunks(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := len(data)
		if n > minChunk {
			end := min(n, maxChunk)
			cut := end
			var h uint64
			for i := minChunk; i < end; i++ {
				h = (h << 1) + gear[data[i]]
				if h&chunkMask == 0 {
					cut = i + 1
					break
				}
			}
			n = cut
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}
