package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// tcpAddr is the node's TCP listen address on 127.0.0.1.
func tcpAddr(t *testing.T, nd *Node) *net.TCPAddr {
	t.Helper()
	for _, a := range nd.Host().Addrs() {
		if na, err := manet.ToNetAddr(a); err == nil {
			if ta, ok := na.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
				return ta
			}
		}
	}
	t.Fatalf("no loopback TCP address in %v", nd.Host().Addrs())
	return nil
}

// idleConns opens n TCP connections to addr from 127.0.0.from that never
// send a byte (a stranger without the wiki key), closed at the test's end.
func idleConns(t *testing.T, addr *net.TCPAddr, from byte, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, from)}}
	var out []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr.String())
		if err != nil {
			t.Fatalf("idle connection: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, c)
	}
	return out
}

// memberSyncs checks that a member connects to nd and syncs at once.
func memberSyncs(t *testing.T, nm, nd *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := nm.Connect(ctx, info(nd.Host())); err != nil {
		t.Fatalf("a member could not connect past idle strangers: %v", err)
	}
	if _, err := nm.SyncPeer(ctx, nd.ID()); err != nil {
		t.Fatalf("a member could not sync past idle strangers: %v", err)
	}
}

// A stranger's idle TCP connections, 8 from each of 20 addresses (twice
// what the node once had room for before the private-network
// handshake), do not keep a member out; nor do hundreds more, opened
// while the member dials.
func TestIdleStrangersCannotLockMembersOut(t *testing.T) {
	honest := newReplica(t)
	honest.addHistory(5, 1, "Honest")
	nh := startNode(t, honest, nil)
	addr := tcpAddr(t, nh)
	for i := range 20 {
		idleConns(t, addr, byte(2+i), 8)
	}
	time.Sleep(100 * time.Millisecond) // let the node accept them all
	memberSyncs(t, startNode(t, newReplica(t), nil), nh)

	// A flood from 256 more addresses, past the room for connections
	// still proving the key.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	flooding, full := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(flooding)
		var open []net.Conn
		defer func() {
			for _, c := range open {
				c.Close()
			}
		}()
		for i := 0; i < 2000 && ctx.Err() == nil; i++ {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i))}}
			c, err := d.DialContext(ctx, "tcp", addr.String())
			if err != nil {
				continue
			}
			if open = append(open, c); len(open) == maxOpening+50 {
				close(full)
			} else if len(open) > 400 {
				open[0].Close()
				open = open[1:]
			}
		}
	}()
	select {
	case <-full:
	case <-flooding:
		t.Fatal("the flood did not open its connections")
	}
	memberSyncs(t, startNode(t, newReplica(t), nil), nh)
	cancel()
	<-flooding
}

// A node out of room cuts a dial short (a reset), unlike a peer of
// another wiki, which lets it time out: the one-shot sync says busy.
func TestDialCutShortIsBusy(t *testing.T) {
	full, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	go func() {
		for {
			c, err := full.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	nm := startNode(t, newReplica(t), nil)
	other := newHostile(t)
	target := peer.AddrInfo{ID: other.ID(), Addrs: []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", full.Addr().(*net.TCPAddr).Port))}}
	outcomes, err := nm.SyncAll(context.Background(), []peer.AddrInfo{target}, 2*time.Second, time.Second)
	if !errors.Is(err, ErrNoPeer) || len(outcomes) != 1 || !AllBusy(outcomes) || !strings.Contains(outcomes[0].Err.Error(), "busy") {
		t.Fatalf("a dial cut short: %v, %+v", err, outcomes)
	}
	// A node of which this replica is not a member refuses it after the
	// handshake: that is not called busy either.
	r := newReplica(t)
	nd := startNode(t, r, func(cfg *Config) { cfg.Members = newFakeMembers(r.ID.ID, false) })
	outcomes, _ = nm.SyncAll(context.Background(), []peer.AddrInfo{info(nd.Host())}, 1500*time.Millisecond, time.Second)
	if len(outcomes) != 1 || AllBusy(outcomes) || !strings.Contains(outcomes[0].Err.Error(), "not a member") {
		t.Fatalf("a node that refuses this replica: %+v", outcomes)
	}
}

// Strangers that open a handshake and stall (multistream's header, then
// nothing) are bounded like idle ones: they wait in a pool of their own
// instead of filling libp2p's transient scope, and a member still gets
// in past 160 of them from 40 addresses.
func TestStalledHandshakesCannotLockMembersOut(t *testing.T) {
	honest := newReplica(t)
	honest.addHistory(5, 1, "Honest")
	nh := startNode(t, honest, nil)
	addr := tcpAddr(t, nh)
	for i := range 40 {
		for _, c := range idleConns(t, addr, byte(2+i), 4) {
			if _, err := c.Write(append(append([]byte{}, mssHeader...), "\x07/noise\n"...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // let the node take them all in
	memberSyncs(t, startNode(t, newReplica(t), nil), nh)
}
