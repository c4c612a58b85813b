package cli

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendPageElem appends p as one element of `list --json`'s array: the
// bytes a json.Encoder with SetIndent("  ", "  ") and SetEscapeHTML(false)
// writes for it, without its final newline. Written out by hand because
// the encoder indents by encoding compactly and scanning the result again:
// at 100,000 pages that was most of list --json's time (0.45 of its 1.3 s
// of CPU). TestPageElemIsTheEncoders checks it against the encoder.
func appendPageElem(dst []byte, p *pageJSON) []byte {
	const in1, in2, in3 = "\n    ", "\n      ", "\n        "
	dst = append(dst, '{')
	field := func(name string) {
		dst = append(dst, in1...)
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `": `...)
	}
	str := func(name, v string) {
		field(name)
		dst = appendJSONString(dst, v)
		dst = append(dst, ',')
	}
	boolean := func(name string, v bool) {
		field(name)
		dst = strconv.AppendBool(dst, v)
		dst = append(dst, ',')
	}
	str("id", p.ID)
	str("title", p.Title)
	str("rev", p.Rev)
	field("heads")
	switch {
	case p.Heads == nil:
		dst = append(dst, "null"...)
	case len(p.Heads) == 0:
		dst = append(dst, "[]"...)
	default:
		dst = append(dst, '[')
		for i, h := range p.Heads {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, in2...)
			dst = appendJSONString(dst, h)
		}
		dst = append(dst, in1...)
		dst = append(dst, ']')
	}
	dst = append(dst, ',')
	boolean("conflict", p.Conflict)
	boolean("deleted", p.Deleted)
	str("policy", p.Policy)
	str("updated", p.Updated)
	field("created")
	dst = appendJSONString(dst, p.Created)
	if len(p.Editing) > 0 { // omitempty
		dst = append(dst, ',')
		field("editing")
		dst = append(dst, '[')
		for i, e := range p.Editing {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, in2...)
			dst = append(dst, '{')
			for j, kv := range [3][2]string{{"peer_id", e.PeerID}, {"name", e.Name}, {"since", e.Since}} {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, in3...)
				dst = append(dst, '"')
				dst = append(dst, kv[0]...)
				dst = append(dst, `": `...)
				dst = appendJSONString(dst, kv[1])
			}
			dst = append(dst, in2...)
			dst = append(dst, '}')
		}
		dst = append(dst, in1...)
		dst = append(dst, ']')
	}
	dst = append(dst, "\n  }"...)
	return dst
}

// appendJSONString appends s quoted as encoding/json quotes it without
// HTML escaping. Text that needs no escape (printable ASCII other than
// '"' and '\', and valid UTF-8 other than U+2028 and U+2029, which the
// encoder always escapes) is copied; anything else is left to the
// encoder itself, so that the bytes are always its bytes.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return appendJSONStringSlow(dst, s)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return appendJSONStringSlow(dst, s)
		}
		i += size
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendJSONStringSlow(dst []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}
