package history_test

import (
	"bytes"
	"testing"

	"peerwiki/history"
)

// FuzzDecodeRevision feeds arbitrary bytes to the revision decoder: it must
// never panic, and whatever it accepts must be canonical (re-encoding gives
// the same bytes) so that one revision can never have two CIDs. The seed
// corpus in testdata/fuzz runs with every plain `go test`.
func FuzzDecodeRevision(f *testing.F) {
	r := fixedRevision()
	data, _ := r.Encode()
	f.Add(data)
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	if id, err := history.NewIdentity(); err == nil {
		signed := fixedRevision()
		if signed.Sign(id.Key) == nil {
			data, _ := signed.Encode()
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rev, err := history.DecodeRevision(data)
		if err != nil {
			return
		}
		again, err := rev.Encode()
		if err != nil {
			t.Fatalf("accepted revision does not re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted non-canonical bytes %x (canonical %x)", data, again)
		}
		// Must not panic on any accepted input, and the check against the
		// bytes must say what the check against the encoding says.
		if a, b := rev.VerifySignature(), rev.VerifySignatureOf(data); (a == nil) != (b == nil) {
			t.Fatalf("signature of %x: %v against the encoding, %v against the bytes", data, a, b)
		}
		// What a sync checks the signature against, cut from the bytes,
		// is the encoding of the revision without its signature.
		if len(rev.Sig) > 0 {
			unsigned := *rev
			unsigned.Sig = nil
			want, _ := unsigned.Encode()
			if got, ok := history.SignedPart(data); !ok || !bytes.Equal(got, want) {
				t.Fatalf("signed part of %x: %x (%v), want %x", data, got, ok, want)
			}
		}
	})
}
