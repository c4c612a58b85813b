package p2p

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// maxInboundSyncs bounds the syncs a node answers at once.
const maxInboundSyncs = 16

// inboundSync is a sync this node is answering: it holds one slot.
type inboundSync struct {
	meter   *progressMeter
	stream  network.Stream
	evicted atomic.Bool
}

// enterInbound takes a slot for a sync of p: one per peer, and
// maxInboundSyncs in all. When every slot is taken, the sync that has
// stalled longest gives its slot up (its stream is reset) if it has
// stalled at least evictAfter: a slot is for moving data, so peers that
// only hold one cannot keep members waiting.
func (n *Node) enterInbound(p peer.ID, in *inboundSync) bool {
	n.mu.Lock()
	if n.inbound[p] != nil {
		n.mu.Unlock()
		return false
	}
	var victim *inboundSync
	if len(n.inbound) >= maxInboundSyncs {
		vp, ok := stalledLongest(n.inbound, time.Now(), n.cfg.progress.evictAfter)
		if !ok {
			n.mu.Unlock()
			return false
		}
		victim = n.inbound[vp]
		delete(n.inbound, vp)
	}
	n.inbound[p] = in
	n.mu.Unlock()
	if victim != nil {
		victim.evicted.Store(true)
		victim.stream.Reset()
	}
	return true
}

// leaveInbound frees the slot in holds, unless it was given up already.
func (n *Node) leaveInbound(p peer.ID, in *inboundSync) {
	n.mu.Lock()
	if n.inbound[p] == in {
		delete(n.inbound, p)
	}
	n.mu.Unlock()
}

// stalledLongest returns the peer whose sync has waited longest at now
// without progress, if that is at least least.
func stalledLongest(in map[peer.ID]*inboundSync, now time.Time, least time.Duration) (peer.ID, bool) {
	var worst peer.ID
	longest := time.Duration(-1)
	for p, s := range in {
		if d := s.meter.stalled(now); d >= least && d > longest {
			worst, longest = p, d
		}
	}
	return worst, longest >= 0
}
