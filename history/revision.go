package history

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
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
	if r.Sig, err = key.Sign(msg); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}

// VerifySignature checks Sig against the public key inside Author.
func (r *Revision) VerifySignature() error {
	if len(r.Author) == 0 || len(r.Sig) == 0 {
		return ErrUnsigned
	}
	id, err := peer.IDFromBytes(r.Author)
	if err != nil {
		return fmt.Errorf("%w: author: %v", ErrBadSignature, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: author key: %v", ErrBadSignature, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: author key is not Ed25519", ErrBadSignature)
	}
	unsigned := *r
	unsigned.Sig = nil
	msg, err := unsigned.Encode()
	if err != nil {
		return err
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != voi.PublicKeySize {
		return fmt.Errorf("%w: author key: %v", ErrBadSignature, err)
	}
	if !verifyEd25519(raw, msg, r.Sig) {
		return ErrBadSignature
	}
	return nil
}

// Signatures are verified with curve25519-voi under the exact rules of
// Go's crypto/ed25519 (VerifyOptionsStdLib: the same signatures accepted
// and refused), and with each author's key expanded once: a wiki has few
// authors and many revisions, and a fresh replica verifies every one.
// 31 µs a signature instead of 56 on the project's machines; signature
// checks had been a quarter of the CPU of a full sync.
var (
	voiStdLib = &voi.Options{Verify: voi.VerifyOptionsStdLib}
	keysMu    sync.Mutex
	keys      = map[string]*voi.ExpandedPublicKey{}
)

// maxExpandedKeys bounds the cache, against a peer that signs with a new
// key each time; past it keys are expanded for one use.
const maxExpandedKeys = 4096

func verifyEd25519(pub, msg, sig []byte) bool {
	keysMu.Lock()
	k, ok := keys[string(pub)]
	keysMu.Unlock()
	if !ok {
		var err error
		if k, err = voi.NewExpandedPublicKey(voi.PublicKey(pub)); err != nil {
			return false
		}
		keysMu.Lock()
		if len(keys) < maxExpandedKeys {
			keys[string(pub)] = k
		}
		keysMu.Unlock()
	}
	return voi.VerifyExpandedWithOptions(k, msg, sig, voiStdLib)
}
