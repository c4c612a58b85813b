package p2p

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	circuitclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Everything here runs on 127.0.0.1, which --public-net 127.0.0.0/8
// makes count as public (publicLoopback), as a team's relay on the
// internet would be.

// publicLoopback makes 127.0.0.0/8 (and the NAT rig's 10.213.0.0/24)
// public, for the rest of the tests:
// libp2p's goroutines read the tables without a lock, and one of a host
// closed a moment ago may still be reading them, so they are changed
// once, never put back (other tests do not depend on loopback being
// private).
func publicLoopback(t *testing.T) {
	t.Helper()
	loopbackPublic.Do(func() {
		nets, err := ParsePublicNets([]string{"127.0.0.0/8", "10.213.0.0/24"})
		if err != nil {
			panic(err)
		}
		SetPublicNets(nets)
	})
}

var loopbackPublic sync.Once

var loopbackTCPQUIC = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0"), ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")}

// startRelay runs a relay on 127.0.0.1 (TCP and QUIC).
func startRelay(t *testing.T) *Relay { return startRelayWith(t, nil) }

// startRelayWith is startRelay with an allow list (nil: none).
func startRelayWith(t *testing.T, allow *RelayAllow) *Relay {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartRelay(context.Background(), RelayConfig{Key: key, Listen: loopbackTCPQUIC, Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// relayedInfo is d's relayed addresses after Share (what invite asks,
// which waits for one).
func relayedInfo(t *testing.T, d *Daemon) peer.AddrInfo {
	t.Helper()
	st, err := d.Share(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var circuit []ma.Multiaddr
	for _, m := range st.Addrs {
		if isRelayed(m) {
			circuit = append(circuit, m)
		}
	}
	infos, err := peer.AddrInfosFromP2pAddrs(circuit...)
	if err != nil || len(infos) != 1 {
		t.Fatalf("relayed addresses among %v: %v", st.Addrs, err)
	}
	return infos[0]
}

func relayInfo(t *testing.T, r *Relay) peer.AddrInfo {
	t.Helper()
	infos, err := peer.AddrInfosFromP2pAddrs(r.Addrs()...)
	if err != nil || len(infos) != 1 {
		t.Fatalf("relay addresses %v: %v", r.Addrs(), err)
	}
	return infos[0]
}

// The table of what --public-net does to libp2p's idea of "public".
func TestPublicNetsCountAsPublic(t *testing.T) {
	publicLoopback(t)
	pub := func(s string) bool { return manet.IsPublicAddr(ma.StringCast(s)) }
	for addr, want := range map[string]bool{
		"/ip4/10.213.0.2/tcp/1":             true,
		"/ip4/10.213.0.255/udp/1":           true,
		"/ip4/10.213.1.2/tcp/1":             false, // a home behind the rig's routers
		"/ip4/10.212.255.255/tcp/1":         false,
		"/ip4/10.0.0.1/tcp/1":               false,
		"/ip4/10.255.0.1/tcp/1":             false,
		"/ip4/192.168.1.1/tcp/1":            false,
		"/ip4/127.0.0.1/tcp/1":              true,
		"/ip4/8.8.8.8/tcp/1":                true,
		"/ip6/fd00::1/tcp/1":                false,
		"/ip6/2001:db8::1/tcp/1":            false,
		"/ip4/10.213.0.2/tcp/1/p2p-circuit": true,
	} {
		if got := pub(addr); got != want {
			t.Errorf("IsPublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
	// The subtraction itself, on a table of its own: 10.0.0.0/8 without
	// 10.213.0.0/24 is 16 ranges around it, and covers every other 10.x.
	_, ten, _ := net.ParseCIDR("10.0.0.0/8")
	_, cut, _ := net.ParseCIDR("10.213.0.0/24")
	rest := subtractNet([]*net.IPNet{ten}, cut)
	if len(rest) != 16 {
		t.Fatalf("10.0.0.0/8 without 10.213.0.0/24: %v", rest)
	}
	for _, ip := range []string{"10.0.0.1", "10.213.1.0", "10.212.255.255", "10.255.255.255", "10.213.0.1"} {
		in := false
		for _, n := range rest {
			in = in || n.Contains(net.ParseIP(ip))
		}
		if in == (ip == "10.213.0.1") {
			t.Errorf("%s: in the rest %v", ip, in)
		}
	}
}

// Bad inputs are one-line errors naming what was wrong.
func TestWANBadInputs(t *testing.T) {
	for _, tc := range []struct {
		what, in, want string
	}{
		{"--bootstrap", "/ip4/1.2.3.4/tcp/x/p2p/12D3KooWMYAaf4NHMG6qBsCxu7D1UmM3XffMQnrHtbXCJr3tUACf", "bad --bootstrap"},
		{"--relay", "/ip4/1.2.3.4/tcp/4001", "must end in /p2p/PEERID"},
		{"--relay", "not a multiaddr", "bad --relay"},
	} {
		_, err := ParseAddrsOf(tc.what, []string{tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %q: %v, want a line with %q", tc.what, tc.in, err, tc.want)
		}
	}
	for _, in := range []string{"10.213.0.0", "10.213.0.0/33", "fd00::/8", "example.com/8"} {
		if _, err := ParsePublicNets([]string{in}); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("--public-net %q: %v, want a one-line error", in, err)
		}
	}
}

// waitConnected waits until a is connected to b, and says how.
func waitVia(t *testing.T, a *Node, b peer.ID, d time.Duration, want ...string) string {
	t.Helper()
	var via string
	waitFor(t, d, "a connection "+strings.Join(want, " or "), func() bool {
		via = a.Via(b)
		for _, w := range want {
			if via == w {
				return true
			}
		}
		return false
	})
	return via
}

// Two members' daemons on loopback, given only the relay as DHT
// bootstrap peer (no --peer, no mDNS, nothing remembered), find each
// other through the rendezvous key and sync.
func TestDHTRendezvousFindsMembersWithoutPeers(t *testing.T) {
	publicLoopback(t)
	relay := startRelay(t)
	secret := []byte("the members' secret")
	wan := WANConfig{DHT: true, Bootstrap: []peer.AddrInfo{relayInfo(t, relay)}, Secret: func() []byte { return secret }}
	a, b := newReplica(t), newReplica(t)
	page := a.addHistory(1, 3, "Found")[0]
	da := startDaemon(t, a, "", func(c *DaemonConfig) {
		c.WAN, c.Node.Members = wan, newFakeMembers(a.ID.ID, false, b.ID.ID)
	})
	db := startDaemon(t, b, "", func(c *DaemonConfig) {
		c.WAN, c.Node.Members = wan, newFakeMembers(b.ID.ID, false, a.ID.ID)
	})
	if da.Node().wan.dht == nil || db.Node().wan.dht == nil {
		t.Fatal("a daemon given a bootstrap peer runs no DHT")
	}
	waitVia(t, db.Node(), a.ID.ID, 30*time.Second, ViaDirect)
	waitFor(t, 20*time.Second, "the page to arrive", func() bool {
		hs, err := b.Store.Heads(context.Background(), page)
		return err == nil && len(hs) == 1
	})
	// Found this way, remembered like any peer.
	waitFor(t, 5*time.Second, "the peer to be remembered", func() bool {
		ps, _ := LoadPeers(db.dir)
		return len(ps) == 1 && ps[0].ID == a.ID.ID.String()
	})
	// Another wiki's members (another secret) are not found.
	other := newReplica(t)
	dOther := startDaemon(t, other, "", func(c *DaemonConfig) {
		c.WAN = WANConfig{DHT: true, Bootstrap: wan.Bootstrap, Secret: func() []byte { return []byte("another wiki") }}
	})
	time.Sleep(3 * time.Second)
	if dOther.Node().connected(a.ID.ID) || dOther.Node().connected(b.ID.ID) {
		t.Fatal("a node with another secret found the members")
	}
}

// A member reaches another through a relay on loopback: the second
// listens nowhere (as if behind a NAT that no hole punch beats) and
// dials the first's relayed address; both say "relayed", and they sync.
// A stranger dialling the same relayed address is refused by the gate.
func TestMemberThroughRelayAndStrangerRefused(t *testing.T) {
	publicLoopback(t)
	relay := startRelay(t)
	ri := relayInfo(t, relay)
	a, b, c := newReplica(t), newReplica(t), newReplica(t)
	page := a.addHistory(1, 2, "Relayed")[0]
	listA := newFakeMembers(a.ID.ID, false, b.ID.ID)
	da := startDaemon(t, a, "", func(cfg *DaemonConfig) {
		cfg.Node.Members = listA
		cfg.Listen = loopbackTCPQUIC
		cfg.WAN = WANConfig{Relays: []peer.AddrInfo{ri}}
	})
	na := da.Node()
	var quicAddr ma.Multiaddr
	for _, m := range na.Host().Network().ListenAddresses() {
		if _, err := m.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			quicAddr = m
		}
	}
	var circuit ma.Multiaddr
	waitFor(t, 20*time.Second, "a relayed address", func() bool {
		for _, m := range na.Addrs() {
			if isRelayed(m) {
				circuit = m
				return true
			}
		}
		return false
	})
	target, err := peer.AddrInfoFromP2pAddr(circuit)
	if err != nil {
		t.Fatal(err)
	}
	nb := startNode(t, b, func(cfg *Config) {
		cfg.Listen = nil
		cfg.Members = newFakeMembers(b.ID.ID, false, a.ID.ID)
		cfg.SyncOnConnect = true
		cfg.Peers = []peer.AddrInfo{*target}
	})
	// Each side says so once it has the connection: the listening member
	// may count the inbound one before the dialling member's own dial
	// returns (the check of the dialler at that moment failed once under
	// load, "the dialling member says \"\"").
	waitVia(t, na, b.ID.ID, 20*time.Second, ViaRelayed)
	waitVia(t, nb, a.ID.ID, 20*time.Second, ViaRelayed)
	waitFor(t, 20*time.Second, "the page to arrive over the relay", func() bool {
		hs, err := b.Store.Heads(context.Background(), page)
		return err == nil && len(hs) == 1
	})
	st, err := da.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Via != ViaRelayed {
		t.Fatalf("peers: %+v", st)
	}

	// A stranger through the same relay: the relay passes the
	// connection, the member's gate refuses it.
	nc := startNode(t, c, func(cfg *Config) { cfg.Listen = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = nc.Connect(ctx, *target)
	if err == nil {
		if _, serr := nc.SyncPeer(ctx, a.ID.ID); serr == nil {
			t.Fatal("a stranger synced with a member through the relay")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if na.connected(c.ID.ID) || na.Via(c.ID.ID) != "" {
		t.Fatal("the member holds a stranger's relayed connection")
	}
	// The same over QUIC, directly: the gate is in front of every
	// transport.
	if quicAddr == nil {
		t.Fatal("the member listens on no QUIC address")
	}
	if err := nc.Connect(ctx, peer.AddrInfo{ID: a.ID.ID, Addrs: []ma.Multiaddr{quicAddr}}); err == nil {
		if _, serr := nc.SyncPeer(ctx, a.ID.ID); serr == nil {
			t.Fatal("a stranger synced with a member over QUIC")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if na.connected(c.ID.ID) {
		t.Fatal("the member holds a stranger's QUIC connection")
	}
	if hs, _ := c.Store.Heads(context.Background(), page); len(hs) != 0 {
		t.Fatal("the stranger received the member's wiki")
	}
}

// --no-dht (WAN without DHT) starts no DHT; the zero WANConfig starts no
// wide-area networking at all.
func TestNoDHTStartsNoDHT(t *testing.T) {
	publicLoopback(t)
	relay := startRelay(t)
	r := newReplica(t)
	d := startDaemon(t, r, "", func(c *DaemonConfig) {
		c.WAN = WANConfig{DHT: false, Relays: []peer.AddrInfo{relayInfo(t, relay)}}
	})
	if w := d.Node().wan; w == nil || w.dht != nil || w.relays == nil {
		t.Fatalf("--no-dht with a relay: wan %+v", w)
	}
	plain := startDaemon(t, newReplica(t), "", nil)
	if plain.Node().wan != nil {
		t.Fatal("the zero DaemonConfig turned wide-area networking on")
	}
}

// A node that listens on loopback only never dials the public DHT's
// bootstrap peers, whatever its configuration says; the dial watch
// refuses them besides, so that even a bug here sends no packet.
func TestLoopbackNodeNeverDialsPublicBootstrap(t *testing.T) {
	boot := map[peer.ID]bool{}
	for _, p := range DefaultBootstrap() {
		boot[p.ID] = true
	}
	if len(boot) == 0 {
		t.Fatal("no default bootstrap peers to watch")
	}
	var mu sync.Mutex
	var dialled []peer.ID
	r := newReplica(t)
	d := startDaemon(t, r, "", func(c *DaemonConfig) {
		c.WAN = WANConfig{DHT: true, Secret: func() []byte { return []byte("s") }}
		c.Node.dialWatch = func(p peer.ID) bool {
			mu.Lock()
			defer mu.Unlock()
			dialled = append(dialled, p)
			return !boot[p]
		}
	})
	if d.Node().wan == nil || d.Node().wan.dht != nil {
		t.Fatal("a loopback-only node started a DHT with the public bootstrap peers")
	}
	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range dialled {
		if boot[p] {
			t.Fatalf("dialled public bootstrap peer %s", p)
		}
	}
}

// A peer that floods the relay is bounded: reservations by IP address,
// DHT streams by the resource manager's per-peer limit.
func TestRelayBoundsFloods(t *testing.T) {
	publicLoopback(t)
	relay := startRelay(t)
	ri := relayInfo(t, relay)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// connected is a new host, of a new identity, connected to the relay.
	connected := func() host.Host {
		h, err := newHost(hostConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		if err := h.Connect(ctx, ri); err != nil {
			t.Fatal(err)
		}
		return h
	}
	reserved, refused := 0, 0
	for range relayResources().MaxReservationsPerIP + 3 {
		h := connected()
		if _, err := circuitclient.Reserve(ctx, h, ri); err != nil {
			refused++
		} else {
			reserved++
		}
	}
	if reserved != relayResources().MaxReservationsPerIP || refused != 3 {
		t.Fatalf("%d reservations from one address, %d refused; want %d and 3", reserved, refused, relayResources().MaxReservationsPerIP)
	}

	h := connected()
	open := 0
	for range 40 {
		s, err := h.NewStream(ctx, ri.ID, dhtProtocol)
		if err != nil {
			continue
		}
		defer s.Reset()
		// A stream the relay took waits for a request; one it refused
		// was reset.
		s.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := s.Read(make([]byte, 1)); errors.Is(err, network.ErrReset) || err != nil && !isTimeout(err) {
			continue
		}
		open++
	}
	if open == 0 || open > 8 {
		t.Fatalf("%d DHT streams from one peer held open at the relay; want 1 to 8", open)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline")
}

// A join code keeps relayed addresses among its eight, and a joiner
// that has only the inviter's relayed address joins through the relay.
func TestJoinThroughRelay(t *testing.T) {
	var many []ma.Multiaddr
	for i := range 12 {
		many = append(many, ma.StringCast("/ip4/192.168.1."+string(rune('1'+i%9))+"/tcp/7171"))
	}
	relayed := ma.StringCast("/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWMYAaf4NHMG6qBsCxu7D1UmM3XffMQnrHtbXCJr3tUACf/p2p-circuit")
	picked := CodeAddrs(append(many, relayed, ma.StringCast("/ip4/127.0.0.1/tcp/7171")), 8)
	if len(picked) != 8 || !picked[7].Equal(relayed) {
		t.Fatalf("code addresses %v: want 8 with the relayed one", picked)
	}

	publicLoopback(t)
	relay := startRelay(t)
	a, j := newReplica(t), newReplica(t)
	list := newFakeMembers(a.ID.ID, true)
	da := startDaemon(t, a, "", func(cfg *DaemonConfig) {
		cfg.Node.Members = list
		cfg.WAN = WANConfig{Relays: []peer.AddrInfo{relayInfo(t, relay)}}
	})
	// Share (what invite asks) waits for the relayed address.
	infos := []peer.AddrInfo{relayedInfo(t, da)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Join(ctx, JoinConfig{Identity: j.ID, Wiki: a.Store.Wiki(), Token: []byte("good"), Peers: infos, Name: "joe"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inviter.ID != a.ID.ID || list.Access(j.ID.ID) != AccessMember {
		t.Fatalf("joined %+v; the list says %s", res, list.Access(j.ID.ID))
	}
}

// Two members with relays, the second dialling the first's relayed
// address: the relayed connection is upgraded by a hole punch (on
// loopback, which --public-net makes public, the punch always gets
// through), and both say so.
func TestRelayedConnectionIsHolePunched(t *testing.T) {
	publicLoopback(t)
	relay := startRelay(t)
	ri := relayInfo(t, relay)
	a, b := newReplica(t), newReplica(t)
	wan := WANConfig{Relays: []peer.AddrInfo{ri}}
	da := startDaemon(t, a, "", func(cfg *DaemonConfig) {
		cfg.Listen, cfg.WAN = loopbackTCPQUIC, wan
		cfg.Node.Members = newFakeMembers(a.ID.ID, false, b.ID.ID)
	})
	target := []peer.AddrInfo{relayedInfo(t, da)}
	db := startDaemon(t, b, "", func(cfg *DaemonConfig) {
		cfg.Listen, cfg.WAN, cfg.Peers = loopbackTCPQUIC, wan, target
		cfg.Node.Members = newFakeMembers(b.ID.ID, false, a.ID.ID)
	})
	waitVia(t, db.Node(), a.ID.ID, 40*time.Second, ViaHolePunched)
	waitVia(t, da.Node(), b.ID.ID, 5*time.Second, ViaHolePunched)
	// The relay, a stranger, is no replica of the peer list, not even
	// after its connection dropped and came back.
	for _, c := range db.Node().Host().Network().ConnsToPeer(ri.ID) {
		c.Close()
	}
	waitFor(t, 20*time.Second, "the relay connection back", func() bool { return db.Node().connected(ri.ID) })
	st, err := db.Peers(context.Background())
	if err != nil || len(st) != 1 || st[0].ID != a.ID.ID {
		t.Fatalf("peers: %+v %v; want the one member", st, err)
	}
}

// A --relay that is no relay, or that nobody answers at, is one line in
// the node's log; the node runs on.
func TestBadRelaysAreOneLogLine(t *testing.T) {
	publicLoopback(t)
	plain := startNode(t, newReplica(t), nil)
	nobody := peer.AddrInfo{ID: newReplica(t).ID.ID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}}
	var log lockedBuffer
	startDaemon(t, newReplica(t), "", func(c *DaemonConfig) {
		c.Node.Logger = slog.New(slog.NewTextHandler(&log, nil))
		c.WAN = WANConfig{Relays: []peer.AddrInfo{info(plain.Host()), nobody}}
	})
	deadline := time.Now().Add(15 * time.Second)
	for s := log.String(); !strings.Contains(s, "not a relay") || !strings.Contains(s, "relay unreachable ("); s = log.String() {
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s, the log does not report both relays:\n%s", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "relay") && len(line) > 400 {
			t.Fatalf("a long log line: %s", line)
		}
	}
}

// loopbackRelay is a bare Circuit Relay v2 on 127.0.0.1 (TCP only) with
// the given resources, closed when the test ends.
func loopbackRelay(t *testing.T, res relayv2.Resources) host.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	rh, err := newHost(hostConfig{key: key, listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rh.Close() })
	r, err := relayv2.New(rh, relayv2.WithResources(res))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return rh
}

// A relay that refuses every reservation (full) is one line in the log.
func TestRefusingRelayIsOneLogLine(t *testing.T) {
	publicLoopback(t)
	defer func(d time.Duration) { reserveWait = d }(reserveWait)
	reserveWait = 2 * time.Second
	full := relayResources()
	full.MaxReservations = 0
	rh := loopbackRelay(t, full)
	var log lockedBuffer
	startDaemon(t, newReplica(t), "", func(c *DaemonConfig) {
		c.Node.Logger = slog.New(slog.NewTextHandler(&log, nil))
		c.WAN = WANConfig{Relays: []peer.AddrInfo{info(rh)}}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "no reservation at the relay") {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, the log does not report the refusing relay:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a log's buffer that goroutines write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A relay given by its TCP address alone (the first line 'peerwiki relay'
// prints) is reached over QUIC all the same before the node reserves a
// slot there: only an address the relay saw over QUIC, from the node's
// listening socket, lets hole punching start (wan_relayquic.go). A relay
// without QUIC is one line in the log.
func TestRelayGivenByTCPIsReachedOverQUIC(t *testing.T) {
	publicLoopback(t)
	tcpOnly := func(ai peer.AddrInfo) peer.AddrInfo {
		ai.Addrs = slices.DeleteFunc(slices.Clone(ai.Addrs), isQUIC)
		if len(ai.Addrs) == 0 {
			t.Fatalf("the relay has no TCP address")
		}
		return ai
	}
	t.Run("relay with QUIC", func(t *testing.T) {
		ri := relayInfo(t, startRelay(t))
		a := newReplica(t)
		da := startDaemon(t, a, "", func(cfg *DaemonConfig) {
			cfg.Listen, cfg.WAN = loopbackTCPQUIC, WANConfig{Relays: []peer.AddrInfo{tcpOnly(ri)}}
		})
		relayedInfo(t, da) // waits for the reservation
		w := da.Node().wan
		if !w.overQUIC(ri.ID) {
			t.Fatalf("connections to the relay: %v; want a QUIC one", da.Node().Host().Network().ConnsToPeer(ri.ID))
		}
	})
	t.Run("made again over TCP", func(t *testing.T) {
		// The relay's QUIC addresses gone from the peerstore (as 15
		// minutes after a disconnection), the connection is made again
		// at the configured TCP address; the node switches it to QUIC.
		defer func(d time.Duration) { relayQUICEvery = d }(relayQUICEvery)
		relayQUICEvery = 200 * time.Millisecond
		ri := relayInfo(t, startRelay(t))
		da := startDaemon(t, newReplica(t), "", func(cfg *DaemonConfig) {
			cfg.Listen, cfg.WAN = loopbackTCPQUIC, WANConfig{Relays: []peer.AddrInfo{tcpOnly(ri)}}
		})
		relayedInfo(t, da)
		h := da.Node().Host()
		h.Peerstore().ClearAddrs(ri.ID)
		for _, c := range h.Network().ConnsToPeer(ri.ID) {
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Connect(ctx, tcpOnly(ri)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the relay connection over QUIC again", func() bool { return da.Node().wan.overQUIC(ri.ID) })
	})
	t.Run("relay without QUIC", func(t *testing.T) {
		rh := loopbackRelay(t, relayResources())
		var log lockedBuffer
		da := startDaemon(t, newReplica(t), "", func(c *DaemonConfig) {
			c.Node.Logger = slog.New(slog.NewTextHandler(&log, nil))
			c.Listen, c.WAN = loopbackTCPQUIC, WANConfig{Relays: []peer.AddrInfo{info(rh)}}
		})
		relayedInfo(t, da)
		waitFor(t, 10*time.Second, "a log line for the relay without QUIC", func() bool {
			return strings.Contains(log.String(), "the relay offers no QUIC address")
		})
	})
}

// Through a relay that limits its connections (go-libp2p's defaults, as
// public relays run), no sync could pass: Connect waits for the hole
// punch that makes the connection direct, and then the members sync.
func TestLimitedRelayEndsHolePunched(t *testing.T) {
	publicLoopback(t)
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	rh, err := newHost(hostConfig{key: key, listen: loopbackTCPQUIC, quic: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	limited, err := relayv2.New(rh) // go-libp2p's default limits: 2 minutes, 128 KiB
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	ri := peer.AddrInfo{ID: rh.ID(), Addrs: rh.Addrs()}
	a, b := newReplica(t), newReplica(t)
	page := a.addHistory(1, 2, "Limited")[0]
	da := startDaemon(t, a, "", func(cfg *DaemonConfig) {
		cfg.Listen, cfg.WAN = loopbackTCPQUIC, WANConfig{Relays: []peer.AddrInfo{ri}}
		cfg.Node.Members = newFakeMembers(a.ID.ID, false, b.ID.ID)
	})
	target := []peer.AddrInfo{relayedInfo(t, da)}
	nb := startNode(t, b, func(cfg *Config) {
		cfg.Listen, cfg.WAN = loopbackTCPQUIC, WANConfig{Relays: []peer.AddrInfo{ri}}
		cfg.Members = newFakeMembers(b.ID.ID, false, a.ID.ID)
		cfg.SyncOnConnect = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := nb.Connect(ctx, target[0]); err != nil {
		t.Fatalf("connect through a limited relay: %v", err)
	}
	if v := nb.Via(a.ID.ID); v != ViaHolePunched && v != ViaDirect {
		t.Fatalf("connected %q", v)
	}
	if _, err := nb.SyncPeer(ctx, a.ID.ID); err != nil {
		t.Fatal(err)
	}
	if hs, err := b.Store.Heads(ctx, page); err != nil || len(hs) != 1 {
		t.Fatalf("the page did not arrive: %v %v", hs, err)
	}
}

// A connection whose peer stops answering (a path a network change
// broke) is closed after a probe times out; a live one stays.
func TestLivenessClosesAConnectionThatStoppedAnswering(t *testing.T) {
	publicLoopback(t)
	relay := startRelay(t)
	wan := WANConfig{Relays: []peer.AddrInfo{relayInfo(t, relay)}}
	a := startNode(t, newReplica(t), func(c *Config) { c.WAN = wan })
	b := startNode(t, newReplica(t), func(c *Config) { c.WAN = wan })
	// A peer whose pings vanish, as down a dead path.
	mute, err := newHost(hostConfig{listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	mute.SetStreamHandler(ping.ID, func(s network.Stream) {
		io.Copy(io.Discard, s)
	})
	connectNodes(t, a, b)
	if err := a.Connect(context.Background(), info(mute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*probeEvery+2*probeTimeout, "the mute peer's connection closed", func() bool { return !a.connected(mute.ID()) })
	if !a.connected(b.ID()) {
		t.Fatal("the live member's connection was closed too")
	}
}
