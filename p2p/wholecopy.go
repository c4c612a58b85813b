package p2p

import (
	"log/slog"
	"time"
)

// How often a running node brings the store's whole copies of current
// versions up to date (history.Store.KeepWholeCopies): the first pass
// wholeCopyFirst after it starts, then one every wholeCopyEvery when
// something was committed meanwhile (Config's fields of the same names
// when set: tests shorten them). A shallow join answered before a pass
// made a copy rebuilds that page's current version, as it did before
// there were copies.
const (
	wholeCopyFirst = 5 * time.Second
	wholeCopyEvery = 30 * time.Second
)

// wholeCopyWhole is how often a pass looks at every current version
// rather than at the revisions stored since the last one: the first pass
// does, and one an hour, for what the others do not see (a body current
// on two pages, heads recounted after the member list changed).
const wholeCopyWhole = time.Hour

// keepWholeCopies runs the passes for as long as the node, in the
// background: a wiki of more revisions than a join gets whole is then
// ready to be sent shallow without rebuilding its pages (the copies), and
// a smaller one keeps none. A pass writes in short transactions that let
// waiting writers go first, and counts no commit.
func (n *Node) keepWholeCopies() {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		timer := time.NewTimer(n.cfg.wholeCopyFirst)
		defer timer.Stop()
		last := int64(-1)
		var through int64 // of the last pass; 0: the next looks at everything
		var whole time.Time
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-timer.C:
			}
			if cc, err := n.store.CommitCount(n.ctx); err == nil && cc != last {
				start := time.Now()
				n.storing.Add(1)
				if time.Since(whole) > wholeCopyWhole {
					through, whole = 0, time.Now()
				}
				wholePass := through == 0
				res, err := n.store.KeepWholeCopies(n.ctx, n.cfg.shallowWhole, through)
				n.recordOwnWAL()
				n.storing.Add(-1)
				switch {
				case err != nil && n.ctx.Err() == nil:
					n.log.Warn("keeping whole copies of current versions failed (the next pass goes on)", "err", err)
				case err == nil:
					last, through = cc, res.Through
					level := slog.LevelDebug
					if res.Added+res.Dropped > 0 {
						level = slog.LevelInfo
					}
					n.log.Log(n.ctx, level, "whole copies of current versions", "added", res.Added, "dropped", res.Dropped,
						"kept", res.Kept, "whole", wholePass, "through", res.Through, "ms", time.Since(start).Milliseconds())
				}
			}
			timer.Reset(n.cfg.wholeCopyEvery)
		}
	}()
}
