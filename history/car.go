package history

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// CAR v1 bundles (https://ipld.io/specs/transport/car/carv1/): a
// varint-prefixed dag-cbor header {roots, version: 1}, then one section a
// block, varint(len(CID)+len(data)) CID data. Written here rather than with
// go-car, whose IPLD stack every command would pay for in package
// initialisation; test/ reads our files with go-car's own reader.
//
// A bundle carries blocks whole, as they are hashed (never the storage
// encoding), in the order a sync sends them: parents first, a chunked
// body's chunks before its chunk list, each body before the first
// revision naming it. So a receiver can Put them in file order.

// ErrBadCAR is returned for a file that is not a CAR v1 peerwiki can read.
var ErrBadCAR = errors.New("not a CAR v1 file")

// maxCARHeader bounds the header a reader accepts: its roots are a head
// set, at most a few million CIDs of about 36 bytes.
const maxCARHeader = 256 << 20

// carDecMode decodes a CAR header: a head set may hold more CIDs than
// any revision's array may.
// Made at first use: every command would pay for it at start-up.
var carDecMode = sync.OnceValue(func() cbor.DecMode {
	m, err := cbor.DecOptions{IndefLength: cbor.IndefLengthForbidden, MaxArrayElements: maxCARHeader / 36, MaxMapPairs: 16}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
})

// carHeader is the CAR v1 header; canonical dag-cbor sorts "roots" first.
type carHeader struct {
	Roots   []Link `cbor:"roots"`
	Version uint64 `cbor:"version"`
}

// CARExport says what ExportCAR wrote.
type CARExport struct {
	Roots     int // the head set named in the header
	Revisions int
	Blocks    int
	Bytes     int64
}

// ExportCAR writes a CAR v1 bundle of the blocks reachable from this
// store's heads and not from since (revisions the receiver holds: none for
// everything) to w. Its roots are this store's heads.
func (s *Store) ExportCAR(ctx context.Context, w io.Writer, since []cid.Cid) (CARExport, error) {
	var out CARExport
	for _, c := range since {
		if ok, err := s.Has(ctx, c); err != nil {
			return out, err
		} else if !ok {
			return out, fmt.Errorf("--since %s: %w", c, ErrNotFound)
		}
	}
	heads, err := s.HeadSet(ctx)
	if err != nil {
		return out, err
	}
	plan, err := s.PlanSync(ctx, since)
	if err != nil {
		return out, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &carWriter{w: bw}
	if err := cw.header(heads); err != nil {
		return out, err
	}
	err = s.SendPlan(ctx, plan, func(b Block) error {
		out.Blocks++
		return cw.block(b)
	})
	if err != nil {
		return out, err
	}
	if err := bw.Flush(); err != nil {
		return out, err
	}
	out.Roots, out.Revisions, out.Bytes = len(heads), plan.Revisions(), cw.n
	return out, nil
}

// carWriter writes CAR v1 sections, counting bytes.
type carWriter struct {
	w   io.Writer
	n   int64
	len [binary.MaxVarintLen64]byte
}

func (cw *carWriter) section(parts ...[]byte) error {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	k := binary.PutUvarint(cw.len[:], uint64(size))
	if _, err := cw.w.Write(cw.len[:k]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := cw.w.Write(p); err != nil {
			return err
		}
	}
	cw.n += int64(k + size)
	return nil
}

func (cw *carWriter) header(roots []cid.Cid) error {
	h := carHeader{Version: 1, Roots: make([]Link, len(roots))}
	for i, r := range roots {
		h.Roots[i] = Link{r}
	}
	data, err := encMode.Marshal(h)
	if err != nil {
		return fmt.Errorf("CAR header: %w", err)
	}
	return cw.section(data)
}

func (cw *carWriter) block(b Block) error { return cw.section(b.Cid.Bytes(), b.Data) }

// CARReader reads the blocks of a CAR v1 stream one by one. It checks the
// framing and that each CID is one peerwiki accepts, and bounds sizes; a
// block's bytes are checked against its CID by Put, like any block from
// outside.
type CARReader struct {
	r *bufio.Reader
	// Roots are the CIDs the header names.
	Roots []cid.Cid
	// Offset is how many bytes have been read.
	Offset int64
}

// NewCARReader reads the header of a CAR v1 stream.
func NewCARReader(r io.Reader) (*CARReader, error) {
	cr := &CARReader{r: bufio.NewReaderSize(r, 1<<20)}
	data, err := cr.section(maxCARHeader)
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty file", ErrBadCAR)
	} else if err != nil {
		return nil, err
	}
	var h carHeader
	if err := carDecMode().Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadCAR, err)
	}
	if h.Version != 1 {
		return nil, fmt.Errorf("%w: version %d (only version 1 is read)", ErrBadCAR, h.Version)
	}
	for _, l := range h.Roots {
		cr.Roots = append(cr.Roots, l.Cid)
	}
	return cr, nil
}

// section reads one varint-prefixed section of at most limit bytes; io.EOF
// only at a clean end between sections.
func (cr *CARReader) section(limit int) ([]byte, error) {
	start := cr.Offset
	n, err := binary.ReadUvarint(byteCounter{cr})
	if err == io.EOF && cr.Offset == start {
		return nil, io.EOF
	} else if err != nil {
		return nil, fmt.Errorf("%w: section length at byte %d: %v", ErrBadCAR, start, err)
	}
	if n == 0 || n > uint64(limit) {
		return nil, fmt.Errorf("%w: section of %d bytes at byte %d (at most %d)", ErrBadCAR, n, start, limit)
	}
	data := make([]byte, n)
	k, err := io.ReadFull(cr.r, data)
	cr.Offset += int64(k)
	if err != nil {
		return nil, fmt.Errorf("%w: section at byte %d cut short: %v", ErrBadCAR, start, err)
	}
	return data, nil
}

// byteCounter reads single bytes for ReadUvarint, counting them.
type byteCounter struct{ cr *CARReader }

func (b byteCounter) ReadByte() (byte, error) {
	c, err := b.cr.r.ReadByte()
	if err == nil {
		b.cr.Offset++
	}
	return c, err
}

// Next returns the next block, or io.EOF after the last.
func (cr *CARReader) Next() (Block, error) {
	start := cr.Offset
	data, err := cr.section(MaxBlockSize + 128)
	if err != nil {
		return Block{}, err
	}
	k, c, err := cid.CidFromBytes(data)
	if err != nil {
		return Block{}, fmt.Errorf("%w: block at byte %d: %v", ErrBadCAR, start, err)
	}
	if err := CheckCID(c); err != nil {
		return Block{}, fmt.Errorf("block at byte %d: %w", start, err)
	}
	return Block{Cid: c, Data: data[k:]}, nil
}
