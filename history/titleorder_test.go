package history_test

import (
	"cmp"
	"math/rand"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"peerwiki/history"
)

// naturalOrder is the rule TitleOrderKey encodes, written as a walk over
// both titles: the definition the key is checked against.
func naturalOrder(a, b string) int {
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	run := func(s string) string {
		n := 0
		for n < len(s) && digit(s[n]) {
			n++
		}
		return s[:n]
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if digit(a[i]) && digit(b[j]) {
			na, nb := run(a[i:]), run(b[j:])
			va, vb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := cmp.Compare(len(va), len(vb)); c != 0 {
				return c
			}
			if c := strings.Compare(va, vb); c != 0 {
				return c
			}
			i, j = i+len(na), j+len(nb)
			continue
		}
		ra, sa := utf8.DecodeRuneInString(a[i:])
		rb, sb := utf8.DecodeRuneInString(b[j:])
		if c := cmp.Compare(unicode.ToLower(ra), unicode.ToLower(rb)); c != 0 {
			return c
		}
		i, j = i+sa, j+sb
	}
	if c := cmp.Compare(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func TestCompareTitlesTable(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"Note 2", "Note 10", -1},
		{"note 2", "Note 2", 1},
		{"Note 02", "Note 2", -1},
		{"Note", "Note 1", -1},
		{"Note 1", "Note a", -1},
		{"Note 1", "Note !", 1},
		{"a", "B", -1},
		{"x99999999999999999999", "x100000000000000000000", -1},
		{"é", "z", 1},
		{"\u212a", "k", 1}, // the Kelvin sign is a k in lower case; then by bytes
		{"", "a", -1},
		{"same", "same", 0},
	} {
		if got := history.CompareTitles(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareTitles(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := naturalOrder(tc.a, tc.b); got != tc.want {
			t.Errorf("naturalOrder(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// The key orders random titles as the walk does: digits with leading
// zeros, case, letters whose lower case is ASCII, invalid UTF-8.
func TestTitleOrderKeyAgreesWithTheRule(t *testing.T) {
	parts := []string{"0", "00", "1", "2", "9", "10", "007", "a", "A", "b", "Z", " ", "-", ".", ":", "/",
		"é", "É", "ß", "\u212a", "k", "K", "İ", "i", "日", "\ufffd", "\xff", "\xc3", "~"}
	rng := rand.New(rand.NewSource(19))
	gen := func() string {
		var b strings.Builder
		for n := rng.Intn(6); n > 0; n-- {
			b.WriteString(parts[rng.Intn(len(parts))])
		}
		return b.String()
	}
	for range 200000 {
		a, b := gen(), gen()
		if got, want := history.CompareTitles(a, b), naturalOrder(a, b); got != want {
			t.Fatalf("CompareTitles(%q, %q) = %d, the rule says %d", a, b, got, want)
		}
	}
}
