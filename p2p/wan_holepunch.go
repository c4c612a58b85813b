package p2p

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Retrying hole punches: go-libp2p tries once, as a relayed connection
// opens, and that try fails when the other side's hole punching has not
// started yet (it waits for a public address of its own: the first
// quarter second of a node's life, or until a relay has seen it). The
// side that received the relayed connection (DCUtR's initiator) tries
// again upgradeFirst after it sees the connection, then upgradeTries
// times more at doubling intervals, then every upgradeLater (a network
// change may let a punch through).
const (
	upgradeTick  = time.Second
	upgradeFirst = 2 * time.Second
	upgradeTries = 6
	upgradeLater = 5 * time.Minute
)

// directConnecter is what upgradeRelayed needs of the hole punching
// service.
type directConnecter interface {
	DirectConnect(peer.ID) error
}

func (w *wan) upgradeRelayed(ctx context.Context, hp directConnecter) {
	n := w.n
	type attempts struct {
		count int
		next  time.Time
		busy  atomic.Bool // a try still waits (see below)
	}
	tried := map[peer.ID]*attempts{}
	tick := time.NewTicker(upgradeTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		relayedOnly := map[peer.ID]bool{}
		for _, p := range n.memberPeers() {
			inbound, outbound, direct := false, false, false
			for _, c := range n.host.Network().ConnsToPeer(p) {
				switch {
				case !isRelayed(c.RemoteMultiaddr()):
					direct = true
				case c.Stat().Direction == network.DirInbound:
					inbound = true
				default:
					outbound = true
				}
			}
			// Both sides dialled through the relay: the lower peer id
			// punches, or the two punches would meet head on.
			if inbound && !direct && (!outbound || n.host.ID() < p) {
				relayedOnly[p] = true
			}
		}
		for p := range tried {
			if !relayedOnly[p] {
				delete(tried, p)
			}
		}
		for p := range relayedOnly {
			a := tried[p]
			if a == nil {
				a = &attempts{next: time.Now().Add(upgradeFirst)}
				tried[p] = a
			}
			if time.Now().Before(a.next) || a.busy.Load() {
				continue
			}
			a.count++
			wait := upgradeFirst << min(a.count, upgradeTries)
			if a.count > upgradeTries {
				wait = upgradeLater
			}
			a.next = time.Now().Add(wait + time.Duration(rand.Int64N(int64(wait/4))))
			// DirectConnect takes no context and first waits, for as long
			// as it takes, until the service knows a public address of
			// this node (with only a TCP connection to the relay it may
			// never: hole punching goes over QUIC). The node's shutdown
			// must not wait for it, and one try a peer waits at a time.
			a.busy.Store(true)
			done := make(chan error, 1)
			go func() {
				done <- hp.DirectConnect(p)
				a.busy.Store(false)
			}()
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				var err error
				select {
				case err = <-done:
				case <-n.ctx.Done():
					return
				}
				// The punch itself, if one began, is logged by punchEnded.
				if err != nil {
					n.log.Debug("DCUtR try failed", "peer", p, "err", firstLine(err))
				} else {
					n.log.Debug("DCUtR try made a direct connection", "peer", p)
				}
			}()
		}
	}
}

// punchEnded logs how a hole punch ended (each side logs its own), or,
// at debug level, that a DCUtR exchange failed before a punch began (took
// is zero): go-libp2p's own try as a relayed connection opens often comes
// before the other side's service is ready, and the node tries again
// (upgradeRelayed).
func (w *wan) punchEnded(p peer.ID, ok bool, took time.Duration, err string) {
	switch {
	case ok:
		w.n.log.Info("hole punched: a direct connection", "peer", p, "ms", took.Milliseconds())
	case took == 0:
		w.n.log.Debug("hole punch not begun", "peer", p, "err", err)
	default:
		w.n.log.Info("hole punch failed; the connection stays relayed", "peer", p, "err", err, "ms", took.Milliseconds())
	}
}

// Hole punching starts only once a peer has seen this node at a public
// address over QUIC (wan_relayquic.go); until then go-libp2p's service
// waits without a word. watchHolePunching says in the log when it can
// start, with the addresses it will offer, or, after punchWaitWarn, that
// it cannot yet.
const punchWaitWarn = 30 * time.Second

func (w *wan) watchHolePunching(ctx context.Context, addrs func() []ma.Multiaddr) {
	start := time.Now()
	warned := false
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if a := addrs(); len(a) > 0 {
			w.n.log.Info("hole punching ready", "addrs", a, "after", time.Since(start).Round(time.Millisecond))
			return
		}
		if !warned && time.Since(start) >= punchWaitWarn {
			warned = true
			w.n.log.Warn(fmt.Sprintf("hole punching cannot start: after %s no peer has seen this node at a public QUIC address (is its relay reachable over QUIC?); connections through relays stay relayed", FormatWait(punchWaitWarn)))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// After a network change: a member that moves keeps its QUIC connection
// to the relay (QUIC follows the new address), but libp2p's connection
// keeps the address it was made at, so the relay goes on telling it the
// old one, a hole punch offers that, and fails. When a hole punch fails
// with a member whose direct connection was lost within renewAfterLoss,
// the node renews its relay connections (at most once every renewEvery):
// closes them, so that AutoRelay reserves anew and the relay observes
// the current address; the members' nodes redial the relayed addresses
// at once, and the next hole punch offers the right one. Each lost direct
// connection leads to one renewal at most, so a NAT no punch beats (the
// pair stays relayed) is not made to renew again and again.
const (
	renewAfterLoss = 10 * time.Minute
	renewEvery     = 15 * time.Second
)

func (w *wan) punchFailed(p peer.ID) {
	n := w.n
	w.mu.Lock()
	lost, ok := w.directLost[p]
	renew := ok && time.Since(lost) < renewAfterLoss && time.Since(w.lastRenew) >= renewEvery && n.ctx.Err() == nil
	if renew {
		delete(w.directLost, p)
		w.lastRenew = time.Now()
	}
	w.mu.Unlock()
	if !renew {
		return
	}
	n.log.Info("a hole punch failed after a direct connection was lost: renewing the relay connections, for the relay to see this node's current address", "peer", p)
	for id := range w.relaysNow() {
		for _, c := range n.host.Network().ConnsToPeer(id) {
			c.Close()
		}
	}
}

// relaysNow is a copy of the relays' ids.
func (w *wan) relaysNow() map[peer.ID]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[peer.ID]bool, len(w.relayIDs))
	for id := range w.relayIDs {
		out[id] = true
	}
	return out
}
