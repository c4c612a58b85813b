package wiki_test

import (
	"strings"
	"testing"
	"unsafe"

	"peerwiki/wiki"
)

// The title, id and rev that ParseMarkdown returns share no memory with
// the file's text: an import keeps each file's page id to its end, and a
// piece of the text kept the whole text (a batched import of edited pages
// held every file it read).
func TestParsedFieldsKeepNotTheFile(t *testing.T) {
	body := strings.Repeat("words of the page\n", 200)
	for _, text := range []string{
		"---\ntitle: A page\nid: bafyreiabc\nrev: bafyreidef\n---\n" + body,
		"---\ntitle: \"Quoted\"\nid: bafyreiabc\n---\n" + body,
		"# Heading title\n\n" + body,
	} {
		data := []byte(text)
		f, err := wiki.ParseMarkdown("page.md", data)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"title": f.Title, "id": f.ID, "rev": f.Rev} {
			if v == "" {
				continue
			}
			p := uintptr(unsafe.Pointer(unsafe.StringData(v)))
			lo := uintptr(unsafe.Pointer(unsafe.StringData(f.Body)))
			if p >= lo-4096 && p < lo+uintptr(len(f.Body)) {
				t.Errorf("%s %q is cut out of the file's text", name, v)
			}
		}
	}
}
