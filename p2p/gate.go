package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	basichost "github.com/libp2p/go-libp2p/p2p/host/basic"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// joinWindow is how long a stranger's connection lasts: its join
// exchange must be done by then (joinExchangeTimeout is shorter).
const joinWindow = 10 * time.Second

// maxStrangers bounds the strangers' connections a node holds at once,
// and maxStrangersPerIP those from one IP address: a stranger's identity
// costs nothing to make, and members need the room.
const (
	maxStrangers      = 16
	maxStrangersPerIP = 4
)

// gate is a node's connection gater: it composes the ban list (peers
// caught misbehaving, and Config.Deny) with the member list, once the
// Noise handshake has named the peer. It also keeps the strangers'
// connections it let through, and closes each after its window.
type gate struct {
	self    peer.ID
	bans    *banList
	members Membership // nil: everyone is a member
	window  time.Duration

	mu        sync.Mutex
	strangers map[network.Conn]*strangerConn
}

type strangerConn struct {
	ip    string
	timer *time.Timer
}

func newGate(self peer.ID, bans *banList, members Membership) *gate {
	return &gate{self: self, bans: bans, members: members, window: joinWindow, strangers: map[network.Conn]*strangerConn{}}
}

// access is what the member list says of p.
func (g *gate) access(p peer.ID) Access {
	if g.members == nil || p == g.self {
		return AccessMember
	}
	return g.members.Access(p)
}

func (g *gate) isMember(p peer.ID) bool { return g.access(p) == AccessMember }

// canRedeem reports whether this node lets strangers in to join.
func (g *gate) canRedeem() bool { return g.members != nil && g.members.CanRedeem() }

// The connmgr.ConnectionGater methods. Before the handshake only the
// dialled peer's id is known: banned and removed peers are not dialled.
// After it, a member is let through both ways and a removed member
// neither; a stranger is let through when this node dialled it (a
// joiner dials its inviter), and when it dialled an admin's node with
// room for one more stranger (it may hold an invite).

var _ connmgr.ConnectionGater = (*gate)(nil)

func (g *gate) InterceptPeerDial(p peer.ID) bool {
	return g.bans.InterceptPeerDial(p) && g.access(p) != AccessRemoved
}

func (g *gate) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.bans.InterceptAddrDial(p, a) && g.access(p) != AccessRemoved
}

func (g *gate) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	return g.bans.InterceptAccept(addrs)
}

func (g *gate) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if !g.bans.InterceptSecured(dir, p, addrs) {
		return false
	}
	switch g.access(p) {
	case AccessMember:
		return true
	case AccessRemoved:
		return false
	}
	if dir == network.DirOutbound {
		return true
	}
	return g.canRedeem() && g.roomForStranger(ipOf(addrs.RemoteMultiaddr()))
}

func (g *gate) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return g.bans.InterceptUpgraded(c)
}

// roomForStranger reports whether one more stranger from ip may
// connect. It counts the strangers connected, not those in their
// handshake: a burst may pass by up to the handshakes' room
// (maxSecuring), no more.
func (g *gate) roomForStranger(ip string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.strangers) >= maxStrangers {
		return false
	}
	here := 0
	for _, s := range g.strangers {
		if s.ip == ip {
			here++
		}
	}
	return here < maxStrangersPerIP
}

// notifiee follows the host's connections: a stranger's inbound one is
// closed after the window (its join exchange had that long), and a
// removed member's
// that slipped past the gate (the list changed during its handshake) at
// once.
func (g *gate) notifiee() network.Notifiee {
	return &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			switch g.access(c.RemotePeer()) {
			case AccessRemoved:
				go c.Close()
			case AccessStranger:
				// A stranger this node dialled is a relay or a DHT
				// peer (or an inviter): its streams reach the
				// strangers' protocols only, and it stays.
				if c.Stat().Direction == network.DirOutbound {
					return
				}
				g.mu.Lock()
				g.strangers[c] = &strangerConn{ip: ipOf(c.RemoteMultiaddr()), timer: time.AfterFunc(g.window, func() { c.Close() })}
				g.mu.Unlock()
			}
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			g.mu.Lock()
			if s := g.strangers[c]; s != nil {
				s.timer.Stop()
				delete(g.strangers, c)
			}
			g.mu.Unlock()
		},
	}
}

// joining reports whether c is a stranger's connection still within its
// window (so in a join exchange, or about to be).
func (g *gate) joining(c network.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.strangers[c] != nil
}

// ipOf is the IP address of a multiaddr, or the multiaddr itself.
func ipOf(a ma.Multiaddr) string {
	if a == nil {
		return ""
	}
	if ip, err := manet.ToIP(a); err == nil {
		return ip.String()
	}
	return a.String()
}

// gateStreams puts the member list in front of every inbound stream of
// the host: a member's stream goes to the host's protocols as libp2p
// routes it; a stranger's negotiates against strangers' protocols only
// (the join protocol), so that to a stranger the node speaks nothing
// else: no identify (which would tell it the node's name, addresses and
// protocols), no pubsub, no sync, no acknowledgements.
func gateStreams(sw *swarm.Swarm, member func(peer.ID) bool, strangers protocol.Switch) {
	routed := sw.StreamHandler()
	sw.SetStreamHandler(func(s network.Stream) {
		if member(s.Conn().RemotePeer()) {
			routed(s)
			return
		}
		if strangers == nil {
			s.ResetWithError(network.StreamProtocolNegotiationFailed)
			return
		}
		// What the basic host does with a stream, against the
		// strangers' protocols.
		if err := s.SetDeadline(time.Now().Add(basichost.DefaultNegotiationTimeout)); err != nil {
			s.Reset()
			return
		}
		proto, handle, err := strangers.Negotiate(s)
		if err != nil {
			s.ResetWithError(network.StreamProtocolNegotiationFailed)
			return
		}
		if err := s.SetDeadline(time.Time{}); err != nil {
			s.Reset()
			return
		}
		if err := s.SetProtocol(proto); err != nil {
			s.ResetWithError(network.StreamResourceLimitExceeded)
			return
		}
		_ = handle(proto, s)
	})
}
