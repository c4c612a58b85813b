package history

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// The write-ahead log's format (https://sqlite.org/fileformat2.html#walformat):
// a 32-byte header, then frames of a 24-byte header and one page. Every
// frame carries the log's two salts and a checksum that continues the one
// of the frame before it.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagicLE         = 0x377f0682
	walMagicBE         = 0x377f0683
)

// walDamage reads the write-ahead log at path and reports committed
// transactions that SQLite would skip because a frame before them is
// damaged. SQLite reads a log up to its first frame whose checksum fails
// and ignores the rest, silently: a flipped byte in the log hides every
// commit after it. It returns "" when there is no log or nothing is hidden.
//
// A frame past the readable end is damage when its checksum does verify
// against the checksum the frame before it stores, it carries the log's
// salts, and a commit follows in such frames: it was written after that
// frame and belongs to a committed transaction. Frames left over from
// before the log restarted (other salts), and the pages of a transaction
// that never committed, are not damage.
//
// Another process may restart the log while it is read (it writes a new
// header, then frames over the old ones): damage is only reported when a
// second reading finds the same header.
func walDamage(path string) (string, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	for range 3 {
		damage := walDamageIn(data)
		if damage == "" {
			return "", nil
		}
		again, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		if len(data) >= walHeaderSize && len(again) >= walHeaderSize && bytes.Equal(data[:walHeaderSize], again[:walHeaderSize]) {
			return damage, nil
		}
		data = again
	}
	return "", nil
}

// walDamageIn is walDamage on a log's bytes.
func walDamageIn(data []byte) string {
	if len(data) < walHeaderSize {
		return ""
	}
	hdr := data[:walHeaderSize]
	var order binary.ByteOrder
	switch binary.BigEndian.Uint32(hdr) {
	case walMagicLE:
		order = binary.LittleEndian
	case walMagicBE:
		order = binary.BigEndian
	}
	pageSize := int(binary.BigEndian.Uint32(hdr[8:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if order == nil || pageSize < 512 || pageSize&(pageSize-1) != 0 {
		// A header torn by a crash, with no frames, hides nothing.
		if len(data) > walHeaderSize {
			return "the write-ahead log's header is damaged: nothing in the log can be read"
		}
		return ""
	}
	salt1, salt2 := binary.BigEndian.Uint32(hdr[16:]), binary.BigEndian.Uint32(hdr[20:])
	stored := func(b []byte) (uint32, uint32) { return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]) }
	h0, h1 := walChecksum(order, hdr[:24], 0, 0)
	w0, w1 := stored(hdr[24:])
	headerOK := h0 == w0 && h1 == w1

	frameSize := walFrameHeaderSize + pageSize
	n := (len(data) - walHeaderSize) / frameSize
	frame := func(i int) []byte { return data[walHeaderSize+i*frameSize : walHeaderSize+(i+1)*frameSize] }
	// verifies says whether frame i carries the log's salts and its
	// checksum continues the one stored before it.
	verifies := func(i int) bool {
		fr := frame(i)
		if binary.BigEndian.Uint32(fr) == 0 || binary.BigEndian.Uint32(fr[8:]) != salt1 || binary.BigEndian.Uint32(fr[12:]) != salt2 {
			return false
		}
		var p0, p1 uint32
		if i == 0 {
			p0, p1 = stored(hdr[24:])
		} else {
			p0, p1 = stored(frame(i - 1)[16:])
		}
		s0, s1 := walChecksum(order, fr[:8], p0, p1)
		s0, s1 = walChecksum(order, fr[walFrameHeaderSize:], s0, s1)
		w0, w1 := stored(fr[16:])
		return s0 == w0 && s1 == w1
	}
	isCommit := func(i int) bool { return binary.BigEndian.Uint32(frame(i)[4:]) != 0 }

	// The readable part: what SQLite's recovery accepts.
	end := 0
	if headerOK {
		for end < n && verifies(end) {
			end++
		}
	}
	if end == n {
		return ""
	}
	lastCommit := -1
	for i := end + 1; i < n; i++ {
		if verifies(i) && isCommit(i) {
			lastCommit = i
		}
	}
	if lastCommit < 0 {
		return ""
	}
	what := fmt.Sprintf("frame %d", end+1)
	if !headerOK {
		what = "the header"
	}
	return fmt.Sprintf("the write-ahead log is damaged at %s: frames %d-%d hold commits that cannot be read "+
		"(the next write here overwrites them; replicas that have them can sync them back)", what, end+1, lastCommit+1)
}

// walChecksum continues SQLite's WAL checksum (s0, s1) over b, read as
// 32-bit words in the log's byte order; len(b) is a multiple of 8.
func walChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}
