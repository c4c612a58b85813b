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
		_ = rev.VerifySignature() // must not panic on any accepted input
	})
}
