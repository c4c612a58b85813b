package history_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"peerwiki/history"
)

// fixedRevision is a revision whose encoding is pinned by a golden vector:
// a library upgrade that changed the bytes would change every CID.
func fixedRevision() *history.Revision {
	body := history.SumCID(history.CodecRaw, []byte("hello\n"))
	parent := history.SumCID(history.CodecDagCBOR, []byte("parent"))
	page := history.SumCID(history.CodecDagCBOR, []byte("page"))
	r := &history.Revision{Wiki: "w1", Page: &history.Link{Cid: page}, Title: "Home",
		Body: history.Link{Cid: body}, Name: "alice", Time: 1700000000000, Height: 2, Msg: "m"}
	r.SetParents([]cid.Cid{parent})
	return r
}

func TestRevisionGoldenEncoding(t *testing.T) {
	data, err := fixedRevision().Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Keys in dag-cbor order (shorter first, then bytewise): msg, body,
	// name, page, time, wiki, title, height, parents.
	const golden = "a9636d7367616d64626f6479d82a582500015512205891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" +
		"646e616d6565616c6963656470616765d82a582500017112203660315a9af3df255d8f19ab077e4797822b41488a0e2a04bc6af71213c23274" +
		"6474696d651b0000018bcfe568006477696b69627731657469746c6564486f6d6566686569676874026770617265" +
		"6e747381d82a58250001711220e47125968b3b71049fbc4802d1e40a71ea1359decfabacf70b34588037d4ff0c"
	if got := hex.EncodeToString(data); got != golden {
		t.Fatalf("encoding changed:\n got %s\nwant %s", got, golden)
	}
	c := history.SumCID(history.CodecDagCBOR, data)
	const wantCID = "bafyreifd7uoqsxgouitt776uecnq77jbjxmivwrvupf42ttfhasqeg7e2u"
	if c.String() != wantCID {
		t.Fatalf("CID = %s, want %s", c, wantCID)
	}
}

func TestRevisionRoundTripIsCanonical(t *testing.T) {
	r := fixedRevision()
	a, _ := r.Encode()
	back, err := history.DecodeRevision(a)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := back.Encode()
	if !bytes.Equal(a, b) {
		t.Fatal("decode/encode changed the bytes")
	}
	// Same content, same CID, always: encoding twice gives the same block.
	b1, _ := r.Block()
	b2, _ := fixedRevision().Block()
	if !b1.Cid.Equals(b2.Cid) {
		t.Fatal("same revision, different CIDs")
	}
}

func TestNonCanonicalRejected(t *testing.T) {
	data, _ := fixedRevision().Encode()
	// Re-encode the top-level map header with a needlessly long length
	// form: same value, non-canonical bytes.
	long := append([]byte{0xb8, byte(data[0] & 0x1f)}, data[1:]...)
	if _, err := history.DecodeRevision(long); !errors.Is(err, history.ErrMalformed) {
		t.Fatalf("non-canonical encoding accepted: %v", err)
	}
}

func TestSignatureVerifyAndReject(t *testing.T) {
	id, err := history.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r := fixedRevision()
	if err := r.Sign(id.Key); err != nil {
		t.Fatal(err)
	}
	if err := r.VerifySignature(); err != nil {
		t.Fatalf("valid signature rejected: %v", err)
	}
	tampered := *r
	tampered.Title = "Evil"
	if err := tampered.VerifySignature(); !errors.Is(err, history.ErrBadSignature) {
		t.Fatalf("tampered revision verified: %v", err)
	}
	other, _ := history.NewIdentity()
	forged := *r
	forged.Author = []byte(other.ID)
	if err := forged.VerifySignature(); !errors.Is(err, history.ErrBadSignature) {
		t.Fatalf("signature under another author verified: %v", err)
	}
	unsigned := *r
	unsigned.Sig = nil
	if err := unsigned.VerifySignature(); !errors.Is(err, history.ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	// A non-Ed25519 author key is refused.
	sk, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secp := fixedRevision()
	if err := secp.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := secp.VerifySignature(); !errors.Is(err, history.ErrBadSignature) {
		t.Fatalf("secp256k1 signature accepted: %v", err)
	}
}

func TestTamperedBlockRejected(t *testing.T) {
	b := history.NewBlock(history.CodecRaw, []byte("text\n"))
	if err := b.Verify(); err != nil {
		t.Fatal(err)
	}
	b.Data = []byte("texT\n")
	if err := b.Verify(); !errors.Is(err, history.ErrCIDMismatch) {
		t.Fatalf("tampered block: %v", err)
	}
	big := history.NewBlock(history.CodecRaw, make([]byte, history.MaxBlockSize+1))
	if err := big.Verify(); !errors.Is(err, history.ErrTooLarge) {
		t.Fatalf("oversized block: %v", err)
	}
	v0, _ := cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: 0x12, MhLength: -1}.Sum([]byte("x"))
	if err := (history.Block{Cid: v0, Data: []byte("x")}).Verify(); !errors.Is(err, history.ErrBadCID) {
		t.Fatalf("CIDv0 accepted: %v", err)
	}
}
