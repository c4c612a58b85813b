package history_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A send holds what the protocol's window needs, whatever the plan's
// size: the CIDs its reader keeps for naming delta bases stay within two
// windows (a 100,000-page shallow join kept every CID it read, 50 MB, and
// its serve peaked at 240 MB), and what it reads ahead and keeps of a page
// stay within their bounds.
func TestSendHoldsNoMoreThanItsWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 1,800 pages")
	}
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	const pages = 1800
	var batch []history.Block
	for i := range pages {
		title := fmt.Sprintf("Page %d", i)
		text := strings.Repeat(fmt.Sprintf("line of page %d, ", i), 40)
		g, blocks := b.Batch(cid.Undef, title, text+"\n")
		h, more := b.Batch(g, title, text+"and a second version\n", g)
		_, last := b.Batch(g, title, text+"and a third\n", h)
		batch = append(append(append(batch, blocks...), more...), last...)
		if len(batch) > 3000 || i == pages-1 {
			if _, err := s.PutSignedHere(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	whole, err := s.PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	shallow, err := s.PlanShallow(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if whole.Revisions() != 3*pages {
		t.Fatalf("a plan of %d revisions", whole.Revisions())
	}
	for _, tc := range []struct {
		name string
		plan *history.SyncPlan
	}{{"the whole history", whole}, {"shallow", shallow}} {
		held, err := history.SendPlanHeld(s, tc.plan)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if held.Blocks < 3*history.PackWindowBlocks {
			t.Fatalf("%s: %d blocks, too few to fill the window", tc.name, held.Blocks)
		}
		if held.CIDs > 2*history.PackWindowBlocks+1 {
			t.Errorf("%s: the reader held %d CIDs of %d blocks sent, more than two windows", tc.name, held.CIDs, held.Blocks)
		}
		if held.PrefetchBytes > 8<<20 || held.CacheBytes > 16<<20 {
			t.Errorf("%s: %d bytes read ahead, %d of a page kept", tc.name, held.PrefetchBytes, held.CacheBytes)
		}
	}
	// Planned as it went out, in parts: every page went shallow.
	if shallow.Anchors != pages || shallow.Revisions() != 2*pages {
		t.Fatalf("the shallow plan, sent: %d anchors and %d blocks, want %d and %d", shallow.Anchors, shallow.Revisions(), pages, 2*pages)
	}
}
