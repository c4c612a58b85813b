package history

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The natural order of titles has its home here, as a sort key, so that
// the store can sort pages by it in SQL (pw_title_key, registered on every
// connection) and a page list can be streamed instead of sorted in memory.

// TitleOrderKey is the sort key of a title: comparing two keys as bytes
// orders the titles as people read them, case-insensitively and with runs
// of digits by their value ("Note 2" before "Note 10"). Titles that differ
// only in case or in leading zeros have equal keys; CompareTitles breaks
// those ties by the titles' bytes.
//
// A letter (or any character but an ASCII digit) is its lower case in
// UTF-8, which orders as the code points do. A run of digits is the byte
// '0', the length of the run without its leading zeros (4 bytes, big
// endian) and those digits: it sorts among characters where its first
// digit would, and against another run by value. Each part is a prefix of
// no other, so a title that is a prefix of another in this order has the
// shorter key.
func TitleOrderKey(t string) []byte {
	key := make([]byte, 0, len(t)+8)
	for i := 0; i < len(t); {
		if isASCIIDigit(t[i]) {
			j := i
			for j < len(t) && isASCIIDigit(t[j]) {
				j++
			}
			digits := strings.TrimLeft(t[i:j], "0")
			key = append(key, '0')
			key = binary.BigEndian.AppendUint32(key, uint32(len(digits)))
			key = append(key, digits...)
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(t[i:])
		key = utf8.AppendRune(key, unicode.ToLower(r))
		i += size
	}
	return key
}

// CompareTitles orders titles by TitleOrderKey, then by their bytes, so
// that the order is total.
func CompareTitles(a, b string) int {
	if c := bytes.Compare(TitleOrderKey(a), TitleOrderKey(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }
