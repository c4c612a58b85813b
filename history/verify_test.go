package history

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// verifyEd25519 accepts and refuses what crypto/ed25519 does on every
// signature signing can make or a bit flip can spoil.
func TestVerifyMatchesStandardLibrary(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("a revision's canonical bytes")
	sig := ed25519.Sign(priv, msg)
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}
	// s + L: the same signature with a scalar that is not reduced, which
	// crypto/ed25519 refuses (malleability).
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(reverse(sig[32:]))
	s.Add(s, l)
	unreduced := append(append([]byte(nil), sig[:32]...), reverse(pad32(s.Bytes()))...)
	cases := []struct {
		name          string
		pub, msg, sig []byte
	}{
		{"valid", pub, msg, sig},
		{"other message", pub, flip(msg, 0), sig},
		{"flipped R", pub, msg, flip(sig, 3)},
		{"flipped s", pub, msg, flip(sig, 40)},
		{"unreduced s", pub, msg, unreduced},
		{"short signature", pub, msg, sig[:63]},
		{"other key", flip(pub, 5), msg, sig},
		{"all-zero key", make([]byte, 32), msg, sig},
	}
	for _, tc := range cases {
		want := ed25519.Verify(tc.pub, tc.msg, tc.sig)
		for range 2 { // the second time from the expanded-key cache
			if got := verifyEd25519(tc.pub, tc.msg, tc.sig); got != want {
				t.Errorf("%s: verifyEd25519 = %v, crypto/ed25519 says %v", tc.name, got, want)
			}
		}
	}
}

// smallOrderKey is a public key of order 8 (an Ed25519 torsion point).
var smallOrderKey, _ = hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")

// forgedOnTorsion is a "signature" anyone can make for smallOrderKey: R
// the identity, s zero.
func forgedOnTorsion() []byte {
	sig := make([]byte, 64)
	sig[0] = 1
	return sig
}

// Where the rules differ: a signature crafted on a small-order key holds
// under ZIP-215 for every message, and for crypto/ed25519 only when the
// message's hash is a multiple of the key's order. Every replica of sync
// version 3 says yes to all of them, one by one or in a batch.
func TestVerifyFollowsZIP215(t *testing.T) {
	sig := forgedOnTorsion()
	std := 0
	for i := range 64 {
		msg := []byte{byte(i), 'm'}
		if !verifyEd25519(smallOrderKey, msg, sig) {
			t.Fatalf("message %d: refused; ZIP-215 accepts it", i)
		}
		if ed25519.Verify(smallOrderKey, msg, sig) {
			std++
		}
	}
	if std == 0 || std == 64 {
		t.Fatalf("crypto/ed25519 accepted %d of 64; want some but not all (is the key of order 8?)", std)
	}
}

// A batch gives the verdict of one-by-one checks and names the first bad
// signature.
func TestVerifyBatch(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var checks []sigCheck
	for i := range 100 {
		msg := []byte{byte(i), 'x'}
		if i%10 == 3 {
			checks = append(checks, sigCheck{smallOrderKey, msg, forgedOnTorsion()})
			continue
		}
		checks = append(checks, sigCheck{pub, msg, ed25519.Sign(priv, msg)})
	}
	if got := verifyBatch(checks); got != -1 {
		t.Fatalf("a good batch: first bad at %d", got)
	}
	for _, bad := range []int{0, 57, 99} {
		spoiled := append([]sigCheck(nil), checks...)
		spoiled[bad].sig = append([]byte(nil), spoiled[bad].sig...)
		spoiled[bad].sig[40] ^= 1
		if bad == 57 {
			spoiled[80].msg = []byte("not what was signed")
		}
		if got := verifyBatch(spoiled); got != bad {
			t.Fatalf("spoiled at %d: first bad at %d", bad, got)
		}
		if got := verifyBatch(spoiled[bad : bad+1]); got != 0 {
			t.Fatalf("alone, the spoiled signature: %d", got)
		}
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, x := range b {
		out[len(b)-1-i] = x
	}
	return out
}

func pad32(b []byte) []byte {
	return append(make([]byte, 32-len(b)), b...)
}

// signMessage makes, byte for byte, the signature libp2p's key (Go's
// crypto/ed25519) makes, for keys and messages of every size around the
// hash's block.
func TestSignMatchesLibp2p(t *testing.T) {
	for i := range 50 {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, i*7)
		rand.Read(msg)
		want, err := key.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := signMessage(key, msg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message of %d bytes: signature %x, libp2p's %x", len(msg), got, want)
		}
	}
}
