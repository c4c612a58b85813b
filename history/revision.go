package history

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	crypto_pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Errors about a revision's content.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrUnsigned     = errors.New("revision is not signed")
	ErrMalformed    = errors.New("malformed revision")
)

// Revision is one version of a page: a signed dag-cbor block. Field names
// and the canonical encoding are part of the wire format; changing them
// changes every CID.
type Revision struct {
	// Wiki binds the revision to one wiki.
	Wiki string `cbor:"wiki"`
	// Page is the CID of the page's genesis revision; nil on the genesis.
	Page *Link `cbor:"page,omitempty"`
	// Nonce makes two genesis revisions with the same content distinct.
	Nonce []byte `cbor:"nonce,omitempty"`
	// Parents are sorted by CID bytes and unique.
	Parents []Link `cbor:"parents,omitempty"`
	Title   string `cbor:"title"`
	// Body addresses the text: a raw block, or a dag-cbor chunk list.
	Body    Link `cbor:"body"`
	Deleted bool `cbor:"deleted,omitempty"`
	// Policy is the page's conflict policy override, or on an automatic
	// merge revision the policy that made it.
	Policy string `cbor:"policy,omitempty"`
	// Author is the signer's libp2p peer ID (bytes); empty on automatic merges.
	Author []byte `cbor:"author,omitempty"`
	// Name is the author's display name.
	Name string `cbor:"name,omitempty"`
	// Time is a hybrid logical clock in ms: max(wall, max parent time + 1).
	Time int64 `cbor:"time"`
	// Height is 1 + the greatest parent height (1 for a genesis).
	Height uint64 `cbor:"height"`
	Msg    string `cbor:"msg,omitempty"`
	Sig    []byte `cbor:"sig,omitempty"`
}

// Encode returns the canonical dag-cbor bytes of the revision.
func (r *Revision) Encode() ([]byte, error) {
	return encMode.Marshal(r)
}

// Block encodes the revision as a dag-cbor block.
func (r *Revision) Block() (Block, error) {
	data, err := r.Encode()
	if err != nil {
		return Block{}, err
	}
	return NewBlock(CodecDagCBOR, data), nil
}

// DecodeRevision parses a revision block's bytes, rejecting non-canonical
// encodings and structurally invalid revisions.
func DecodeRevision(data []byte) (*Revision, error) {
	var r Revision
	if err := decodeCanonical(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := r.checkShape(); err != nil {
		return nil, err
	}
	return &r, nil
}

// checkShape validates what can be checked without a store.
func (r *Revision) checkShape() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	switch {
	case r.Wiki == "":
		return bad("no wiki id")
	case !utf8.ValidString(r.Title) || !utf8.ValidString(r.Name) || !utf8.ValidString(r.Msg):
		return bad("text is not UTF-8")
	case r.Height == 0:
		return bad("height 0")
	case r.Time < 0:
		return bad("negative time")
	}
	if r.Page == nil {
		if len(r.Parents) != 0 || r.Height != 1 {
			return bad("genesis with parents or height %d", r.Height)
		}
		if len(r.Nonce) == 0 {
			return bad("genesis without nonce")
		}
	} else if len(r.Parents) == 0 {
		return bad("non-genesis revision without parents")
	}
	for i := 1; i < len(r.Parents); i++ {
		if bytes.Compare(r.Parents[i-1].Bytes(), r.Parents[i].Bytes()) >= 0 {
			return bad("parents not sorted and unique")
		}
	}
	for _, p := range r.Parents {
		if p.Prefix().Codec != CodecDagCBOR {
			return bad("parent %s is not a revision", p.Cid)
		}
	}
	if len(r.Author) == 0 && len(r.Sig) != 0 {
		return bad("signature without author")
	}
	if len(r.Author) != 0 {
		if _, err := peer.IDFromBytes(r.Author); err != nil {
			return bad("author: %v", err)
		}
	}
	return nil
}

// PageID is the page this revision belongs to: Page, or its own CID for a genesis.
func (r *Revision) PageID(self cid.Cid) cid.Cid {
	if r.Page == nil {
		return self
	}
	return r.Page.Cid
}

// IsAuto reports whether the revision is an automatic merge (made by a
// policy, unsigned, a pure function of its parents).
func (r *Revision) IsAuto() bool { return len(r.Author) == 0 }

// AuthorID returns the author's peer ID ("" for automatic merges).
func (r *Revision) AuthorID() peer.ID {
	if len(r.Author) == 0 {
		return ""
	}
	id, err := peer.IDFromBytes(r.Author)
	if err != nil {
		return ""
	}
	return id
}

// ParentCIDs returns the parent CIDs.
func (r *Revision) ParentCIDs() []cid.Cid {
	out := make([]cid.Cid, len(r.Parents))
	for i, p := range r.Parents {
		out[i] = p.Cid
	}
	return out
}

// SetParents stores cs sorted by CID bytes and without duplicates.
func (r *Revision) SetParents(cs []cid.Cid) {
	seen := make(map[cid.Cid]bool, len(cs))
	r.Parents = r.Parents[:0]
	for _, c := range cs {
		if !seen[c] {
			seen[c] = true
			r.Parents = append(r.Parents, Link{c})
		}
	}
	sort.Slice(r.Parents, func(i, j int) bool {
		return bytes.Compare(r.Parents[i].Bytes(), r.Parents[j].Bytes()) < 0
	})
}

// Sign sets Author and Sig: an Ed25519 signature over the encoding without Sig.
func (r *Revision) Sign(key crypto.PrivKey) error {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	r.Author = []byte(id)
	r.Sig = nil
	msg, err := r.Encode()
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if r.Sig, err = signMessage(key, msg); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// signMessage signs msg with key. An Ed25519 key signs through
// curve25519-voi, whose table of base-point multiples is compiled in: Go's
// crypto/ed25519 builds its table (about 11M instructions) the first time
// a process signs, a tenth of a one-shot edit. Ed25519 signatures are
// deterministic, so both give the same bytes (TestSignMatchesLibp2p).
func signMessage(key crypto.PrivKey, msg []byte) ([]byte, error) {
	if key.Type() == crypto_pb.KeyType_Ed25519 {
		if raw, err := key.Raw(); err == nil && len(raw) == voi.PrivateKeySize {
			return voi.Sign(voi.PrivateKey(raw), msg), nil
		}
	}
	return key.Sign(msg)
}

// VerifySignature checks Sig against the public key inside Author.
func (r *Revision) VerifySignature() error {
	return r.verifyWith(nil)
}

// VerifySignatureOf is VerifySignature for a revision DecodeRevision made
// of data: the signed message is cut out of data rather than encoded
// again (see sigCheckOf).
func (r *Revision) VerifySignatureOf(data []byte) error {
	return r.verifyWith(data)
}

func (r *Revision) verifyWith(data []byte) error {
	c, err := r.sigCheckWith(data)
	if err != nil {
		return err
	}
	if !verifyEd25519(c.pub, c.msg, c.sig) {
		return ErrBadSignature
	}
	return nil
}

// sigCheck is a signature to verify: the author's raw Ed25519 key, the
// signed message and the signature.
type sigCheck struct{ pub, msg, sig []byte }

// sigCheck returns what VerifySignature checks, or why it cannot.
func (r *Revision) sigCheck() (sigCheck, error) {
	return r.sigCheckWith(nil)
}

// sigCheckOf is sigCheck for a revision DecodeRevision made of data (so
// data is its canonical encoding): the signed message is cut out of data
// (signedPart) rather than encoded again. Encoding every revision a
// second time, and reading its author's key out of the peer ID, were a
// seventh of checking a fresh replica's sync.
func (r *Revision) sigCheckOf(data []byte) (sigCheck, error) {
	return r.sigCheckWith(data)
}

func (r *Revision) sigCheckWith(data []byte) (sigCheck, error) {
	if len(r.Author) == 0 || len(r.Sig) == 0 {
		return sigCheck{}, ErrUnsigned
	}
	raw, err := authorKey(r.Author)
	if err != nil {
		return sigCheck{}, err
	}
	msg, ok := signedPart(data)
	if !ok {
		unsigned := *r
		unsigned.Sig = nil
		if msg, err = unsigned.Encode(); err != nil {
			return sigCheck{}, err
		}
	}
	return sigCheck{raw, msg, r.Sig}, nil
}

// authorKey returns the raw Ed25519 key inside an author's peer ID,
// remembered for up to maxExpandedKeys authors.
func authorKey(author []byte) ([]byte, error) {
	return authorKeys.get(author, func() ([]byte, error) {
		id, err := peer.IDFromBytes(author)
		if err != nil {
			return nil, fmt.Errorf("%w: author: %v", ErrBadSignature, err)
		}
		pub, err := id.ExtractPublicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: author key: %v", ErrBadSignature, err)
		}
		if pub.Type() != crypto.Ed25519 {
			return nil, fmt.Errorf("%w: author key is not Ed25519", ErrBadSignature)
		}
		raw, err := pub.Raw()
		if err != nil || len(raw) != voi.PublicKeySize {
			return nil, fmt.Errorf("%w: author key: %v", ErrBadSignature, err)
		}
		return raw, nil
	})
}

var authorKeys = newKeyCache[[]byte]()

// keyCache remembers what is worked out of a key, for up to
// maxExpandedKeys keys: past that (a peer that signs with a new key each
// time), values are worked out for one use.
type keyCache[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func newKeyCache[V any]() *keyCache[V] { return &keyCache[V]{m: map[string]V{}} }

// get returns the value for key, from make the first time (a failure is
// not remembered).
func (c *keyCache[V]) get(key []byte, make func() (V, error)) (V, error) {
	c.mu.Lock()
	v, ok := c.m[string(key)]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := make()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if len(c.m) < maxExpandedKeys {
		c.m[string(key)] = v
	}
	c.mu.Unlock()
	return v, nil
}

// signedPart returns a revision's canonical encoding without its "sig"
// entry: the bytes its author signed, which are the encoding of the
// revision with Sig unset. Canonical CBOR sorts a map's keys by the
// length of their encoding, then bytewise, so the only key that can come
// before "sig" is "msg" (the others are longer): the entry is cut out
// after the map's head and "msg"'s entry, if any, and the head counts one
// entry less. ok is false for anything not shaped so (nil data, no "sig"
// where it must be): the caller then encodes the message.
func signedPart(data []byte) (msg []byte, ok bool) {
	if len(data) == 0 || data[0] < 0xa1 || data[0] > 0xb7 { // a map of 1 to 23 entries
		return nil, false
	}
	i := 1
	if bytes.HasPrefix(data[i:], []byte("\x63msg")) {
		i += 4
		n, head, ok := cborLength(data[i:], 3) // its text
		if !ok {
			return nil, false
		}
		i += head + n
	}
	if !bytes.HasPrefix(data[i:], []byte("\x63sig")) {
		return nil, false
	}
	j := i + 4
	n, head, ok := cborLength(data[j:], 2) // its bytes
	if !ok {
		return nil, false
	}
	j += head + n
	out := make([]byte, 0, len(data)-(j-i))
	out = append(out, data[0]-1)
	out = append(out, data[1:i]...)
	return append(out, data[j:]...), true
}

// cborLength reads the head of a CBOR string of major type major at the
// start of b: the string's length and the head's, ok only when the head
// is well formed and the whole string is in b.
func cborLength(b []byte, major byte) (n, head int, ok bool) {
	if len(b) == 0 || b[0]>>5 != major {
		return 0, 0, false
	}
	switch info := b[0] & 0x1f; {
	case info < 24:
		n, head = int(info), 1
	case info == 24 && len(b) >= 2:
		n, head = int(b[1]), 2
	case info == 25 && len(b) >= 3:
		n, head = int(binary.BigEndian.Uint16(b[1:])), 3
	case info == 26 && len(b) >= 5:
		n, head = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return 0, 0, false
	}
	if n > len(b)-head {
		return 0, 0, false
	}
	return n, head, true
}

// Signatures are verified with curve25519-voi under the rules of ZIP-215
// (cofactored; the encodings of the key and of R need not be canonical, S
// must be): a verdict every replica computes alike whether it checks one
// signature or a batch, which is what lets a fresh replica verify a long
// history in batches, about twice as fast. Everything crypto/ed25519
// accepts (the rule before sync version 3) is accepted, so old
// repositories stay valid; the two differ only on signatures crafted
// with small-order components, never made by signing. Each author's key
// is expanded once: a wiki has few authors and many revisions.
var (
	voiZIP215    = &voi.Options{Verify: voi.VerifyOptionsZIP_215}
	expandedKeys = newKeyCache[*voi.ExpandedPublicKey]()
)

// maxExpandedKeys bounds the key caches, against a peer that signs with a
// new key each time.
const maxExpandedKeys = 4096

func expandedKey(pub []byte) (*voi.ExpandedPublicKey, bool) {
	k, err := expandedKeys.get(pub, func() (*voi.ExpandedPublicKey, error) {
		return voi.NewExpandedPublicKey(voi.PublicKey(pub))
	})
	return k, err == nil
}

func verifyEd25519(pub, msg, sig []byte) bool {
	memo := verifiedKey(pub, msg, sig)
	if recentlyVerified.has(memo) {
		return true
	}
	k, ok := expandedKey(pub)
	if !ok || !voi.VerifyExpandedWithOptions(k, msg, sig, voiZIP215) {
		return false
	}
	recentlyVerified.add(memo)
	return true
}

// recentlyVerified remembers the last signatures verified one at a time
// and found good, by a SHA-256 of key, message and signature: a revision
// that arrives by gossip is verified as the message is validated and
// again as its batch is checked for storing, and the second costs 1 us
// instead of about 50. A forged signature would need a collision of the
// hash with a good one; only good verdicts are kept.
var recentlyVerified = &verifiedMemo{}

// verifiedMemoSize bounds the memo (a ring: the oldest are forgotten).
const verifiedMemoSize = 256

type verifiedMemo struct {
	mu   sync.Mutex
	ring [verifiedMemoSize][sha256.Size]byte
	next int
	set  map[[sha256.Size]byte]bool
}

func verifiedKey(pub, msg, sig []byte) [sha256.Size]byte {
	h := sha256.New()
	for _, part := range [][]byte{pub, msg, sig} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (m *verifiedMemo) has(k [sha256.Size]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set[k]
}

func (m *verifiedMemo) add(k [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set == nil {
		m.set = make(map[[sha256.Size]byte]bool, verifiedMemoSize)
	}
	if m.set[k] {
		return
	}
	if len(m.set) == verifiedMemoSize {
		delete(m.set, m.ring[m.next])
	}
	m.ring[m.next] = k
	m.next = (m.next + 1) % verifiedMemoSize
	m.set[k] = true
}

// minSigBatch is the smallest number of signatures worth a batch.
const minSigBatch = 16

// verifyBatch verifies signatures together and returns the index of the
// first bad one, or -1. A batch that fails is checked one by one, to name
// the culprit under the same rules.
func verifyBatch(checks []sigCheck) int {
	if len(checks) < minSigBatch {
		for i, c := range checks {
			if !verifyEd25519(c.pub, c.msg, c.sig) {
				return i
			}
		}
		return -1
	}
	v := voi.NewBatchVerifierWithCapacity(len(checks))
	for i, c := range checks {
		k, ok := expandedKey(c.pub)
		if !ok {
			return i
		}
		v.AddExpandedWithOptions(k, c.msg, c.sig, voiZIP215)
	}
	if v.VerifyBatchOnly(rand.Reader) {
		return -1
	}
	for i, c := range checks {
		if !verifyEd25519(c.pub, c.msg, c.sig) {
			return i
		}
	}
	return -1 // cannot happen: ZIP-215 batch and single verdicts agree
}
