package history

import (
	"crypto/ed25519"
	"crypto/rand"
	"math/big"
	"testing"
)

// verifyEd25519 accepts and refuses exactly what crypto/ed25519 does:
// replicas must agree on every signature, whichever verifier they run.
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
