package cli

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"testing"
)

// appendPageElem writes the encoder's bytes for every page: titles and
// names from other members hold anything (control characters, quotes,
// HTML, invalid UTF-8, the line separators JSON escapes, long runs of
// non-ASCII), and heads and editors come in any number.
func TestPageElemIsTheEncoders(t *testing.T) {
	pieces := []string{"", "a", "Page 12", `"`, `\`, "<b>&amp;</b>", "\n", "\r\t", "\x00", "\x1b[2J", "\x7f",
		"é", "日本語", "\u2028", "\u2029", "\xff", "\xe2\x80", "\U0001F600", "\u0085", "'", "/", "\ufffd"}
	word := func(r *rand.Rand) string {
		var b []byte
		for range r.Intn(5) {
			b = append(b, pieces[r.Intn(len(pieces))]...)
		}
		return string(b)
	}
	r := rand.New(rand.NewSource(7))
	enc := func(p pageJSON) []byte {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetIndent("  ", "  ")
		e.SetEscapeHTML(false)
		if err := e.Encode(p); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	for i := range 5000 {
		p := pageJSON{ID: word(r), Title: word(r), Rev: word(r), Conflict: r.Intn(2) == 0, Deleted: r.Intn(2) == 0,
			Policy: word(r), Updated: word(r), Created: word(r)}
		switch n := r.Intn(5); n {
		case 0: // nil: null
		case 1:
			p.Heads = []string{}
		default:
			for range n - 1 {
				p.Heads = append(p.Heads, word(r))
			}
		}
		for range r.Intn(3) {
			p.Editing = append(p.Editing, editorJSON{PeerID: word(r), Name: word(r), Since: word(r)})
		}
		if i%7 == 0 {
			p.Editing = []editorJSON{} // empty: omitted like nil
		}
		want := enc(p)
		if got := appendPageElem(nil, &p); !bytes.Equal(got, want) {
			t.Fatalf("page %+v:\ngot  %q\nwant %q", p, got, want)
		}
	}
}

func BenchmarkPageElem(b *testing.B) {
	p := pageJSON{ID: "bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqd7j5wjmbm", Title: "Roadmap of the replica 41234",
		Rev: "bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqd7j5wjmbm", Heads: []string{"bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqd7j5wjmbm"},
		Policy: "manual", Updated: "2026-12-07T02:15:27.123Z", Created: "2026-12-07T02:15:27.123Z"}
	var buf []byte
	for b.Loop() {
		buf = appendPageElem(buf[:0], &p)
	}
}
