package history

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// What signedPart cuts out of a signed revision's encoding is exactly the
// encoding of the revision without its signature, for revisions of every
// shape: with and without a message, of each length a CBOR string head
// can take, a genesis and a merge, deleted, with a policy. Anything else
// (no signature, not a map, a signature cut off) is refused; a rest cut
// off gives a message cut off, which the decoder never lets through.
func TestSignedPartIsTheUnsignedEncoding(t *testing.T) {
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	body := SumCID(CodecRaw, []byte("text"))
	msgs := []string{"", "m", strings.Repeat("x", 23), strings.Repeat("y", 24), strings.Repeat("z", 255), strings.Repeat("w", 256),
		strings.Repeat("v", 65535), strings.Repeat("u", 65536), "ünïcödé"}
	for i := range 300 {
		r := &Revision{Wiki: "w" + fmt.Sprint(rng.Intn(100)), Title: fmt.Sprintf("Page %d", rng.Int()), Body: Link{Cid: body},
			Name: strings.Repeat("n", rng.Intn(40)), Time: rng.Int63n(1 << 45), Height: uint64(1 + rng.Intn(1000)), Msg: msgs[i%len(msgs)]}
		if rng.Intn(2) == 0 {
			page := SumCID(CodecDagCBOR, []byte(fmt.Sprint("page", i)))
			r.Page = &Link{Cid: page}
			var parents []cid.Cid
			for k := range 1 + rng.Intn(3) {
				parents = append(parents, SumCID(CodecDagCBOR, []byte(fmt.Sprint("parent", i, k))))
			}
			r.SetParents(parents)
		} else {
			r.Nonce = []byte{byte(i), 1, 2, 3}
		}
		r.Deleted = rng.Intn(5) == 0
		if rng.Intn(4) == 0 {
			r.Policy = "union"
		}
		if err := r.Sign(id.Key); err != nil {
			t.Fatal(err)
		}
		data, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		unsigned := *r
		unsigned.Sig = nil
		want, err := unsigned.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := signedPart(data)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("revision %d (message of %d bytes): cut %v, %x\nwant %x", i, len(r.Msg), ok, got, want)
		}
		if _, ok := signedPart(want); ok {
			t.Fatalf("revision %d: a part cut from an unsigned encoding", i)
		}
		for _, cut := range []int{0, 1, 5, len(data) - len(r.Sig) - 3} {
			if cut < 0 || cut > len(data) {
				continue
			}
			if got, ok := signedPart(data[:cut]); ok && !bytes.HasPrefix(want, got) {
				t.Fatalf("revision %d cut at %d: %x", i, cut, got)
			}
		}
		// And the check the store runs agrees with VerifySignature.
		c, err := r.sigCheckOf(data)
		if err != nil || !verifyEd25519(c.pub, c.msg, c.sig) {
			t.Fatalf("revision %d: %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, {0xa0}, {0x80}, {0xa1, 0x63, 's', 'i', 'g', 0x58}, {0xa1, 0x63, 's', 'i', 'g', 0x58, 0x40, 1}} {
		if _, ok := signedPart(bad); ok {
			t.Fatalf("%x: cut", bad)
		}
	}
}
