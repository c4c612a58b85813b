package web

import (
	"strings"
	"testing"
)

// TestRenderMarkdownHostile: what a peer's page can hold never becomes
// markup that runs or loads anything.
func TestRenderMarkdownHostile(t *testing.T) {
	tests := []struct {
		name, body   string
		want, absent []string
	}{
		{"script block", "<script>window.pwned=1</script>", []string{"&lt;script&gt;"}, []string{"<script"}},
		{"inline img onerror", "hi <img src=x onerror=alert(1)> there", []string{"&lt;img src=x onerror=alert(1)&gt;"}, []string{"<img"}},
		{"style block", "<style>body{display:none}</style>", []string{"&lt;style&gt;"}, []string{"<style"}},
		{"svg", "<svg onload=alert(1)><script>x</script></svg>", []string{"&lt;svg"}, []string{"<svg", "<script"}},
		{"javascript link", "[x](javascript:alert(1))", []string{">x</a>"}, []string{"javascript:"}},
		{"javascript link, mixed case and tab", "[x](JaVa\tScRiPt:alert(1))", nil, []string{"alert(1)\""}},
		{"entity-encoded scheme", "[x](&#106;avascript:alert(1))", nil, []string{"avascript:"}},
		{"vbscript", "[x](vbscript:msgbox)", nil, []string{"vbscript:"}},
		{"data image", "![x](data:image/png;base64,AAAA)", nil, []string{"data:"}},
		{"data link", "[x](data:text/html,<script>alert(1)</script>)", nil, []string{"data:", "<script"}},
		{"autolink javascript", "<javascript:alert(1)>", nil, []string{"href=\"javascript"}},
		{"http link kept", "[x](https://example.org/a)", []string{`href="https://example.org/a"`}, nil},
		{"relative link kept", "[x](/page/abc)", []string{`href="/page/abc"`}, nil},
		{"wiki link", "see [[Other Page|there]]", []string{`class="wikilink" href="/go?title=Other+Page"`, ">there</a>"}, nil},
		{"missing wiki link", "see [[Nowhere]]", []string{`class="wikilink missing"`, `href="/new?title=Nowhere"`}, nil},
		{"wiki link with quotes", `[["><script>x</script>]]`, nil, []string{"<script"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderMarkdown(tt.body, []string{"nowhere"})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("render(%q) = %q, want it to contain %q", tt.body, got, w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(strings.ToLower(got), strings.ToLower(a)) {
					t.Errorf("render(%q) = %q, must not contain %q", tt.body, got, a)
				}
			}
		})
	}
}
