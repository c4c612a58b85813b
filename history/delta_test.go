package history

import (
	"bytes"
	"math/rand"
	"testing"
)

func TestDeltaRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	words := []string{"alpha ", "beta ", "gamma\n", "delta ", "# head\n", "- item\n", "\n"}
	gen := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[rng.Intn(len(words))])
		}
		return b.Bytes()
	}
	for i := 0; i < 300; i++ {
		base := gen(rng.Intn(5000))
		target := append([]byte{}, base...)
		for k := rng.Intn(5); k >= 0; k-- {
			if len(target) == 0 {
				break
			}
			at := rng.Intn(len(target))
			switch rng.Intn(3) {
			case 0:
				target = append(target[:at], append(gen(rng.Intn(100)), target[at:]...)...)
			case 1:
				end := min(len(target), at+rng.Intn(200))
				target = append(target[:at], target[end:]...)
			default:
				target[at] ^= 0x20
			}
		}
		d := makeDelta(base, target)
		got, err := applyDelta(base, d)
		if err != nil || !bytes.Equal(got, target) {
			t.Fatalf("case %d: round trip failed: %v", i, err)
		}
		if len(base) > 1000 && len(target) > 1000 && len(d) > len(target)/2 && bytes.Equal(base[:100], target[:100]) {
			t.Logf("case %d: delta %d bytes for a %d-byte target", i, len(d), len(target))
		}
	}
}

func TestDeltaRejectsCorruption(t *testing.T) {
	base := []byte("the quick brown fox jumps over the lazy dog, again and again and again\n")
	target := []byte("the quick brown fox jumps over the lazy cat, again and again and again\n")
	d := makeDelta(base, target)
	for i := range d {
		bad := append([]byte{}, d...)
		bad[i] ^= 0xff
		if got, err := applyDelta(base, bad); err == nil && bytes.Equal(got, target) {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	if _, err := applyDelta(base[:10], d); err == nil {
		t.Fatal("delta applied to a too-short base")
	}
}
