package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"

	"peerwiki/history"
)

// SyncProtocol is the libp2p protocol id of the sync protocol.
//
// One stream per sync. Every frame is an unsigned-varint length and that
// many bytes (msgio), at most MaxFrame; its first byte says what it is.
// The asker opens in one of two modes, by the size of its head set.
//
// Reconciliation (more than listHeads heads): the two sides find the
// difference of their sets of (page, head) pairs with range-based set
// reconciliation (reconcile/, keys as headKey makes them), then
// exchange the heads in the difference and the blocks they need:
//
//	asker → answerer   HELLO  {v, wiki, r}     r = reconcile's first message
//	then, in turn      RECON  reconcile message (raw bytes), until one side's
//	                     message leaves no range open: it stops after
//	                     sending it, the other on reading it
//	if the sets are equal, nothing more: the stream is closed
//	asker → answerer   DIFF {n, heads} HEADS*  its heads the answerer lacks
//	                     (split as a head set is, below)
//	answerer → asker   (BLOCK|PACKED)* END {revs, blocks, want, n, heads} HEADS*
//	                     the blocks as below; heads = its heads the asker
//	                     lacks, sent only when want > 0
//	then as in the list mode, from "if want > 0"
//
// List (at most listHeads heads, one round trip when one side alone has
// something new):
//
//	asker → answerer   HELLO  {v, wiki, sum, heads}
//	                     sum = history.HeadsHash(all heads), at most
//	                     maxListHeads of them (more is a protocol violation)
//	answerer → asker   EQUAL                               same sum: nothing else is sent
//	               or  (BLOCK|PACKED)* END {revs, blocks, want, lack, n, heads} HEADS*
//	                     BLOCK = uvarint(len(cid)) cid bytes; every revision
//	                     reachable from the answerer's heads and not from
//	                     the asker's heads it knows, by page, parents first,
//	                     each right after the body blocks it names
//	                     PACKED = uvarint(len(cid)) cid, encoding byte,
//	                     uvarint(len(base)) base cid (or 0), data: a block
//	                     in the sender's storage encoding (history.Packed),
//	                     a delta naming a block of the stream's window
//	                     want = how many of the asker's heads it lacks;
//	                     heads = its heads the asker lacks and lack = the
//	                     positions in the HELLO's list of the asker's heads
//	                     that are not its heads, sent only when want > 0;
//	                     a head set larger than one frame holds (heads,
//	                     here and in DIFF) goes as its first headsPerFrame
//	                     heads, n = how many in all, and the rest in HEADS
//	                     {heads} frames (n is left out when one frame
//	                     carries them all)
//	if want > 0:
//	asker → answerer   (BLOCK|PACKED)* END {revs, blocks}   the same computation the other way
//	answerer → asker   DONE {revs, err}
//	any side           ERROR "message"                      then the stream is closed
//
// So a sync of equal replicas is one round trip and about 70 bytes (the
// list mode: 40 bytes a head); k differences cost bytes in proportion to
// k (and log n) in the round trips the reconciliation takes (4 at
// 100,000 heads). Structured payloads are CBOR.
const SyncProtocol = protocol.ID("/peerwiki/sync/1.0.0")

// frameTimeout is how long a peer may keep us waiting for one frame (a
// variable only for tests).
var frameTimeout = 15 * time.Second

// Limits of the sync protocol.
const (
	// MaxFrame bounds every frame: a block (history.MaxBlockSize) with
	// room to spare, or headsPerFrame heads.
	MaxFrame = 4 << 20
	// syncTimeout bounds a whole sync (a first clone of a big wiki is the
	// longest).
	syncTimeout = 10 * time.Minute
	// firstBatch, batchBlocks and batchBytes size the batches a sync's
	// receiver checks and stores: a dropped connection keeps every
	// finished batch (or group of them: see batchGroup), and a write never
	// blocks the repo's other users for long. Batches start small, so
	// that storing starts soon, and double up to batchBlocks. A batch was
	// a transaction, where 2,000 rather than 500 took a sixth off a
	// 10,000-revision clone; with batches grouped into transactions, 1,000
	// cost a 100,000-page shallow join no time and held less memory (the
	// pipeline holds five batches).
	firstBatch  = 250
	batchBlocks = 1000
	// mergeSearchAfter is how many revisions a sync must bring for the
	// search index to be merged at its end (see MergeSearchIndex).
	mergeSearchAfter = 500
	batchBytes       = 8 << 20
	// headsPerFrame is how many heads one HELLO, END or HEADS frame
	// carries at most: 38 bytes each in CBOR, 3.8 MB, under MaxFrame.
	headsPerFrame = 100_000
	// maxFrameHeads bounds a CBOR array of a frame (headsPerFrame and
	// room to spare); a larger one is a protocol violation.
	maxFrameHeads = 1 << 17
	// maxSyncHeads bounds a whole head set. It is far above any honest
	// wiki (a wiki of 100,000 pages has about as many heads, and its HELLO
	// is 3.8 MB): a larger set is refused with a message, never punished.
	// It also bounds the peers' heads held by all syncs at once (see
	// headPool): 64 bytes a head in memory, 256 MB.
	maxSyncHeads = 4_000_000
)

// protoVersion is the sync version a HELLO carries; peers of another
// version refuse each other with a clear message, nobody banned. It counts
// the rules every replica must compute alike, not only the wire format:
// 2 merges criss-cross heads against the merge of all their common
// ancestors and makes no merge of agreeing heads, so a version-1 peer
// would find some of our automatic merges not recomputing, and the other
// way round. 3 adds PACKED frames.
// 4 carries head sets larger than a frame in HEADS frames, sends a
// chunked body's chunks before its list, and changes rules of the store:
// a child of a revision dated at the end of time may carry that time
// (history.Revision.Stamp), a revision dated over an hour ahead waits
// (history.MaxClockDrift), titles follow history.CheckTitle, a page takes
// at most history.MaxPageHeads heads, and a resolution that named its
// heads' default without its "=" follows the default (carriedPolicy).
// 5: membership instead of a pre-shared key: no private network; a
// replica connects, syncs and gossips only with members of the wiki's
// replicated member list, and a new one joins by redeeming an invite
// (JoinProtocol).
// 6: set reconciliation instead of every head in the HELLO (RECON and
// DIFF frames), and END carries only the heads the asker lacks.
// 7: shallow joins and deepening (shallow.go): a HELLO may ask for the
// current version of every page first, or for the history below a list
// of revisions.
const protoVersion = 7

// Frame types.
const (
	frameHello byte = 1 + iota
	frameEqual
	frameBlock
	frameEnd
	frameDone
	frameError
	framePacked
	frameHeads
	frameRecon
	frameDiff
)

// helloMsg opens a sync. In the list mode it has the shape of a
// version-3 HELLO, so a version-3 peer decodes it and answers that it
// speaks another version rather than finding an unknown field and banning
// the asker; peers of versions 4 and 5 read only v first, and say the
// same of either mode.
//
// With R (the reconciliation mode) it carries no heads, sum or n.
type helloMsg struct {
	V     int      `cbor:"v"`
	Wiki  string   `cbor:"wiki"`
	Sum   []byte   `cbor:"sum,omitempty"`
	N     int      `cbor:"n,omitempty"`
	Heads [][]byte `cbor:"heads,omitempty"`
	R     []byte   `cbor:"r,omitempty"`
	// Shallow (list mode, from a replica with nothing yet) asks for the
	// current version of every page first: shallowUnlessSmall or
	// shallowAlways (see shallow.go).
	Shallow int `cbor:"shallow,omitempty"`
	// Deepen, alone, asks for the history below these revisions.
	Deepen [][]byte `cbor:"deepen,omitempty"`
}

type endMsg struct {
	Revs   int      `cbor:"revs"`
	Blocks int      `cbor:"blocks"`
	Want   int      `cbor:"want,omitempty"`
	Lack   []int    `cbor:"lack,omitempty"`
	N      int      `cbor:"n,omitempty"`
	Heads  [][]byte `cbor:"heads,omitempty"`
}

// diffMsg is a DIFF frame: the first part of the asker's heads that the
// answerer lacks (n in all when more follow in HEADS frames).
type diffMsg struct {
	N     int      `cbor:"n,omitempty"`
	Heads [][]byte `cbor:"heads"`
}

// headsMsg is a HEADS frame: the next part of a head set.
type headsMsg struct {
	Heads [][]byte `cbor:"heads"`
}

type doneMsg struct {
	Revs int    `cbor:"revs"`
	Err  string `cbor:"err,omitempty"`
}

var wireDec = func() cbor.DecMode {
	d, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxArrayElements:  maxFrameHeads,
		MaxMapPairs:       16,
		MaxNestedLevels:   4,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return d
}()

// versionDec reads only the version of a HELLO, before the rest is
// checked strictly: a peer of another version may send fields this one
// does not know, and must be told so, not banned. The frame bounds the
// rest.
var versionDec = func() cbor.DecMode {
	d, err := cbor.DecOptions{IndefLength: cbor.IndefLengthForbidden, MaxArrayElements: MaxFrame, MaxMapPairs: MaxFrame}.DecMode()
	if err != nil {
		panic(err)
	}
	return d
}()

// refusal is a sync this node declined without blame (another sync
// version, a head set over maxSyncHeads, a peer over its share of the
// node): its message goes to the peer as is, and nobody is punished.
// Busy ones are expected under load and logged quietly.
type refusal struct {
	msg  string
	busy bool
}

func (r *refusal) Error() string { return r.msg }

func refuse(format string, a ...any) error { return &refusal{msg: fmt.Sprintf(format, a...)} }

func busy(format string, a ...any) error {
	return &refusal{msg: "busy: " + fmt.Sprintf(format, a...), busy: true}
}

// errProtocol marks a peer that broke the protocol (garbage, oversized or
// out-of-order frames, bad blocks): it gets disconnected and banned.
var errProtocol = errors.New("protocol violation")

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, a...))
}

// frameStream is what frames travel on: a libp2p stream in a node, one
// end of a net.Pipe in tests of the protocol.
type frameStream interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// frameConn reads and writes frames on a stream with deadlines, counting
// bytes and frames. A sync's also keeps its peer to a progressRule.
type frameConn struct {
	s frameStream
	// peer is who is at the other end, for messages.
	peer  peer.ID
	r     msgio.Reader
	bw    *bufio.Writer
	w     msgio.WriteCloser
	stats *wireStats
	// deadline bounds the whole exchange, frameDeadline the frame being
	// read.
	deadline, frameDeadline time.Time
	meter                   *progressMeter // nil: no progress rule
	// heads, when set, is where the peer's heads read are taken from;
	// held counts them, until release.
	heads *headPool
	held  int
	// shallow: this side asked for a shallow sync or for history, so
	// revisions may come without their parents (see shallow.go).
	shallow bool
	// head is writeBlock's buffer for a frame's type and CIDs.
	head []byte
	// last is the last frame read, until recycle gives it back.
	last []byte
}

// headPool bounds the peers' heads that the syncs of a node hold at once
// to maxSyncHeads: peers that each send a large head set, honest or not,
// wait their turn rather than fill the memory.
type headPool struct{ held atomic.Int64 }

func (p *headPool) take(k int) bool {
	if p.held.Add(int64(k)) > maxSyncHeads {
		p.held.Add(-int64(k))
		return false
	}
	return true
}

// release gives back the heads this sync took from its pool.
func (f *frameConn) release() {
	if f.heads != nil {
		f.heads.held.Add(-int64(f.held))
		f.held = 0
	}
}

// wireStats counts what one sync moved.
type wireStats struct {
	FramesIn, FramesOut int
	BytesIn, BytesOut   int64
	// PackedIn and PackedOut count the blocks carried in their storage
	// encoding (PACKED frames).
	PackedIn, PackedOut int
	// BlockBytesIn and BlockBytesOut count the bytes of BLOCK and PACKED
	// frames (length prefix included): the rest of Bytes is the protocol's
	// own cost.
	BlockBytesIn, BlockBytesOut int64
}

// newFrameConn frames a libp2p stream until deadline; meter, when not
// nil, holds the peer to a progress rule.
func newFrameConn(s network.Stream, deadline time.Time, meter *progressMeter) *frameConn {
	return frameOn(s, s.Conn().RemotePeer(), deadline, meter)
}

// frameOn is newFrameConn for any stream, to peer p.
func frameOn(s frameStream, p peer.ID, deadline time.Time, meter *progressMeter) *frameConn {
	f := &frameConn{s: s, peer: p, stats: &wireStats{}, deadline: deadline, frameDeadline: deadline, meter: meter}
	f.bw = bufio.NewWriterSize(streamWriter{f}, 64<<10)
	f.w = msgio.NewVarintWriter(f.bw)
	f.r = msgio.NewVarintReaderSize(bufio.NewReaderSize(streamReader{f}, 64<<10), MaxFrame)
	return f
}

// wait runs one read or write of the stream, which may take until d, as
// a wait on the peer: the progress rule may end it sooner.
func (f *frameConn) wait(d time.Time, setDeadline func(time.Time) error, op func() (int, error)) (int, error) {
	if f.meter == nil {
		_ = setDeadline(d)
		return op()
	}
	if m := f.meter.begin(time.Now()); m.Before(d) {
		d = m
	}
	_ = setDeadline(d)
	n, err := op()
	return n, f.meter.end(time.Now(), n, err)
}

// streamReader reads the stream within the frame's deadline.
type streamReader struct{ f *frameConn }

func (r streamReader) Read(b []byte) (int, error) {
	return r.f.wait(r.f.frameDeadline, r.f.s.SetReadDeadline, func() (int, error) { return r.f.s.Read(b) })
}

// streamWriter counts bytes written to the stream, and gives each write
// (bufio makes them up to 64 KiB) its own deadline, so a peer that stops
// reading cannot hold the writer for the whole sync.
type streamWriter struct{ f *frameConn }

func (w streamWriter) Write(b []byte) (int, error) {
	d := time.Now().Add(frameTimeout)
	if d.After(w.f.deadline) {
		d = w.f.deadline
	}
	n, err := w.f.wait(d, w.f.s.SetWriteDeadline, func() (int, error) { return w.f.s.Write(b) })
	w.f.stats.BytesOut += int64(n)
	return n, err
}

// read returns the next frame's type and payload (valid until the next
// read), which the peer must start sending within frameTimeout.
func (f *frameConn) read() (byte, []byte, error) {
	return f.readWithin(frameTimeout)
}

// readWithin is read for a frame the peer may take up to d to send (an
// answer it waits for something before giving), never past the
// exchange's deadline.
func (f *frameConn) readWithin(d time.Duration) (byte, []byte, error) {
	f.frameDeadline = time.Now().Add(d)
	if f.frameDeadline.After(f.deadline) {
		f.frameDeadline = f.deadline
	}
	msg, err := f.r.ReadMsg()
	f.last = msg
	if err != nil {
		if errors.Is(err, msgio.ErrMsgTooLarge) {
			return 0, nil, protoErr("frame larger than %d bytes", MaxFrame)
		}
		return 0, nil, err
	}
	f.stats.FramesIn++
	f.stats.BytesIn += int64(len(msg)) + int64(varintLen(len(msg)))
	if len(msg) == 0 {
		return 0, nil, protoErr("empty frame")
	}
	if msg[0] == framePacked {
		f.stats.PackedIn++
	}
	if msg[0] == framePacked || msg[0] == frameBlock {
		f.stats.BlockBytesIn += int64(len(msg)) + int64(varintLen(len(msg)))
	}
	return msg[0], msg[1:], nil
}

// recycle gives the last frame read back to the reader's buffer pool,
// for a caller that copied what it keeps of it (a block): the reader's
// next frame reuses it instead of allocating. Unrecycled, the frames of
// a 100,000-page join allocated 0.7 GB for the collector to sweep.
func (f *frameConn) recycle() {
	if f.last != nil {
		f.r.ReleaseMsg(f.last)
		f.last = nil
	}
}

func varintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// write queues a frame; flush sends what is queued.
func (f *frameConn) write(t byte, payload []byte) error {
	buf := make([]byte, 0, len(payload)+1)
	buf = append(buf, t)
	buf = append(buf, payload...)
	f.stats.FramesOut++
	return f.w.WriteMsg(buf)
}

func (f *frameConn) writeCBOR(t byte, v any) error {
	b, err := cbor.Marshal(v)
	if err != nil {
		return err
	}
	return f.write(t, b)
}

// writeBlock queues a BLOCK frame (a PACKED one when b is encoded). The
// frame goes into the buffered writer in pieces, its length first, as
// msgio frames it: a copy of every block into a frame of its own, and
// msgio's copy of that, were a third of a large send's allocations.
func (f *frameConn) writeBlock(b history.Packed) error {
	cb := b.Cid.Bytes()
	// The frame's length goes before the header, in the room left at
	// the front of head.
	const room = binary.MaxVarintLen64
	h := append(f.head[:0], make([]byte, room)...)
	if b.Enc == 0 {
		h = append(h, frameBlock)
		h = binary.AppendUvarint(h, uint64(len(cb)))
		h = append(h, cb...)
	} else {
		f.stats.PackedOut++
		h = append(h, framePacked)
		h = binary.AppendUvarint(h, uint64(len(cb)))
		h = append(h, cb...)
		h = append(h, b.Enc)
		var base []byte
		if b.Base.Defined() {
			base = b.Base.Bytes()
		}
		h = binary.AppendUvarint(h, uint64(len(base)))
		h = append(h, base...)
	}
	f.head = h
	n := len(h) - room + len(b.Data)
	k := varintLen(n)
	binary.PutUvarint(h[room-k:], uint64(n))
	f.stats.FramesOut++
	f.stats.BlockBytesOut += int64(n + k)
	if _, err := f.bw.Write(h[room-k:]); err != nil {
		return err
	}
	_, err := f.bw.Write(b.Data)
	return err
}

// ErrPeerBusy marks a peer's refusal for want of room (every sync slot
// taken, or this node over its share of the peer's work): not an error of
// either side, and worth trying again later.
var ErrPeerBusy = errors.New("the peer is busy")

// peerError is the error an ERROR frame from the peer reports.
func (f *frameConn) peerError(payload []byte) error {
	msg := clip(string(payload))
	if strings.HasPrefix(msg, "busy: ") {
		return fmt.Errorf("peer %s: %w", f.peer, peerBusy(msg))
	}
	return fmt.Errorf("peer %s: %s", f.peer, msg)
}

// peerBusy is a busy refusal's message, which is ErrPeerBusy.
type peerBusy string

func (e peerBusy) Error() string        { return string(e) }
func (e peerBusy) Is(target error) bool { return target == ErrPeerBusy }

func (f *frameConn) writeError(msg string) {
	_ = f.write(frameError, []byte(msg))
	_ = f.flush()
}

func (f *frameConn) flush() error { return f.bw.Flush() }

// decodeBlock parses a BLOCK payload (or, packed, a PACKED one). The CID
// and size checks come with the batch's (history.Store.CheckPacked). The
// block holds copies of what it takes of p (see frameConn.recycle).
func decodeBlock(p []byte, packed bool) (history.Packed, error) {
	c, p, err := cutCID(p, "block")
	if err != nil {
		return history.Packed{}, err
	}
	b := history.Packed{Cid: c}
	if packed {
		if len(p) == 0 {
			return history.Packed{}, protoErr("malformed packed block frame")
		}
		b.Enc, p = p[0], p[1:]
		if len(p) > 0 && p[0] == 0 {
			p = p[1:]
		} else if b.Base, p, err = cutCID(p, "base"); err != nil {
			return history.Packed{}, err
		}
	}
	b.Data = append([]byte(nil), p...)
	return b, nil
}

// cutCID parses uvarint(len(cid)) cid bytes off the front of p.
func cutCID(p []byte, what string) (cid.Cid, []byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n == 0 || n > 128 || uint64(len(p)-k) < n {
		return cid.Undef, nil, protoErr("malformed %s in a block frame", what)
	}
	c, err := cid.Cast(p[k : k+int(n)])
	if err != nil {
		return cid.Undef, nil, protoErr("block frame: bad %s CID: %v", what, err)
	}
	if err := history.CheckCID(c); err != nil {
		return cid.Undef, nil, protoErr("block frame: %s: %v", what, err)
	}
	return c, p[k+int(n):], nil
}

func decodeCIDs(bs [][]byte) ([]cid.Cid, error) {
	out := make([]cid.Cid, 0, len(bs))
	for _, b := range bs {
		c, err := cid.Cast(b)
		if err != nil {
			return nil, protoErr("bad head CID: %v", err)
		}
		if err := history.CheckCID(c); err != nil || c.Prefix().Codec != history.CodecDagCBOR {
			return nil, protoErr("head %s is not a revision CID", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// writeHeadSet queues a head set: its first part in the frame that open
// writes (HELLO or END, given the number of heads in all, or 0 when the
// part is all of them), the rest in HEADS frames.
func (f *frameConn) writeHeadSet(heads []cid.Cid, open func(n int, first [][]byte) error) error {
	first := heads[:min(len(heads), headsPerFrame)]
	n := 0
	if len(first) < len(heads) {
		n = len(heads)
	}
	if err := open(n, encodeCIDs(first)); err != nil {
		return err
	}
	for rest := heads[len(first):]; len(rest) > 0; {
		part := rest[:min(len(rest), headsPerFrame)]
		rest = rest[len(part):]
		if err := f.writeCBOR(frameHeads, headsMsg{Heads: encodeCIDs(part)}); err != nil {
			return err
		}
	}
	return nil
}

// readHeadSet decodes a head set whose first part came in a HELLO or END
// frame saying n heads in all (0: the part is all of them), and reads the
// HEADS frames with the rest. A set over maxSyncHeads is refused before
// anything more is read.
func (f *frameConn) readHeadSet(n int, first [][]byte) ([]cid.Cid, error) {
	switch {
	case n == 0:
		n = len(first)
	case n < len(first):
		return nil, protoErr("a head set of %d heads with %d in its first frame", n, len(first))
	case n > maxSyncHeads:
		return nil, refuse("a head set of %d heads is over this node's limit of %d", n, maxSyncHeads)
	}
	take := func(k int) error {
		if f.heads == nil {
			return nil
		}
		if !f.heads.take(k) {
			return busy("this node holds too many heads of other syncs; try again later")
		}
		f.held += k
		return nil
	}
	if err := take(len(first)); err != nil {
		return nil, err
	}
	heads, err := decodeCIDs(first)
	if err != nil {
		return nil, err
	}
	for len(heads) < n {
		t, payload, err := f.read()
		if err != nil {
			return nil, err
		}
		if t == frameError {
			return nil, f.peerError(payload)
		}
		if t != frameHeads {
			return nil, protoErr("expected HEADS, got frame type %d", t)
		}
		var m headsMsg
		if err := wireDec.Unmarshal(payload, &m); err != nil {
			return nil, protoErr("bad HEADS frame: %v", err)
		}
		if len(m.Heads) == 0 || len(m.Heads) > n-len(heads) {
			return nil, protoErr("a HEADS frame of %d heads where %d were to come", len(m.Heads), n-len(heads))
		}
		if err := take(len(m.Heads)); err != nil {
			return nil, err
		}
		part, err := decodeCIDs(m.Heads)
		if err != nil {
			return nil, err
		}
		heads = append(heads, part...)
	}
	return heads, nil
}

func encodeCIDs(cs []cid.Cid) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Bytes()
	}
	return out
}
