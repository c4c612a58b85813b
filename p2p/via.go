package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	manet "github.com/multiformats/go-multiaddr/net"
)

// How a peer is connected, as `peers` and the terminal UI say it.
const (
	// ViaLAN: a direct connection to a private address (the LAN, found
	// by mDNS or given), or to this machine.
	ViaLAN = "lan"
	// ViaDirect: a direct connection to a public address.
	ViaDirect = "direct"
	// ViaHolePunched: a direct connection that DCUtR hole punching made,
	// starting from a relayed one, or any direct connection to a public
	// address of a peer since it was reached through a relay (see
	// connKinds.relayed).
	ViaHolePunched = "hole-punched"
	// ViaRelayed: a connection through a Circuit Relay v2 relay.
	ViaRelayed = "relayed"
)

// connKinds remembers the hole punches that succeeded (it is the hole
// punching service's tracer), to tell a hole-punched connection from
// another direct one.
type connKinds struct {
	// punchFailed, when set, is told of every hole punch that failed
	// (wan.go: a pair whose direct connection a network change broke).
	punchFailed func(peer.ID)
	// ended, when set, is told of every hole punch's end and of every
	// DCUtR exchange that failed before one began, for the log (go-libp2p
	// logs neither above debug level).
	ended func(p peer.ID, ok bool, took time.Duration, err string)

	mu sync.Mutex
	// punched is when the last successful hole punch with a peer
	// started; a direct connection opened from then on is its.
	punched map[peer.ID]time.Time
	started map[peer.ID]time.Time
	// relayed is when this node was first connected to a peer through a
	// relay. A direct connection opened since crossed the NATs that made
	// the relay needed, whichever way it came about: DCUtR's punch, its
	// direct dial first (which skips the punch when it works, as through
	// a NAT mapping an earlier punch left open), or a redial meeting the
	// other side's dial. Only the punch is traced, and a connection one
	// of the others made across two NATs was said to be "direct".
	relayed map[peer.ID]time.Time
}

func newConnKinds() *connKinds {
	return &connKinds{punched: map[peer.ID]time.Time{}, started: map[peer.ID]time.Time{}, relayed: map[peer.ID]time.Time{}}
}

// sawRelayed notes a relayed connection to p, opened at.
func (k *connKinds) sawRelayed(p peer.ID, at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.relayed) > 4096 {
		clear(k.relayed)
	}
	if first, ok := k.relayed[p]; !ok || at.Before(first) {
		k.relayed[p] = at
	}
}

var _ holepunch.EventTracer = (*connKinds)(nil)

// Trace implements holepunch.EventTracer.
func (k *connKinds) Trace(e *holepunch.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.started) > 4096 {
		clear(k.started)
	}
	if len(k.punched) > 4096 {
		clear(k.punched)
	}
	at := time.Unix(0, e.Timestamp)
	switch ev := e.Evt.(type) {
	case *holepunch.StartHolePunchEvt:
		k.started[e.Remote] = at
	case *holepunch.EndHolePunchEvt:
		start, ok := k.started[e.Remote]
		delete(k.started, e.Remote)
		if !ok {
			start = at.Add(-ev.EllapsedTime)
		}
		if ev.Success {
			k.punched[e.Remote] = start
		} else if k.punchFailed != nil {
			go k.punchFailed(e.Remote)
		}
		if k.ended != nil {
			k.ended(e.Remote, ev.Success, ev.EllapsedTime, ev.Error)
		}
	case *holepunch.ProtocolErrorEvt:
		if k.ended != nil {
			k.ended(e.Remote, false, 0, ev.Error)
		}
	}
}

// via says how c is connected.
func (k *connKinds) via(c network.Conn) string {
	if isRelayed(c.RemoteMultiaddr()) {
		return ViaRelayed
	}
	if k != nil {
		k.mu.Lock()
		start, ok := k.punched[c.RemotePeer()]
		relayed, wasRelayed := k.relayed[c.RemotePeer()]
		k.mu.Unlock()
		// The hole punch's dial opens the connection after its start;
		// a second's slack covers the clocks of the event and the conn.
		opened := c.Stat().Opened
		if ok && !opened.Before(start.Add(-time.Second)) {
			return ViaHolePunched
		}
		if wasRelayed && !opened.Before(relayed) && manet.IsPublicAddr(c.RemoteMultiaddr()) {
			return ViaHolePunched
		}
	}
	if manet.IsPublicAddr(c.RemoteMultiaddr()) {
		return ViaDirect
	}
	return ViaLAN
}

// viaRank orders ways of being connected, best first: a peer with
// several connections is said to be connected the best way.
func viaRank(v string) int {
	switch v {
	case ViaLAN:
		return 0
	case ViaDirect:
		return 1
	case ViaHolePunched:
		return 2
	}
	return 3
}

// Via says how the node is connected to p ("" when it is not).
func (n *Node) Via(p peer.ID) string {
	var kinds *connKinds
	if n.wan != nil {
		kinds = n.wan.kinds
	}
	best := ""
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if v := kinds.via(c); best == "" || viaRank(v) < viaRank(best) {
			best = v
		}
	}
	return best
}
