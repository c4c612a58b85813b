package markdown

import (
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
)

func TestRenderPlain(t *testing.T) {
	in := "# Title\n\nSome **bold** and *italic* text with `code`, a [link](http://x.example) and [[Other Page|a wiki link]].\n\n- one\n- two is a much longer item that will need wrapping at this width\n1. first\n\n> quoted\n\n```go\nfunc main() {}\n```\n---\n| a | b |\n"
	out := Render(in, Options{Width: 40})
	for _, want := range []string{"Title\n═════", "Some bold and italic text with code, a", "link (http://x.example)", "a wiki link", "• one", "• two is a much longer item that will", "  need wrapping at this width", "1. first", "│ quoted", "  func main() {}", "────", "| a | b |"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "**") || strings.Contains(out, "[[") || strings.Contains(out, "\x1b") {
		t.Errorf("markup or escapes left in plain output:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if w := runewidth.StringWidth(line); w > 40 {
			t.Errorf("line of %d cells exceeds the width: %q", w, line)
		}
	}
}

func TestRenderColor(t *testing.T) {
	out := Render("# H\n\n**b** [[W]]", Options{Width: 40, Color: true})
	if !strings.Contains(out, "\x1b[1m") || !strings.Contains(out, "\x1b[4;34mW\x1b[0m") {
		t.Fatalf("no styles: %q", out)
	}
}

func TestRenderKeepsUnknownText(t *testing.T) {
	in := "#nospace heading?\nplain *unclosed emphasis\n\n"
	out := Render(in, Options{Width: 80})
	if !strings.Contains(out, "#nospace heading? plain *unclosed emphasis") {
		t.Fatalf("text lost: %q", out)
	}
	if Render("", Options{}) != "" {
		t.Fatal("empty body renders as something")
	}
}

func TestWideRunesWrap(t *testing.T) {
	out := Render(strings.Repeat("日本語 ", 20), Options{Width: 20})
	for _, line := range strings.Split(out, "\n") {
		if runewidth.StringWidth(line) > 20 {
			t.Fatalf("wide line %q", line)
		}
	}
}

func TestRenderQuotesEscapes(t *testing.T) {
	in := "# Ti\x1b]0;pwned\atle\n\nclear \x1b[2J here\rover, csi \u009b2J, \u202egnp.exe\n\n- item \x1b[31mred\n\n```\ncode \x1b[H\n```\n| a \x07 |\n"
	for _, color := range []bool{false, true} {
		out := Render(in, Options{Width: 60, Color: color})
		plain := strings.NewReplacer("\x1b[0m", "", "\x1b[1;35m", "", "\x1b[36m", "", "\x1b[2m", "", "\x1b[3m", "").Replace(out)
		if strings.ContainsAny(plain, "\x1b\a\r\u009b\u202e") {
			t.Errorf("color %v: raw control left in %q", color, out)
		}
		for _, want := range []string{`Ti\e]0;pwned\atle`, `clear \e[2J here\rover, csi \u009b2J, \u202egnp.exe`, `item \e[31mred`, `code \e[H`, `| a \a |`} {
			if !strings.Contains(plain, want) {
				t.Errorf("color %v: %q not shown in %q", color, want, out)
			}
		}
	}
	if out := Render("a\r\nb\r\n", Options{Width: 40}); out != "a b" {
		t.Errorf("CRLF lines: %q", out)
	}
}

// TestRenderMissingLinksRed: a link to a page that does not exist is red,
// as a wiki draws it; one to a page that exists stays blue (issue 16).
func TestRenderMissingLinksRed(t *testing.T) {
	missing := func(target string) bool { return target == "Someday" }
	out := Render("See [[Ideas]] and [[Someday|later]].", Options{Width: 40, Color: true, Missing: missing})
	if !strings.Contains(out, "\x1b[4;34mIdeas\x1b[0m") || !strings.Contains(out, "\x1b[4;31mlater\x1b[0m") {
		t.Fatalf("links not coloured by existence: %q", out)
	}
}
