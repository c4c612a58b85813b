package history

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Codecs of the two kinds of block peerwiki stores and sends.
const (
	CodecDagCBOR = cid.DagCBOR // revisions and body chunk lists
	CodecRaw     = cid.Raw     // body text
)

// MaxBlockSize bounds every block peerwiki accepts from anywhere.
const MaxBlockSize = 1 << 20

// Errors callers branch on.
var (
	ErrCIDMismatch  = errors.New("block bytes do not match its CID")
	ErrNotCanonical = errors.New("block is not canonical dag-cbor")
	ErrBadCID       = errors.New("unsupported CID (want CIDv1, sha2-256, dag-cbor or raw)")
	ErrTooLarge     = errors.New("block is larger than the limit")
)

// Block is a CID and the bytes it addresses.
type Block struct {
	Cid  cid.Cid
	Data []byte
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	opts := cbor.CanonicalEncOptions()
	var err error
	if encMode, err = opts.EncMode(); err != nil {
		panic(err)
	}
	tags := cbor.NewTagSet()
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxArrayElements:  1 << 16,
		MaxMapPairs:       64,
	}.DecModeWithTags(tags)
	if err != nil {
		panic(err)
	}
}

// SumCID addresses data with a CIDv1 sha2-256 of the given codec.
func SumCID(codec uint64, data []byte) cid.Cid {
	c, err := cid.V1Builder{Codec: codec, MhType: mh.SHA2_256}.Sum(data)
	if err != nil {
		panic(fmt.Sprintf("sha2-256 CID: %v", err)) // cannot fail for a known hash
	}
	return c
}

// NewBlock makes a block of the given codec from data.
func NewBlock(codec uint64, data []byte) Block {
	return Block{Cid: SumCID(codec, data), Data: data}
}

// CheckCID reports whether c is a CID peerwiki accepts.
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return ErrBadCID
	}
	p := c.Prefix()
	if p.Version != 1 || p.MhType != mh.SHA2_256 || p.MhLength != 32 ||
		(p.Codec != CodecDagCBOR && p.Codec != CodecRaw) {
		return fmt.Errorf("%w: %s", ErrBadCID, c)
	}
	return nil
}

// Verify checks that the block is of an accepted kind, not oversized, and
// that its bytes hash to its CID.
func (b Block) Verify() error {
	if err := CheckCID(b.Cid); err != nil {
		return err
	}
	if len(b.Data) > MaxBlockSize {
		return fmt.Errorf("%w: %s is %d bytes", ErrTooLarge, b.Cid, len(b.Data))
	}
	if !SumCID(b.Cid.Prefix().Codec, b.Data).Equals(b.Cid) {
		return fmt.Errorf("%w: %s", ErrCIDMismatch, b.Cid)
	}
	return nil
}

// Link is a CID inside a dag-cbor block: CBOR tag 42 over 0x00 || CID bytes.
type Link struct{ cid.Cid }

// MarshalCBOR encodes the link as dag-cbor tag 42.
func (l Link) MarshalCBOR() ([]byte, error) {
	if !l.Defined() {
		return nil, errors.New("undefined link")
	}
	return encMode.Marshal(cbor.Tag{Number: 42, Content: append([]byte{0}, l.Bytes()...)})
}

// UnmarshalCBOR decodes a tag-42 link and checks that it is a CID we accept.
func (l *Link) UnmarshalCBOR(data []byte) error {
	var raw cbor.RawTag
	if err := decMode.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if raw.Number != 42 {
		return fmt.Errorf("link: tag %d, want 42", raw.Number)
	}
	var b []byte
	if err := decMode.Unmarshal(raw.Content, &b); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if len(b) < 2 || b[0] != 0 {
		return errors.New("link: missing multibase 0x00 prefix")
	}
	c, err := cid.Cast(b[1:])
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if err := CheckCID(c); err != nil {
		return err
	}
	l.Cid = c
	return nil
}

// decodeCanonical decodes data into v and rejects any encoding that is not
// the canonical one, so that one value can never live under two CIDs.
func decodeCanonical(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return err
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, data) {
		return ErrNotCanonical
	}
	return nil
}
