package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
)

// viaConn is a connection as via looks at it (the rest of network.Conn
// is not used).
type viaConn struct {
	network.Conn
	remote ma.Multiaddr
	peer   peer.ID
	opened time.Time
}

func (c viaConn) RemoteMultiaddr() ma.Multiaddr { return c.remote }
func (c viaConn) RemotePeer() peer.ID           { return c.peer }
func (c viaConn) Stat() network.ConnStats {
	return network.ConnStats{Stats: network.Stats{Opened: c.opened}}
}

// How a connection is labelled: relayed; hole-punched when a traced
// punch made it, or when it is a direct one to a public address opened
// since the peer was reached through a relay (DCUtR's direct dial, which
// skips the punch, or a redial through a mapping a punch left open: both
// were said to be "direct"); direct or lan otherwise.
func TestVia(t *testing.T) {
	bob, carol, dave := peer.ID("bob"), peer.ID("carol"), peer.ID("dave")
	public := ma.StringCast("/ip4/1.2.3.4/tcp/7171")
	private := ma.StringCast("/ip4/192.168.1.20/tcp/7171")
	relayed := ma.StringCast("/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit")
	t0 := time.Now()
	k := newConnKinds()
	k.Trace(&holepunch.Event{Remote: carol, Timestamp: t0.UnixNano(), Evt: &holepunch.StartHolePunchEvt{}})
	k.Trace(&holepunch.Event{Remote: carol, Timestamp: t0.Add(100 * time.Millisecond).UnixNano(), Evt: &holepunch.EndHolePunchEvt{Success: true, EllapsedTime: 100 * time.Millisecond}})
	k.sawRelayed(bob, t0)
	for _, tc := range []struct {
		name string
		c    viaConn
		want string
	}{
		{"a relayed connection", viaConn{remote: relayed, peer: bob, opened: t0}, ViaRelayed},
		{"a punched one", viaConn{remote: public, peer: carol, opened: t0.Add(50 * time.Millisecond)}, ViaHolePunched},
		{"direct since the peer was relayed", viaConn{remote: public, peer: bob, opened: t0.Add(time.Minute)}, ViaHolePunched},
		{"direct before the peer was relayed", viaConn{remote: public, peer: bob, opened: t0.Add(-time.Minute)}, ViaDirect},
		{"to a private address since", viaConn{remote: private, peer: bob, opened: t0.Add(time.Minute)}, ViaLAN},
		{"a peer never relayed", viaConn{remote: public, peer: dave, opened: t0.Add(time.Minute)}, ViaDirect},
		{"a peer never relayed, on the LAN", viaConn{remote: private, peer: dave, opened: t0}, ViaLAN},
	} {
		if got := k.via(tc.c); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	var none *connKinds // a node without the WAN side
	if got := none.via(viaConn{remote: public, peer: bob, opened: t0}); got != ViaDirect {
		t.Errorf("no WAN side: %s", got)
	}
}
