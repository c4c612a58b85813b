package history

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// walFrame is one frame of a synthetic write-ahead log.
type walFrame struct {
	commit bool   // the last frame of a transaction
	salts  uint32 // added to the log's salts: nonzero makes a stale frame
}

// buildWAL writes a log of 512-byte pages the way SQLite does: each
// frame's checksum continues the previous frame's.
func buildWAL(frames []walFrame) []byte {
	const pageSize = 512
	order := binary.LittleEndian
	hdr := make([]byte, walHeaderSize)
	binary.BigEndian.PutUint32(hdr, walMagicLE)
	binary.BigEndian.PutUint32(hdr[4:], 3007000)
	binary.BigEndian.PutUint32(hdr[8:], pageSize)
	binary.BigEndian.PutUint32(hdr[16:], 0x1111)
	binary.BigEndian.PutUint32(hdr[20:], 0x2222)
	s0, s1 := walChecksum(order, hdr[:24], 0, 0)
	binary.BigEndian.PutUint32(hdr[24:], s0)
	binary.BigEndian.PutUint32(hdr[28:], s1)
	out := hdr
	for i, f := range frames {
		fr := make([]byte, walFrameHeaderSize+pageSize)
		binary.BigEndian.PutUint32(fr, uint32(i+2))
		if f.commit {
			binary.BigEndian.PutUint32(fr[4:], 100)
		}
		binary.BigEndian.PutUint32(fr[8:], 0x1111+f.salts)
		binary.BigEndian.PutUint32(fr[12:], 0x2222+f.salts)
		for j := walFrameHeaderSize; j < len(fr); j++ {
			fr[j] = byte(i*7 + j)
		}
		s0, s1 = walChecksum(order, fr[:8], s0, s1)
		s0, s1 = walChecksum(order, fr[walFrameHeaderSize:], s0, s1)
		binary.BigEndian.PutUint32(fr[16:], s0)
		binary.BigEndian.PutUint32(fr[20:], s1)
		out = append(out, fr...)
	}
	return out
}

func TestWALDamage(t *testing.T) {
	// Two transactions (frames 0-1 and 2-4), then what may follow them.
	two := []walFrame{{}, {commit: true}, {}, {}, {commit: true}}
	frameAt := func(i int) int { return walHeaderSize + i*(walFrameHeaderSize+512) }
	for _, tc := range []struct {
		name   string
		frames []walFrame
		flip   int // byte to flip, -1 none
		want   string
	}{
		{"intact", two, -1, ""},
		{"first transaction damaged", two, frameAt(0) + 100, "damaged at frame 1: frames 1-5 hold commits"},
		{"second transaction damaged", two, frameAt(3) + walFrameHeaderSize, "damaged at frame 4: frames 4-5 hold commits"},
		{"frame header damaged", two, frameAt(2) + 2, "damaged at frame 3"},
		{"log header damaged", two, 12, "damaged at the header: frames 1-5"},
		{"log magic damaged", two, 1, "header is damaged"},
		// A torn last commit looks the same as a damaged one: SQLite
		// dropping it loses nothing that was acknowledged.
		{"last commit damaged", two, frameAt(4) + 200, ""},
		// Pages of a transaction that never committed.
		{"uncommitted tail", append(two[:5:5], walFrame{}, walFrame{}), -1, ""},
		// Frames from before the log restarted, even committed ones.
		{"stale frames", append(two[:5:5], walFrame{salts: 1}, walFrame{salts: 1, commit: true}), -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wal := buildWAL(tc.frames)
			if tc.flip >= 0 {
				wal[tc.flip] ^= 0x10
			}
			path := filepath.Join(t.TempDir(), "db-wal")
			if err := os.WriteFile(path, wal, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := walDamage(path)
			if err != nil {
				t.Fatal(err)
			}
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("walDamage = %q, want %q", got, tc.want)
			}
		})
	}
	if got, err := walDamage(filepath.Join(t.TempDir(), "none")); got != "" || err != nil {
		t.Fatalf("no log: %q, %v", got, err)
	}
	torn := buildWAL(nil)
	torn[1] ^= 0x10
	if got := walDamageIn(torn); got != "" {
		t.Fatalf("a torn header and no frames: %q, want nothing hidden", got)
	}
}
