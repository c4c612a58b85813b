package history_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// residentKB reads this process's resident set size.
func residentKB(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// Three valid bodies of 35 MB each, heads of one page, as a member may
// send: once took 4 GB resident and 30 s each inside the write
// transaction (the search index of the whole text). Resident memory,
// sampled while they are stored, now stays within a bound.
func TestLargeBodiesKeepMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 105 MB")
	}
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{Links: func(string) []string { return nil }})
	b := historytest.NewBuilder(t, s)
	page := b.Put(cid.Undef, "Big", "base\n")
	rng := rand.New(rand.NewSource(1))
	body := func() string {
		var sb strings.Builder
		for sb.Len() < 35<<20 {
			fmt.Fprintf(&sb, "line %d of a large page %d\n", rng.Intn(1<<30), rng.Intn(1<<30))
		}
		return sb.String()
	}
	var peak atomic.Int64
	base := residentKB(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			peak.Store(max(peak.Load(), residentKB(t)))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for range 3 {
		blk, bodies := b.Make(page, "Big", body(), page)
		if _, err := s.Put(ctx, append(bodies, blk)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	grew := (peak.Load() - base) / 1024
	t.Logf("resident memory grew by %d MB storing three 35 MB bodies", grew)
	if grew > 1024 {
		t.Fatalf("resident memory grew by %d MB, more than 1 GB for 105 MB of bodies", grew)
	}
	if hits, err := s.Search(ctx, "Big", 10); err != nil || len(hits) != 1 {
		t.Fatalf("the page is still found by its title: %v %v", hits, err)
	}
}
