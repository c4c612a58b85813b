package history

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
)

// deltaPairs are (base, target) pairs like a wiki's: a page body of about
// 3 KB and its next version with a few lines changed, and a revision
// block of about 250 bytes and its child's.
func deltaPairs() [][2][]byte {
	rng := rand.New(rand.NewSource(7))
	line := func() []byte {
		return []byte(fmt.Sprintf("Line %d of the page says %x and more.\n", rng.Intn(1e6), rng.Int63()))
	}
	var out [][2][]byte
	for range 200 {
		var base []byte
		for len(base) < 3000 {
			base = append(base, line()...)
		}
		lines := bytes.SplitAfter(base, []byte("\n"))
		for k := 0; k < 3; k++ {
			lines[rng.Intn(len(lines))] = line()
		}
		out = append(out, [2][]byte{base, bytes.Join(lines, nil)})
		rev, child := make([]byte, 250), make([]byte, 250)
		rng.Read(rev)
		copy(child, rev)
		rng.Read(child[40:150])
		out = append(out, [2][]byte{rev, child})
	}
	return out
}

func BenchmarkMakeDelta(b *testing.B) {
	pairs := deltaPairs()
	size := 0
	for _, p := range pairs {
		size += len(p[1])
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	out := 0
	for range b.N {
		out = 0
		for _, p := range pairs {
			out += len(makeDelta(p[0], p[1]))
		}
	}
	b.ReportMetric(float64(out)/float64(size), "ratio")
}
