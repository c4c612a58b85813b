// Package markdown renders page bodies for a terminal: headings, emphasis,
// code, lists, quotes, rules and [[wiki links]], word-wrapped to a width,
// with ANSI styles or plain. Bodies come from other members: control and
// invisible format characters in them are shown quoted (termtext.Text),
// so the only escapes in the output are the styles it adds itself.
//
// It is deliberately small. glamour, the usual choice, pulls chroma and
// bluemonday, whose package initialisation cost about 18 ms in every
// peerwiki process, including the ones that never draw a page; local
// commands must answer in milliseconds. It never fails: text it does not
// understand is shown as it is.
package markdown

import (
	"regexp"
	"strings"
	"sync"

	"github.com/mattn/go-runewidth"

	"peerwiki/ui/termtext"
)

// Options say how to render.
type Options struct {
	Width int  // wrap width in cells; under 20 counts as 20
	Color bool // ANSI styles; false for NO_COLOR and tests
	// Missing, when set, says whether a [[link]]'s target (the text
	// before any "|") is a page that does not exist: such links are
	// drawn red, as a wiki draws them.
	Missing func(target string) bool
}

type style int

const (
	plain style = 1 << iota
	bold
	italic
	code
	link
	wikiLink
	heading
	dim
	missingLink // a wiki link to a page that does not exist
)

func (s style) sgr() string {
	var codes []string
	if s&(bold|heading) != 0 {
		codes = append(codes, "1")
	}
	if s&italic != 0 {
		codes = append(codes, "3")
	}
	if s&dim != 0 {
		codes = append(codes, "2")
	}
	if s&(link|wikiLink) != 0 {
		codes = append(codes, "4")
	}
	switch {
	case s&code != 0:
		codes = append(codes, "36")
	case s&missingLink != 0:
		codes = append(codes, "31")
	case s&wikiLink != 0:
		codes = append(codes, "34")
	case s&heading != 0:
		codes = append(codes, "35")
	}
	if len(codes) == 0 {
		return ""
	}
	return "\x1b[" + strings.Join(codes, ";") + "m"
}

// span is a run of text in one style.
type span struct {
	text string
	st   style
}

// The expressions are compiled on first use, not at start-up: every
// command pays for package initialisation, and most never render.
var inlineRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile("`[^`]+`|\\*\\*[^*]+\\*\\*|__[^_]+__|\\*[^*\\s][^*]*\\*|_[^_\\s][^_]*_|\\[\\[[^\\[\\]\\n]+\\]\\]|\\[[^\\[\\]\\n]+\\]\\([^)\\s]+\\)")
})

// inline splits a line of Markdown into styled spans, dropping the
// markup; missing (may be nil) picks out links to pages that do not exist.
func inline(s string, base style, missing func(string) bool) []span {
	var out []span
	last := 0
	for _, m := range inlineRE().FindAllStringIndex(s, -1) {
		if m[0] > last {
			out = append(out, span{s[last:m[0]], base})
		}
		tok := s[m[0]:m[1]]
		switch {
		case strings.HasPrefix(tok, "`"):
			out = append(out, span{tok[1 : len(tok)-1], base | code})
		case strings.HasPrefix(tok, "**"), strings.HasPrefix(tok, "__"):
			out = append(out, span{tok[2 : len(tok)-2], base | bold})
		case strings.HasPrefix(tok, "[["):
			target := tok[2 : len(tok)-2]
			st := base | wikiLink
			name, label, ok := strings.Cut(target, "|")
			if missing != nil && missing(strings.TrimSpace(name)) {
				st |= missingLink
			}
			if ok {
				target = label
			}
			out = append(out, span{target, st})
		case strings.HasPrefix(tok, "["):
			text, url, _ := strings.Cut(tok[1:len(tok)-1], "](")
			out = append(out, span{text, base | link}, span{" (" + url + ")", base | dim})
		default:
			out = append(out, span{tok[1 : len(tok)-1], base | italic})
		}
		last = m[1]
	}
	if last < len(s) {
		out = append(out, span{s[last:], base})
	}
	return out
}

type word struct {
	text  string
	st    style
	space bool // a space goes before it
}

// wrap lays spans out in lines of at most width cells, the first line
// prefixed by first and the rest by rest.
func wrap(spans []span, width int, first, rest string, color bool) []string {
	var words []word
	pendingSpace := false
	for _, sp := range spans {
		t := sp.text
		for len(t) > 0 {
			if t[0] == ' ' || t[0] == '\t' {
				pendingSpace = len(words) > 0
				t = t[1:]
				continue
			}
			end := strings.IndexAny(t, " \t")
			if end < 0 {
				end = len(t)
			}
			// A word continuing the previous span without a space joins it.
			words = append(words, word{t[:end], sp.st, pendingSpace})
			pendingSpace = false
			t = t[end:]
		}
	}
	var lines []string
	var b strings.Builder
	prefix := first
	b.WriteString(prefix)
	col := runewidth.StringWidth(prefix)
	lineStart := true
	for _, w := range words {
		ww := runewidth.StringWidth(w.text)
		if !lineStart && w.space && col+1+ww > width {
			lines = append(lines, b.String())
			b.Reset()
			prefix = rest
			b.WriteString(prefix)
			col = runewidth.StringWidth(prefix)
			lineStart = true
		}
		if !lineStart && w.space {
			b.WriteByte(' ')
			col++
		}
		if color && w.st.sgr() != "" {
			b.WriteString(w.st.sgr() + w.text + "\x1b[0m")
		} else {
			b.WriteString(w.text)
		}
		col += ww
		lineStart = false
	}
	lines = append(lines, b.String())
	return lines
}

var (
	orderedRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\s*)(\d+[.)])\s+(.*)$`) })
	bulletRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\s*)([-*+])\s+(.*)$`) })
	ruleRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*([-*_])(\s*([-*_])){2,}\s*$`) })
)

// Render returns body laid out for a terminal.
func Render(body string, o Options) string {
	width := max(o.Width, 20)
	paint := func(s string, st style) string {
		if !o.Color || st.sgr() == "" {
			return s
		}
		return st.sgr() + s + "\x1b[0m"
	}
	var out []string
	var para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, wrap(inline(strings.Join(para, " "), plain, o.Missing), width, "", "", o.Color)...)
			para = nil
		}
	}
	blank := func() {
		if len(out) > 0 && out[len(out)-1] != "" {
			out = append(out, "")
		}
	}
	inFence := false
	body = termtext.Text(strings.ReplaceAll(body, "\r\n", "\n"))
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			flush()
			if !inFence {
				blank()
			}
			inFence = !inFence
			if !inFence {
				out = append(out, "")
			}
			continue
		}
		if inFence {
			out = append(out, "  "+paint(runewidth.Truncate(line, width-2, "…"), code))
			continue
		}
		switch {
		case trimmed == "":
			flush()
			blank()
		case strings.HasPrefix(trimmed, "#"):
			flush()
			level := len(trimmed) - len(strings.TrimLeft(trimmed, "#"))
			text := strings.TrimSpace(trimmed[level:])
			if level > 6 || text == trimmed[level:] && text != "" && trimmed[level] != ' ' {
				para = append(para, trimmed)
				continue
			}
			blank()
			marker := ""
			if level > 1 {
				marker = strings.Repeat("#", level) + " "
			}
			out = append(out, wrap(inline(marker+text, heading, o.Missing), width, "", "", o.Color)...)
			if level == 1 {
				out = append(out, paint(strings.Repeat("═", min(width, runewidth.StringWidth(text))), heading))
			}
		case ruleRE().MatchString(line):
			flush()
			out = append(out, paint(strings.Repeat("─", width), dim))
		case strings.HasPrefix(trimmed, ">"):
			flush()
			text := strings.TrimSpace(strings.TrimPrefix(trimmed, ">"))
			bar := paint("│ ", dim)
			out = append(out, wrap(inline(text, italic, o.Missing), width, bar, bar, o.Color)...)
		case strings.HasPrefix(trimmed, "|"):
			flush()
			out = append(out, runewidth.Truncate(line, width, "…"))
		default:
			if m := bulletRE().FindStringSubmatch(line); m != nil {
				flush()
				indent := strings.Repeat(" ", len(m[1]))
				out = append(out, wrap(inline(m[3], plain, o.Missing), width, indent+"• ", indent+"  ", o.Color)...)
			} else if m := orderedRE().FindStringSubmatch(line); m != nil {
				flush()
				indent := strings.Repeat(" ", len(m[1]))
				pad := strings.Repeat(" ", len(m[2])+1)
				out = append(out, wrap(inline(m[3], plain, o.Missing), width, indent+m[2]+" ", indent+pad, o.Color)...)
			} else {
				para = append(para, trimmed)
			}
		}
	}
	flush()
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}
