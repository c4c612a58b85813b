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
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-timer.C:
			}
			if cc, err := n.store.CommitCount(n.ctx); err == nil && cc != last {
				start := time.Now()
				n.storing.Add(1)
				res, err := n.store.KeepWholeCopies(n.ctx, n.cfg.shallowWhole)
				n.recordOwnWAL()
				n.storing.Add(-1)
				switch {
				case err != nil && n.ctx.Err() == nil:
					n.log.Warn("keeping whole copies of current versions failed (the next pass goes on)", "err", err)
				case err == nil:
					last = cc
					level := slog.LevelDebug
					if res.Added+res.Dropped > 0 {
						level = slog.LevelInfo
					}
					n.log.Log(n.ctx, level, "whole copies of current versions", "added", res.Added, "dropped", res.Dropped, "kept", res.Kept,
						"ms", time.Since(start).Milliseconds())
				}
			}
			timer.Reset(n.cfg.wholeCopyEvery)
		}
	}()
}
