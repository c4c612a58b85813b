package merge

import "testing"

// FuzzMerge3 checks that no input makes the merge or the diff panic, and
// that the invariants of checkMergeInvariants and checkDiff hold for any
// bytes, not just the random texts the other tests build. Its seeds live
// in testdata/fuzz/FuzzMerge3 and run with every `go test`.
func FuzzMerge3(f *testing.F) {
	for _, c := range merge3Cases {
		f.Add(c.base, c.ours, c.theirs)
	}
	f.Fuzz(func(t *testing.T, base, ours, theirs string) {
		if len(base)+len(ours)+len(theirs) > 1<<16 {
			t.Skip("large inputs only slow the fuzzer down")
		}
		checkMergeInvariants(t, base, ours, theirs)
		checkDiff(t, base, ours)
		if got, err := applyUnified(base, Unified(base, ours, "a", "b", 2)); err != nil || got != ours {
			t.Fatalf("Unified does not apply: %q, %v; want %q", got, err, ours)
		}
	})
}
