package history_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// Bodies decoded ahead, in parallel, go out exactly as the send would
// have sent them decoding one at a time: a shallow plan (current
// versions stored as deltas of parents it does not send), a whole
// history packed (deltas whose bases go first, sent as deltas) and
// unpacked (everything decoded), over more runs than one read-ahead.
func TestPredecodeSendsTheSame(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	base := strings.Repeat("a line of text that stays the same across versions\n", 40)
	for i := range 1200 {
		page := b.Put(cid.Undef, fmt.Sprintf("Page %d", i), base+fmt.Sprintf("genesis %d\n", i))
		head := page
		for v := range 2 {
			head = b.Put(page, fmt.Sprintf("Page %d", i), base+fmt.Sprintf("version %d of page %d\n", v, i), head)
		}
	}
	plans := map[string]func() *history.SyncPlan{
		"shallow": func() *history.SyncPlan {
			p, err := s.PlanShallow(ctx, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		"whole": func() *history.SyncPlan {
			p, err := s.PlanSync(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
	}
	for name, plan := range plans {
		for _, pack := range []bool{true, false} {
			ahead, serial, most, err := history.SendPlanPackedBothWays(s, plan, pack)
			if err != nil {
				t.Fatalf("%s, packed %v: %v", name, pack, err)
			}
			// A whole history packed goes as it is stored; anything else
			// is decoded ahead, a run at a time.
			if want := name != "whole" || !pack; (most > 0) != want {
				t.Fatalf("%s, packed %v: at most %d bodies of a run decoded ahead", name, pack, most)
			}
			if len(ahead) != len(serial) || len(ahead) < 3600 {
				t.Fatalf("%s, packed %v: %d blocks decoded ahead, %d one at a time", name, pack, len(ahead), len(serial))
			}
			for i := range ahead {
				a, b := ahead[i], serial[i]
				if a.Cid != b.Cid || a.Enc != b.Enc || a.Base != b.Base || !bytes.Equal(a.Data, b.Data) {
					t.Fatalf("%s, packed %v: block %d differs: %s enc %d base %s, against %s enc %d base %s", name, pack, i, a.Cid, a.Enc, a.Base, b.Cid, b.Enc, b.Base)
				}
			}
		}
	}
}
