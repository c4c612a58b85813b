package merge

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestMergeGolden pins the exact bytes the merge produces. Automatic merge
// revisions are content-addressed and recomputed by every peer, so any
// change to these hashes means peers running different versions would
// disagree on merges: such a change must ship as a new policy, never as a
// silent edit of this one. Update the hashes only together with that.
func TestMergeGolden(t *testing.T) {
	h := sha256.New()
	for seed := range 500 {
		r := newRand(uint64(seed), 31)
		base, ours, theirs := randomTriple(r)
		res := Merge3(base, ours, theirs)
		h.Write([]byte(res.Text(labels)))
		h.Write([]byte(res.Union()))
		opt := labels
		opt.Diff3 = true
		h.Write([]byte(Merge3Level(base, ours, theirs, Eager).Text(opt)))
		h.Write([]byte(Unified(base, ours, "a", "b", 3)))
	}
	small := hex.EncodeToString(h.Sum(nil))

	c := genMergeCase(42, 200_000, 100)
	// Collide some of theirs' edits with ours' so that the big merge has
	// conflicts to pin too.
	theirs := strings.Replace(c.theirs, "\n- ", "\n- edited: ", 40)
	res := Merge3(c.base, c.ours, theirs)
	if res.Conflicts == 0 {
		t.Fatal("the large golden merge has no conflicts to pin")
	}
	sum := sha256.Sum256([]byte(res.Text(labels) + res.Union()))
	large := hex.EncodeToString(sum[:])

	const (
		wantSmall = "d51bd0e63037bd027f95769f58587ff289c06745fd76b8780677e36bc8fc1b71"
		wantLarge = "22092a4d8f3a78780adc6844e7714f125f80fd9de7ceac890d5a348c9b12acf7"
	)
	if small != wantSmall || large != wantLarge {
		t.Errorf("merge output changed (see the comment above):\nsmall %s, want %s\nlarge %s, want %s", small, wantSmall, large, wantLarge)
	}
}
