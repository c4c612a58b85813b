package p2p

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	circuitproto "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Reaching a relay over QUIC. Hole punching (DCUtR) offers the other side
// the addresses peers have seen this node at (identify's observed
// addresses, wikiHost.holePunchAddrs), and go-libp2p records an
// observation only for a connection made from a socket the node listens
// on (observedaddrs.Manager): QUIC dials from its listening socket, TCP
// here does not (reuseport is off, host.go), so what a peer sees of a TCP
// connection is a port the NAT opened for that connection alone, and it
// is dropped. Until a peer has seen the node over QUIC, go-libp2p's hole
// punching service counts the node as having no public address: it takes
// no DCUtR stream and tries no punch (DirectConnect waits). Behind a NAT
// the one public peer a member meets is its relay, and a relay given by
// its TCP address (the first line 'peerwiki relay' prints, which an
// inviter's --relay and so a team's configuration often hold) is reached
// over TCP only: libp2p never opens a second connection to a peer it is
// connected to. So before AutoRelay reserves a slot at a configured relay,
// the node connects to it, learns its other addresses from identify, and,
// when the connection is not QUIC and the relay offers a QUIC address,
// connects again over QUIC (libp2p's dial ranking tries QUIC first).

// reachRelay connects to the configured relay r, checks it is a relay,
// and makes the connection QUIC when it can; it reports whether r is
// reached and a relay. Problems are one line each in the log.
func (w *wan) reachRelay(ctx context.Context, r peer.AddrInfo) bool {
	n := w.n
	cctx, cancel := context.WithTimeout(ctx, 2*connectTimeout)
	defer cancel()
	if err := n.host.Connect(cctx, r); err != nil {
		if ctx.Err() == nil {
			n.log.Warn(fmt.Sprintf("relay unreachable (%v); retrying", dialFailure(err)), "relay", r.ID)
		}
		return false
	}
	if !w.identified(cctx, r.ID) {
		return false
	}
	if ok, err := n.host.Peerstore().SupportsProtocols(r.ID, circuitproto.ProtoIDv2Hop); err == nil && len(ok) == 0 {
		n.log.Warn("not a relay: the peer does not offer Circuit Relay v2 ('peerwiki relay' does)", "relay", r.ID)
		return false
	}
	if _, ok := w.switchToQUIC(cctx, r.ID, true); !ok && w.n.host.Network().Connectedness(r.ID) != network.Connected {
		return false
	}
	return true
}

// switchToQUIC makes the node's connection to the relay id QUIC when it
// is not and the relay offers a QUIC address: it closes the connections
// and connects again. It reports whether it tried, and whether the node
// is now connected over QUIC (or has nothing to gain from it: the relay
// offers no QUIC, or the node does not listen on QUIC, so a QUIC dial
// would not leave from a listening socket). first says to log what
// stands in the way at Info level, once; later tries log at debug level.
func (w *wan) switchToQUIC(ctx context.Context, id peer.ID, first bool) (tried, ok bool) {
	n := w.n
	if w.overQUIC(id) || !slices.ContainsFunc(n.host.Network().ListenAddresses(), isQUIC) {
		return false, true
	}
	quic := quicAddrs(n.host.Peerstore().Addrs(id))
	if len(quic) == 0 {
		if first {
			n.log.Info("the relay offers no QUIC address, which hole punching needs ('peerwiki relay' listens on QUIC too): connections through it stay relayed", "relay", id)
		}
		return false, true
	}
	for _, c := range n.host.Network().ConnsToPeer(id) {
		if !isRelayed(c.RemoteMultiaddr()) {
			c.Close()
		}
	}
	if err := n.host.Connect(ctx, peer.AddrInfo{ID: id, Addrs: quic}); err != nil {
		if ctx.Err() == nil && first {
			n.log.Warn(fmt.Sprintf("relay unreachable again (%v); retrying", dialFailure(err)), "relay", id)
		}
		return true, false
	}
	if w.overQUIC(id) {
		n.log.Debug("connected to the relay over QUIC, for hole punching", "relay", id)
		return true, true
	}
	if first {
		n.log.Info("could not reach the relay over QUIC (UDP blocked on the way?): hole punching will not start", "relay", id)
	}
	return true, false
}

// A relay connection made again later (after the relay restarted, or the
// node slept past the 15 minutes its peerstore keeps the addresses
// identify gave) may be TCP again: the configured address is all the node
// dials. keepRelaysOnQUIC checks every relayQUICEvery and switches such a
// connection to QUIC; after a try that leaves it on TCP (UDP blocked?),
// the next waits twice as long, up to relayQUICMaxWait.
var relayQUICEvery = 30 * time.Second // a variable for tests

const relayQUICMaxWait = time.Hour

func (w *wan) keepRelaysOnQUIC(ctx context.Context) {
	n := w.n
	type backoff struct {
		next time.Time
		wait time.Duration
	}
	every := relayQUICEvery
	tries := map[peer.ID]*backoff{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, r := range w.cfg.Relays {
			if !slices.ContainsFunc(n.host.Network().ConnsToPeer(r.ID), func(c network.Conn) bool { return !isRelayed(c.RemoteMultiaddr()) }) {
				continue // AutoRelay is reconnecting, or the relay is away
			}
			b := tries[r.ID]
			if b == nil {
				b = &backoff{wait: every}
				tries[r.ID] = b
			}
			if time.Now().Before(b.next) {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 2*connectTimeout)
			tried, ok := w.switchToQUIC(cctx, r.ID, false)
			cancel()
			switch {
			case !tried:
			case ok:
				n.log.Info("the relay connection ran over TCP, which gives hole punching nothing: made again over QUIC", "relay", r.ID)
				b.wait = every
			default:
				b.wait = min(2*b.wait, relayQUICMaxWait)
				b.next = time.Now().Add(b.wait)
				n.log.Debug("could not switch the relay connection to QUIC", "relay", r.ID, "next", b.wait)
			}
		}
	}
}

// identified waits until identify has run on a connection to p.
func (w *wan) identified(ctx context.Context, p peer.ID) bool {
	wh, ok := w.n.host.(*wikiHost)
	if !ok {
		return true
	}
	for _, c := range w.n.host.Network().ConnsToPeer(p) {
		select {
		case <-wh.IDService().IdentifyWait(c):
			return true
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// overQUIC reports whether the node holds a direct QUIC connection to p.
func (w *wan) overQUIC(p peer.ID) bool {
	return slices.ContainsFunc(w.n.host.Network().ConnsToPeer(p), func(c network.Conn) bool { return isQUIC(c.RemoteMultiaddr()) })
}

// quicAddrs are the public QUIC addresses among addrs.
func quicAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	return slices.DeleteFunc(slices.Clone(addrs), func(a ma.Multiaddr) bool { return !isQUIC(a) || !manet.IsPublicAddr(a) })
}

// isQUIC reports whether a is a direct QUIC address.
func isQUIC(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_QUIC_V1)
	return err == nil && !isRelayed(a)
}
