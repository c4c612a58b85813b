package tui

import "testing"

// The status bar says how the connected peers are connected, in a fixed
// order, and nothing when no node says.
func TestViaSummary(t *testing.T) {
	for _, tc := range []struct {
		via  map[string]int
		want string
	}{
		{nil, ""},
		{map[string]int{"relayed": 1, "lan": 2}, " (2 lan, 1 relayed)"},
		{map[string]int{"hole-punched": 1, "direct": 1, "other": 3}, " (1 direct, 1 hole-punched)"},
	} {
		if got := viaSummary(tc.via); got != tc.want {
			t.Errorf("viaSummary(%v) = %q, want %q", tc.via, got, tc.want)
		}
	}
}
