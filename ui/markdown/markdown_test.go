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
