package termtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLineAndText(t *testing.T) {
	for _, tc := range []struct {
		name, in, line, text string
	}{
		{"empty", "", "", ""},
		{"plain ascii", "Home page: notes (2026)", "Home page: notes (2026)", "Home page: notes (2026)"},
		{"unicode kept", "Ünïcødé — 日本語 🎉", "Ünïcødé — 日本語 🎉", "Ünïcødé — 日本語 🎉"},
		{"backslash not doubled", `C:\dir\e`, `C:\dir\e`, `C:\dir\e`},
		{"emoji with joiners kept", "👩\u200d💻 ک\u200cه", "👩\u200d💻 ک\u200cه", "👩\u200d💻 ک\u200cه"},
		{"window title OSC", "X\x1b]0;pwned\a", `X\e]0;pwned\a`, `X\e]0;pwned\a`},
		{"clear screen CSI", "\x1b[2J\x1b[H", `\e[2J\e[H`, `\e[2J\e[H`},
		{"other C0 and DEL", "a\x00b\x01c\x7f\b\v\f", `a\x00b\x01c\x7f\b\v\f`, `a\x00b\x01c\x7f\b\v\f`},
		{"line break", "one\ntwo", `one\ntwo`, "one\ntwo"},
		{"tab", "a\tb", `a\tb`, "a\tb"},
		{"crlf", "a\r\nb\r\n", `a\r\nb\r\n`, "a\r\nb\r\n"},
		{"lone cr", "safe\rforged", `safe\rforged`, `safe\rforged`},
		{"cr at the end", "a\r", `a\r`, `a\r`},
		{"C1 CSI as UTF-8", "x\u009b2Jy", `x\u009b2Jy`, `x\u009b2Jy`},
		{"C1 NEL", "a\u0085b", `a\u0085b`, `a\u0085b`},
		{"bidi override", "abc\u202edcba\u202c", `abc\u202edcba\u202c`, `abc\u202edcba\u202c`},
		{"bidi isolates", "\u2066a\u2067b\u2068c\u2069", `\u2066a\u2067b\u2068c\u2069`, `\u2066a\u2067b\u2068c\u2069`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`, `\u200e\u200f\u061c`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`, `a\u2028b\u2029c`},
		{"invisible", "Ho\u200bme\ufeff\u2060", `Ho\u200bme\ufeff\u2060`, `Ho\u200bme\ufeff\u2060`},
		{"language tag", "a\U000e0001b", `a\U000e0001b`, `a\U000e0001b`},
		{"invalid byte 0x9b", "a\x9b2Jb", `a\x9b2Jb`, `a\x9b2Jb`},
		{"invalid bytes", "\xff\xfe ok \xc3", `\xff\xfe ok \xc3`, `\xff\xfe ok \xc3`},
		{"surrogate encoded", "\xed\xa0\x80", `\xed\xa0\x80`, `\xed\xa0\x80`},
		{"mixed", "T\x1b[31m\n\tx\u202e", `T\e[31m\n\tx\u202e`, "T\\e[31m\n\tx\\u202e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Line(tc.in); got != tc.line {
				t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
			}
			if got := Text(tc.in); got != tc.text {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
			}
		})
	}
}

// TestQuotedIsInert checks the promise on every byte and on every
// character the package hides: nothing a terminal acts on survives.
func TestQuotedIsInert(t *testing.T) {
	var all strings.Builder
	for b := 0; b < 256; b++ {
		all.WriteByte(byte(b))
	}
	for r := rune(0x80); r < 0x30000; r++ {
		if hidden(r) {
			all.WriteRune(r)
		}
	}
	all.WriteRune(0xe0001)
	for _, got := range []string{Line(all.String()), Text(all.String())} {
		if !utf8.ValidString(got) {
			t.Fatalf("quoted text is not UTF-8: %q", got)
		}
		for _, r := range got {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || hidden(r) {
				t.Fatalf("quoted text still holds %U: %q", r, got)
			}
		}
	}
	if strings.ContainsAny(Line(all.String()), "\n\t") {
		t.Fatal("Line kept a line break or tab")
	}
}

func TestNothingToQuoteAllocatesNothing(t *testing.T) {
	body := strings.Repeat("A normal line of a page, with ünïcødé and a\ttab.\r\n", 100)
	if n := testing.AllocsPerRun(100, func() { Text(body); Line("Home") }); n != 0 {
		t.Fatalf("%v allocations for text with nothing to quote", n)
	}
}

func BenchmarkTextPlain(b *testing.B) {
	body := strings.Repeat("A normal line of a page, with ünïcødé.\n", 25_000) // about 1 MB
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		Text(body)
	}
}
