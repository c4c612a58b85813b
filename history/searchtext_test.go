package history

import (
	"strings"
	"testing"
)

// The search index's text reads back whether it was stored with S2 (now)
// or zstd (repos from before).
func TestSearchTextEncodings(t *testing.T) {
	for _, text := range []string{"", "Title", strings.Repeat("a line of a page, [[Link]] and ü\n", 200)} {
		got, err := uncompressSearchText(compressSearchText(text))
		if err != nil || got != text {
			t.Fatalf("S2: %q, %v", got, err)
		}
		got, err = uncompressSearchText(zenc.EncodeAll([]byte(text), nil))
		if err != nil || got != text {
			t.Fatalf("zstd: %q, %v", got, err)
		}
	}
	if _, err := uncompressSearchText([]byte{searchS2, 0xff, 0xff}); err == nil {
		t.Fatal("corrupt S2 text decoded")
	}
}
