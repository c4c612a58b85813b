package reconcile

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// wirePiece is a piece as a test writes it, right or wrong.
type wirePiece struct {
	mode  byte
	hi    *Key
	fp    [FingerprintSize]byte
	ids   []Key
	lacks []bool // answer: one per listed key
	raw   []byte // when set, the whole piece as is
}

func encode(head []byte, ps ...wirePiece) []byte {
	b := slices.Clone(head)
	for _, p := range ps {
		if p.raw != nil {
			b = append(b, p.raw...)
			continue
		}
		b = appendHeader(b, p.mode, p.hi)
		switch p.mode {
		case modeFingerprint:
			b = append(b, p.fp[:]...)
		case modeIdList:
			b = appendKeys(b, p.ids)
		case modeAnswer:
			b = appendKeys(b, p.ids)
			b = binary.AppendUvarint(b, uint64(len(p.lacks)))
			bits := make([]byte, (len(p.lacks)+7)/8)
			for i, l := range p.lacks {
				if l {
					bits[i/8] |= 1 << (i % 8)
				}
			}
			b = append(b, bits...)
		}
	}
	return b
}

func acceptHead(n, frame int) []byte { return appendAccept(nil, n, frame) }

func ptr(k Key) *Key { return &k }

// prefixKey is the bound written as the given leading bytes.
func prefixKey(b ...byte) Key {
	var k Key
	copy(k[:], b)
	return k
}

// TestMalformedReplies feeds an initiator replies that break the
// protocol, one rule at a time, next to a few that keep it.
func TestMalformedReplies(t *testing.T) {
	big := keys(0, 1000)      // its first message is one fingerprint
	small := keys(2000, 2100) // its first message lists its keys
	smallSet := NewMemSet(slices.Clone(small))
	sortedSmall := smallSet.keys
	outsider := key(99_999)
	below := func(n int) []bool { return make([]bool, n) }
	countBelow := func(k Key) int { i, _ := smallSet.Search(k); return i }
	mid := prefixKey(0x80)
	head := acceptHead(1000, DefaultFrameSize)
	var open []wirePiece
	for i := 0; i <= DefaultFrameSize/openPerFrame; i++ {
		open = append(open, wirePiece{mode: modeIdList, hi: ptr(prefixKey(1, byte(i>>16), byte(i>>8), byte(i), 1))})
	}
	manyOpen := encode(head, append(open, wirePiece{mode: modeIdList})...)

	for _, c := range []struct {
		name  string
		set   []Key
		reply []byte
		ok    bool // no error expected
	}{
		{"skip", big, encode(head, wirePiece{mode: modeSkip}), true},
		{"a split", big, encode(head, wirePiece{mode: modeFingerprint, hi: &mid}, wirePiece{mode: modeIdList}), true},
		{"an answer to a fingerprint", big, encode(head, wirePiece{mode: modeAnswer}), false},
		{"the fingerprint back, whole", big, encode(head, wirePiece{mode: modeFingerprint}), false},
		{"bounds decreasing", big, encode(head,
			wirePiece{mode: modeFingerprint, hi: ptr(prefixKey(0x90))},
			wirePiece{mode: modeFingerprint, hi: ptr(prefixKey(0x80))},
			wirePiece{mode: modeFingerprint}), false},
		{"a bound twice", big, encode(head,
			wirePiece{mode: modeFingerprint, hi: &mid},
			wirePiece{mode: modeFingerprint, hi: &mid},
			wirePiece{mode: modeFingerprint}), false},
		{"a bound ending in a zero byte", big, encode(head, wirePiece{raw: []byte{modeFingerprint*headerBase + 2, 0x80, 0}}), false},
		{"a skip inside a split", big, encode(head, wirePiece{mode: modeFingerprint, hi: &mid}, wirePiece{mode: modeSkip}), false},
		{"a deferral with a bound", big, encode(head, wirePiece{raw: []byte{modeDefer*headerBase + 1, 0x80}}, wirePiece{mode: modeDefer}), false},
		{"bytes after the last range", big, append(encode(head, wirePiece{mode: modeSkip}), 0), false},
		{"a fingerprint cut short", big, encode(head, wirePiece{raw: []byte{modeFingerprint * headerBase, 1, 2, 3}}), false},
		{"no pieces", big, head, false},
		{"a header out of range", big, encode(head, wirePiece{raw: []byte{numModes * headerBase}}), false},
		{"an overlong count", big, encode(head, wirePiece{raw: []byte{modeIdList * headerBase, 0x80, 0x00}}), false},
		{"a count beyond the message", big, encode(head, wirePiece{raw: []byte{modeIdList * headerBase, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20}}), false},
		{"a varint beyond 64 bits", big, encode(head, wirePiece{raw: []byte{modeIdList * headerBase, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}), false},
		{"keys out of order", big, encode(head, wirePiece{mode: modeIdList, ids: []Key{prefixKey(9), prefixKey(8)}}), false},
		{"a key twice", big, encode(head, wirePiece{mode: modeIdList, ids: []Key{prefixKey(9), prefixKey(9)}}), false},
		{"a key outside its piece", big, encode(head,
			wirePiece{mode: modeIdList, hi: &mid},
			wirePiece{mode: modeIdList, ids: []Key{prefixKey(0x10)}}), false},
		{"a frame limit above ours", big, encode(acceptHead(1000, DefaultFrameSize+1), wirePiece{mode: modeSkip}), false},
		{"a frame limit under the minimum", big, encode(acceptHead(1000, MinFrameSize-1), wirePiece{mode: modeSkip}), false},
		{"a message over the frame", big, append(encode(head, wirePiece{mode: modeSkip}), make([]byte, DefaultFrameSize)...), false},
		{"too many open ranges", big, manyOpen, false},

		{"an answer", small, encode(head, wirePiece{mode: modeAnswer, ids: []Key{outsider}, lacks: append([]bool{true}, below(99)...)}), true},
		{"a skip for our list", small, encode(head, wirePiece{mode: modeSkip}), true},
		{"an answer in two parts and a fingerprint", small, encode(head,
			wirePiece{mode: modeAnswer, hi: ptr(prefixKey(0x40)), lacks: below(countBelow(prefixKey(0x40)))},
			wirePiece{mode: modeSkip, hi: &mid},
			wirePiece{mode: modeFingerprint}), true},
		{"an answer naming a key we listed", small, encode(head, wirePiece{mode: modeAnswer, ids: []Key{sortedSmall[5]}, lacks: below(100)}), false},
		{"an answer about too few of our keys", small, encode(head, wirePiece{mode: modeAnswer, lacks: below(99)}), false},
		{"an answer about too many of our keys", small, encode(head, wirePiece{mode: modeAnswer, lacks: below(101)}), false},
		{"an answer with padding bits set", small, encode(head, wirePiece{mode: modeAnswer, raw: append([]byte{modeAnswer * headerBase, 0, 100}, append(make([]byte, 12), 0x20)...)}), false},
		{"more keys than the peer holds", small, encode(acceptHead(0, DefaultFrameSize), wirePiece{mode: modeAnswer, ids: []Key{outsider}, lacks: below(100)}), false},
		{"a fingerprint before an answer", small, encode(head, wirePiece{mode: modeFingerprint, hi: &mid}, wirePiece{mode: modeAnswer, lacks: below(100 - countBelow(mid))}), false},
		{"our list back", small, encode(head, wirePiece{mode: modeIdList, ids: sortedSmall}), false},
		{"a fingerprint for our list", small, encode(head, wirePiece{mode: modeFingerprint}), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, _, err := NewInitiator(NewMemSet(slices.Clone(c.set)), Config{})
			if err != nil {
				t.Fatal(err)
			}
			st, err := in.Reply(c.reply)
			if c.ok {
				if err != nil {
					t.Fatalf("Reply: %v", err)
				}
				if st.Msg != nil && len(st.Msg) > DefaultFrameSize {
					t.Fatalf("a reply of %d bytes", len(st.Msg))
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Reply = %v; want ErrMalformed", err)
			}
			if _, again := in.Reply(c.reply); !errors.Is(again, ErrMalformed) || !in.Done() {
				t.Fatalf("after an error, Reply = %v, Done = %v; want the error again and done", again, in.Done())
			}
		})
	}
}

// TestAnswerTeaches checks what an initiator learns from a hand-written
// answer: the keys named, and its own keys the bits mark.
func TestAnswerTeaches(t *testing.T) {
	set := NewMemSet(keys(0, 10))
	in, _, err := NewInitiator(set, Config{})
	if err != nil {
		t.Fatal(err)
	}
	lacks := []bool{false, true, false, false, false, false, false, false, false, true}
	need := []Key{key(100), key(101)}
	slices.SortFunc(need, Key.Compare)
	st, err := in.Reply(encode(acceptHead(5, DefaultFrameSize), wirePiece{mode: modeAnswer, ids: need, lacks: lacks}))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Done || st.Msg != nil {
		t.Fatalf("Step = %+v; want done with nothing to send", st)
	}
	if !slices.Equal(st.Have, []Key{set.keys[1], set.keys[9]}) {
		t.Fatalf("Have = %x", st.Have)
	}
	if !slices.Equal(st.Need, need) {
		t.Fatalf("Need = %x", st.Need)
	}
	if _, err := in.Reply(nil); !errors.Is(err, ErrDone) {
		t.Fatalf("Reply after the end = %v; want ErrDone", err)
	}
}

func TestTooLarge(t *testing.T) {
	in, _, err := NewInitiator(NewMemSet(keys(0, 10)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Reply(encode(acceptHead(MaxItems+1, DefaultFrameSize), wirePiece{mode: modeSkip})); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Reply = %v; want ErrTooLarge", err)
	}
}

func TestMalformedFirstMessages(t *testing.T) {
	salt := [SaltSize]byte{1}
	start := func(n, frame int) []byte { return appendStart(nil, start{salt: salt, n: n, frame: frame}) }
	head := start(10, DefaultFrameSize)
	for _, c := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"another version", append([]byte{Version + 1}, head[1:]...), ErrVersion},
		{"empty", nil, ErrMalformed},
		{"no salt", []byte{Version, 1, 2}, ErrMalformed},
		{"a skip to start", encode(head, wirePiece{mode: modeSkip}), ErrMalformed},
		{"a deferral to start", encode(head, wirePiece{mode: modeDefer}), ErrMalformed},
		{"an answer to start", encode(head, wirePiece{mode: modeAnswer}), ErrMalformed},
		{"a set over the bound", encode(start(MaxItems+1, DefaultFrameSize), wirePiece{mode: modeIdList}), ErrTooLarge},
		{"a frame over the bound", encode(start(10, MaxFrameSize+1), wirePiece{mode: modeIdList}), ErrMalformed},
		{"a frame under the bound", encode(start(10, MinFrameSize-1), wirePiece{mode: modeIdList}), ErrMalformed},
		{"a list", encode(head, wirePiece{mode: modeIdList, ids: []Key{key(1)}}), nil},
		{"two fingerprints", encode(head, wirePiece{mode: modeFingerprint, hi: ptr(prefixKey(0x80))}, wirePiece{mode: modeFingerprint}), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewResponder(NewMemSet(keys(0, 1000)), Config{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Reply(c.msg)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Reply = %v; want %v", err, c.want)
			}
		})
	}
}

// midpoint returns a key strictly between lo and hi, if there is one.
func midpoint(lo, hi bound) (Key, bool) {
	l := new(big.Int).SetBytes(lo.key[:])
	h := new(big.Int).Lsh(big.NewInt(1), 8*KeySize)
	if !hi.end {
		h.SetBytes(hi.key[:])
	}
	m := new(big.Int).Add(l, h)
	m.Rsh(m, 1)
	if m.Cmp(l) <= 0 {
		return Key{}, false
	}
	var k Key
	m.FillBytes(k[:])
	return k, true
}

// stubborn answers the ranges an honest side left open so as never to
// finish: it splits the first range in two by key with fingerprints that
// match nothing (or answers the front half of a list with nothing and
// asks about the rest), and defers the others; with deferAll, it defers
// everything.
func stubborn(t *testing.T, s *session, head []byte, deferAll bool, rng *rand.Rand) []byte {
	t.Helper()
	var ps []wirePiece
	for i, g := range s.regions {
		m, ok := midpoint(g.lo, g.hi)
		switch {
		case deferAll || i > 0 || !ok:
			if g.mode == modeFingerprint && !deferAll && !ok {
				ps = append(ps, wirePiece{mode: modeIdList})
			} else {
				ps = append(ps, wirePiece{mode: modeDefer})
			}
		case g.mode == modeIdList:
			i, j, err := s.positions(g.lo, bound{key: m})
			if err != nil {
				t.Fatal(err)
			}
			var fp [FingerprintSize]byte
			binary.LittleEndian.PutUint64(fp[:], rng.Uint64())
			ps = append(ps, wirePiece{mode: modeAnswer, hi: ptr(m), lacks: make([]bool, j-i)}, wirePiece{mode: modeFingerprint, fp: fp})
		default:
			var a, b [FingerprintSize]byte
			binary.LittleEndian.PutUint64(a[:], rng.Uint64())
			binary.LittleEndian.PutUint64(b[:], rng.Uint64())
			ps = append(ps, wirePiece{mode: modeFingerprint, hi: ptr(m), fp: a}, wirePiece{mode: modeFingerprint, fp: b})
		}
	}
	return encode(head, ps...)
}

// TestPeerThatNeverConverges checks that a side gives up with ErrRounds
// at its bound against a peer that keeps the session going.
func TestPeerThatNeverConverges(t *testing.T) {
	for _, c := range []struct {
		name     string
		n        int
		deferAll bool
	}{
		{"splits by key", 5000, false},
		{"splits a small set by key", 50, false},
		{"defers everything", 5000, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			in, _, err := NewInitiator(NewMemSet(keys(0, uint64(c.n))), Config{})
			if err != nil {
				t.Fatal(err)
			}
			head := acceptHead(c.n, DefaultFrameSize)
			for round := 0; ; round++ {
				if round > 10_000 {
					t.Fatal("no error after 10,000 rounds")
				}
				_, err := in.Reply(stubborn(t, &in.s, head, c.deferAll, rng))
				head = nil
				if err != nil {
					if !errors.Is(err, ErrRounds) {
						t.Fatalf("Reply = %v; want ErrRounds", err)
					}
					st := in.Stats()
					if st.Messages != st.MaxMessages {
						t.Fatalf("gave up after %d messages; the bound is %d", st.Messages, st.MaxMessages)
					}
					t.Logf("ErrRounds after %d messages, %d bytes sent, %d received", st.Messages, st.Sent, st.Received)
					return
				}
			}
		})
	}
}

// plus returns a + sign·b modulo 2^256, keys read as big-endian numbers.
func plus(a Key, sign int64, b Key) Key {
	x := new(big.Int).SetBytes(a[:])
	y := new(big.Int).SetBytes(b[:])
	x.Add(x, y.Mul(y, big.NewInt(sign)))
	x.Mod(x, new(big.Int).Lsh(big.NewInt(1), 8*KeySize))
	var out Key
	x.FillBytes(out[:])
	return out
}

// TestCancellingKeys builds pairs of different sets that a fingerprint
// linear in the keys could not tell apart (same XOR of the keys, or same
// sum and count), and checks that their fingerprints differ and that
// reconciliation finds every difference.
func TestCancellingKeys(t *testing.T) {
	var salt [SaltSize]byte
	fpOf := func(ks []Key) [FingerprintSize]byte {
		m := NewMemSet(slices.Clone(ks))
		s, _ := m.Sum(0, m.Len())
		return fingerprint(&salt, s, m.Len())
	}
	x, y, z, tt := key(1), key(2), key(3), key(4)
	var xorAll Key
	for i := range xorAll {
		xorAll[i] = x[i] ^ y[i] ^ z[i]
	}
	common := keys(100, 5100)
	for _, c := range []struct {
		name string
		a, b []Key
	}{
		{"same XOR", []Key{x, y}, []Key{z, xorAll}},
		{"same sum", []Key{x, y}, []Key{plus(x, 1, tt), plus(y, -1, tt)}},
		{"same XOR among many", append(slices.Clone(common), x, y), append(slices.Clone(common), z, xorAll)},
		{"same sum among many", append(slices.Clone(common), x, y), append(slices.Clone(common), plus(x, 1, tt), plus(y, -1, tt))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if fpOf(c.a) == fpOf(c.b) {
				t.Fatal("the two sets have the same fingerprint")
			}
			reconcileKeys(t, c.a, c.b, Config{})
		})
	}
}
