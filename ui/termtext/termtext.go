// Package termtext quotes text that came from other members (page titles
// and bodies, author names, commit messages, presence names) so that it
// can be printed on a terminal without acting on it: a title carrying
// "\x1b]0;...\a" must not retitle the window, one carrying "\x1b[2J" must not
// clear the screen, a line break must not forge a line of output, and a
// bidirectional override must not reorder what is printed after it.
//
// Characters that could act on the terminal or hide in the output are
// shown as escapes in the manner of git and ls: C0 controls as \e, \a, \r,
// \x01 …, DEL as \x7f, C1 controls as \u009b, bidirectional controls and
// other invisible format characters as \u202e, and bytes that are not
// UTF-8 as \xff. The quoted form is for people to read, never parsed
// back: a backslash in the text is not doubled, so that ordinary text
// prints byte for byte as it is.
//
// It owns display only. It never changes what is stored or edited, and
// JSON output needs none of it (encoding/json escapes controls itself).
package termtext

import (
	"fmt"
	"unicode/utf8"
)

// Line returns s quoted for one line of terminal output: a title, a name,
// a message, an id. Line breaks and tabs are quoted too, so s stays on one
// line. s is returned as it is (no copy) when nothing needs quoting.
func Line(s string) string { return quote(s, false) }

// Text returns s quoted for a block of lines: a page body, a diff. Line
// breaks, tabs and the carriage return of a CRLF line end are kept; every
// other control character is quoted, a lone carriage return included. s is
// returned as it is (no copy) when nothing needs quoting.
func Text(s string) string { return quote(s, true) }

func quote(s string, multiline bool) string {
	var out []byte // nil until something is quoted
	done := 0      // s[:done] is in out
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		var esc string
		size := 1
		if c < utf8.RuneSelf {
			if multiline && (c == '\n' || c == '\t' || c == '\r' && i+1 < len(s) && s[i+1] == '\n') {
				i++
				continue
			}
			esc = controlEscape(c)
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				esc = fmt.Sprintf(`\x%02x`, c)
			case hidden(r):
				esc = runeEscape(r)
			default:
				i += size
				continue
			}
		}
		if out == nil {
			out = make([]byte, 0, len(s)+16)
		}
		out = append(out, s[done:i]...)
		out = append(out, esc...)
		i += size
		done = i
	}
	if out == nil {
		return s
	}
	return string(append(out, s[done:]...))
}

// controlEscape is the escape of an ASCII control character (C0 or DEL).
func controlEscape(c byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\t':
		return `\t`
	case '\n':
		return `\n`
	case '\v':
		return `\v`
	case '\f':
		return `\f`
	case '\r':
		return `\r`
	case 0x1b:
		return `\e`
	}
	return fmt.Sprintf(`\x%02x`, c)
}

func runeEscape(r rune) string {
	if r > 0xffff {
		return fmt.Sprintf(`\U%08x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// hidden reports whether r is a C1 control or an invisible format
// character that can reorder or disguise output: the bidirectional
// marks, embeddings, overrides and isolates, line and paragraph
// separators, zero-width space and word joiner, the byte order mark, the
// interlinear annotation characters and the language tag. The zero-width
// joiner and non-joiner (needed by emoji and several scripts), the soft
// hyphen and the emoji tag characters are left alone.
func hidden(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls; U+009B is CSI
		return true
	case r == 0x061c, r == 0x180e, r == 0x200b, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x2028 && r <= 0x202e: // separators; LRE RLE PDF LRO RLO
		return true
	case r >= 0x2060 && r <= 0x206f: // word joiner …; LRI RLI FSI PDI; deprecated
		return true
	case r == 0xfeff, r >= 0xfff9 && r <= 0xfffb, r == 0xe0001:
		return true
	}
	return false
}
