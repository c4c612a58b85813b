package history

import "testing"

// An idSet answers as a map would, below and past the size at which it
// turns into a bitmap, for ids the bitmap cannot hold too.
func TestIDSetIsASet(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  []int64
	}{
		{"empty", nil},
		{"a few", []int64{5, 1, 64, 63, 5}},
		{"dense, past the map", seq(0, 3*idSetSmall, 1)},
		{"sparse, past the map", seq(7, 7+200*idSetSmall, 199)},
		{"out of the bitmap's range", append(seq(1, 2*idSetSmall, 1), -3, idSetMaxBit, idSetMaxBit+1, 1<<40)},
	} {
		var s idSet
		want := map[int64]bool{}
		for _, id := range tc.ids {
			s.add(id)
			want[id] = true
		}
		probe := append(append([]int64(nil), tc.ids...), -1, 0, 2, 65, 4*idSetSmall, idSetMaxBit-1, 1<<41)
		for _, id := range tc.ids {
			probe = append(probe, id+1, id-1)
		}
		for _, id := range probe {
			if got := s.has(id); got != want[id] {
				t.Errorf("%s: has(%d) = %v, want %v", tc.name, id, got, want[id])
			}
		}
		if big := len(want) > idSetSmall; big && len(s.bits) > idSetMaxBit/64 {
			t.Errorf("%s: a bitmap of %d words", tc.name, len(s.bits))
		}
	}
}

func seq(from, to, step int64) []int64 {
	var out []int64
	for i := from; i < to; i += step {
		out = append(out, i)
	}
	return out
}
