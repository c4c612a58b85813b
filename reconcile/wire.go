package reconcile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Version is the protocol version the first message carries.
const Version = 1

// Modes of a piece (see the package documentation, "Wire format").
const (
	modeSkip        byte = iota // the range needs nothing more
	modeFingerprint             // the sender's fingerprint of the range: a question
	modeIdList                  // every key the sender has in the range: a question
	modeAnswer                  // the answer to an IdList: the range is settled
	modeDefer                   // not handled in this message: still open
	numModes
)

// headerBase is the number of header values per mode: a piece's header
// byte is mode*headerBase + the length of its bound's prefix (0 = no
// bound, 1..32).
const headerBase = KeySize + 1

var modeNames = [numModes]string{"skip", "fingerprint", "id list", "answer", "defer"}

// ErrMalformed marks a message that breaks the protocol: bad encoding,
// ranges out of order or outside the ranges in play, an answer that
// contradicts the receiver's own set, a limit exceeded. A peer that sends
// one is faulty or hostile.
var ErrMalformed = errors.New("reconcile: malformed message")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// piece is one decoded piece. Its byte slices point into the message.
type piece struct {
	mode    byte
	bounded bool // an explicit upper bound follows the header: another piece of the same range comes next
	hi      Key  // that bound
	fp      [FingerprintSize]byte
	ids     keyList // IdList, Answer: the keys, strictly increasing
	bits    []byte  // Answer: one bit per key the asker listed in the piece (LSB first): set = the answerer lacks it
	nbits   int
}

// keyList is keys as they stand in a message, KeySize bytes each.
type keyList []byte

func (l keyList) count() int { return len(l) / KeySize }

func (l keyList) id(i int) Key { return Key(l[i*KeySize : (i+1)*KeySize]) }

// lacks reports whether the answerer lacks the asker's i-th key.
func (p *piece) lacks(i int) bool { return p.bits[i/8]&(1<<(i%8)) != 0 }

// reader decodes a message front to back; it never reads past the end and
// never allocates more than the message holds.
type reader struct {
	b   []byte
	off int
}

func (r *reader) rest() int { return len(r.b) - r.off }

func (r *reader) take(n int, what string) ([]byte, error) {
	if n < 0 || n > r.rest() {
		return nil, malformed("%s: %d bytes at offset %d, %d left", what, n, r.off, r.rest())
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b, nil
}

// uvarint reads a canonical unsigned varint of at most max.
func (r *reader) uvarint(max uint64, what string) (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, malformed("%s: bad varint at offset %d", what, r.off)
	}
	if n > 1 && r.b[r.off+n-1] == 0 {
		return 0, malformed("%s: overlong varint at offset %d", what, r.off)
	}
	if v > max {
		return 0, malformed("%s: %d is over %d", what, v, max)
	}
	r.off += n
	return v, nil
}

// piece decodes the next piece. It checks the encoding only; whether the
// piece is allowed where it stands is the session's business.
func (r *reader) piece() (piece, error) {
	var p piece
	hb, err := r.take(1, "piece header")
	if err != nil {
		return p, err
	}
	h := int(hb[0])
	if h >= int(numModes)*headerBase {
		return p, malformed("piece header %d at offset %d", h, r.off-1)
	}
	p.mode, p.bounded = byte(h/headerBase), h%headerBase != 0
	if n := h % headerBase; n > 0 {
		pre, err := r.take(n, "bound")
		if err != nil {
			return p, err
		}
		if pre[n-1] == 0 {
			return p, malformed("bound at offset %d ends in a zero byte", r.off-n)
		}
		copy(p.hi[:], pre)
	}
	switch p.mode {
	case modeFingerprint:
		b, err := r.take(FingerprintSize, "fingerprint")
		if err != nil {
			return p, err
		}
		copy(p.fp[:], b)
	case modeIdList:
		if p.ids, err = r.keys("id list"); err != nil {
			return p, err
		}
	case modeAnswer:
		if p.ids, err = r.keys("answer"); err != nil {
			return p, err
		}
		n, err := r.uvarint(uint64(r.rest())*8, "answer's bit count")
		if err != nil {
			return p, err
		}
		p.nbits = int(n)
		if p.bits, err = r.take((p.nbits+7)/8, "answer's bits"); err != nil {
			return p, err
		}
		if p.nbits%8 != 0 && p.bits[len(p.bits)-1]>>(p.nbits%8) != 0 {
			return p, malformed("answer's bits: padding is not zero")
		}
	case modeDefer:
		if p.bounded {
			return p, malformed("a deferral with a bound")
		}
	}
	return p, nil
}

// keys reads a count and that many keys, checking that they increase.
func (r *reader) keys(what string) (keyList, error) {
	n, err := r.uvarint(uint64(r.rest()/KeySize), what+"'s count")
	if err != nil {
		return nil, err
	}
	b, err := r.take(int(n)*KeySize, what)
	if err != nil {
		return nil, err
	}
	for i := KeySize; i < len(b); i += KeySize {
		if Key(b[i-KeySize:i]).Compare(Key(b[i:i+KeySize])) >= 0 {
			return nil, malformed("%s: keys not in increasing order", what)
		}
	}
	return b, nil
}

// appendHeader appends a piece's header and, when hi is not nil, its
// upper bound.
func appendHeader(b []byte, mode byte, hi *Key) []byte {
	if hi == nil {
		return append(b, mode*headerBase)
	}
	n := prefixLen(*hi)
	b = append(b, mode*headerBase+byte(n))
	return append(b, hi[:n]...)
}

// boundSize is what appendHeader adds for a bound.
func boundSize(hi *Key) int {
	if hi == nil {
		return 0
	}
	return prefixLen(*hi)
}

func appendKeys(b []byte, ks []Key) []byte {
	b = binary.AppendUvarint(b, uint64(len(ks)))
	for i := range ks {
		b = append(b, ks[i][:]...)
	}
	return b
}

func uvarintSize(v int) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// start is the header of the initiator's first message.
type start struct {
	salt  [SaltSize]byte
	n     int // the initiator's set size
	frame int // the initiator's frame limit
}

func appendStart(b []byte, s start) []byte {
	b = append(b, Version)
	b = append(b, s.salt[:]...)
	b = binary.AppendUvarint(b, uint64(s.n))
	return binary.AppendUvarint(b, uint64(s.frame))
}

// ErrVersion is returned by a Responder whose first message is of another
// protocol version: the peer is not faulty, only different.
var ErrVersion = errors.New("reconcile: another protocol version")

func (r *reader) start() (start, error) {
	var s start
	v, err := r.take(1, "version")
	if err != nil {
		return s, err
	}
	if v[0] != Version {
		return s, fmt.Errorf("%w: %d, this side speaks %d", ErrVersion, v[0], Version)
	}
	salt, err := r.take(SaltSize, "salt")
	if err != nil {
		return s, err
	}
	copy(s.salt[:], salt)
	n, err := r.setSize()
	if err != nil {
		return s, err
	}
	f, err := r.uvarint(MaxFrameSize, "frame limit")
	if err != nil {
		return s, err
	}
	if f < MinFrameSize {
		return s, malformed("frame limit %d is under %d", f, MinFrameSize)
	}
	s.n, s.frame = int(n), int(f)
	return s, nil
}

// setSize reads the size the peer declares for its set: one over
// MaxItems is refused, not blamed.
func (r *reader) setSize() (uint64, error) {
	n, err := r.uvarint(math.MaxInt64, "set size")
	if err == nil && n > MaxItems {
		err = fmt.Errorf("%w: the peer holds %d items, at most %d", ErrTooLarge, n, MaxItems)
	}
	return n, err
}

// accept is the header of the responder's first reply: its set size and
// the frame limit both sides use from then on.
func appendAccept(b []byte, n, frame int) []byte {
	b = binary.AppendUvarint(b, uint64(n))
	return binary.AppendUvarint(b, uint64(frame))
}

func (r *reader) accept(ourFrame int) (n, frame int, err error) {
	v, err := r.setSize()
	if err != nil {
		return 0, 0, err
	}
	f, err := r.uvarint(uint64(ourFrame), "frame limit")
	if err != nil {
		return 0, 0, err
	}
	if f < MinFrameSize {
		return 0, 0, malformed("frame limit %d is under %d", f, MinFrameSize)
	}
	return int(v), int(f), nil
}
