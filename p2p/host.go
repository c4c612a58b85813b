package p2p

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/gologshim"
	basichost "github.com/libp2p/go-libp2p/p2p/host/basic"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/host/observedaddrs"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	p2pconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/net/upgrader"
	circuitclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	circuitproto "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/quic-go/quic-go"
)

func init() {
	// libp2p logs through gologshim; unless the user asked for its logs
	// with GOLOG_LOG_LEVEL, keep everything below errors off stderr, which
	// belongs to peerwiki's own one-line messages and serve's log.
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		gologshim.SetDefaultHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4}))
	}
}

// quietStdLog silences the standard log package, which zeroconf (mDNS)
// writes to ("no suitable IPv6 interface"), once per process.
var quietStdLog = sync.OnceFunc(func() {
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		log.SetOutput(io.Discard)
	}
})

// hostConfig is what a libp2p host for one wiki needs.
type hostConfig struct {
	key    crypto.PrivKey
	listen []ma.Multiaddr
	// gater decides who may connect (nil: everyone), after the Noise
	// handshake (a node's is its gate).
	gater connmgr.ConnectionGater
	// member, when set, says whose inbound streams reach the host's
	// protocols; any other peer's reach only strangers' (gateStreams).
	member    func(peer.ID) bool
	strangers protocol.Switch
	// agent is what identify tells peers this node is (agentFor).
	agent string

	// What wide-area networking adds (wan.go); the zero values leave a
	// host of TCP alone, which can still dial /p2p-circuit addresses.
	//
	// quic adds the QUIC transport (/udp/N/quic-v1), dialling from the
	// socket it listens on, so that an address a peer observed is one a
	// hole punch can use.
	quic bool
	// relayPeers, when set, names the strangers (the relays this node
	// holds reservations at) whose relayed connections (Circuit Relay
	// v2's STOP protocol) it accepts; the gate then judges the peer at
	// the far end like any other.
	relayPeers func(peer.ID) bool
	// holePunch, when set, turns on DCUtR hole punching and receives its
	// events (how a connection was made, see via.go).
	holePunch holepunch.EventTracer
	// ping answers libp2p's ping protocol (liveness probes, see
	// wan_liveness.go).
	ping bool
	// limits replaces hostLimits (the relay's, wanLimits).
	limits *rcmgr.ConcreteLimitConfig
	// connLow and connHigh are the connection manager's water marks
	// (zero: 32 and 64, a wiki's members with room to spare).
	connLow, connHigh int
}

// newHost builds the libp2p host: the repo's identity, TCP (reuseport
// off, so two peers that find each other by mDNS at once cannot make a
// TCP simultaneous open; listening, a connection waits in pools of its
// own until its handshake is done, see handshakeTCP), Noise, Yamux, the
// circuit relay client as a dial-only transport (a join code or a
// remembered peer may name a relayed address), the gate in front of
// connections and streams, and limits sized for a laptop. With
// cfg.quic, cfg.relayPeers and cfg.holePunch (a node with wide-area
// networking, wan.go) it adds QUIC, relayed connections from its relays
// and DCUtR hole punching. There is no private network: who may connect
// is the wiki's member list's to say, after the handshake (members.go),
// on every transport, relayed connections included.
//
// It assembles the host from go-libp2p's parts as libp2p.New would for
// these options, without calling it: the root package links every
// default transport (WebTransport, WebRTC), fx and the metrics set-up,
// and their package initialisation alone cost every CLI command, a
// one-revision edit included, milliseconds of start-up. host_limits.go
// and wan_limits.go set the limits of what it runs.
func newHost(cfg hostConfig) (_ host.Host, err error) {
	if cfg.key == nil {
		// As libp2p.New: no identity given, a random one.
		if cfg.key, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			return nil, fmt.Errorf("start libp2p host: %w", err)
		}
	}
	id, err := peer.IDFromPublicKey(cfg.key.GetPublic())
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	if cfg.connLow == 0 {
		cfg.connLow, cfg.connHigh = 32, 64
	}
	cm, err := p2pconnmgr.NewConnManager(cfg.connLow, cfg.connHigh, p2pconnmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	limits := hostLimits()
	if cfg.limits != nil {
		limits = *cfg.limits
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits))
	if err != nil {
		cm.Close()
		return nil, err
	}
	ps, err := pstoremem.NewPeerstore()
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}

	// Until the basic host exists, whatever was made is closed here;
	// after, its Close closes the connection manager, swarm, peerstore
	// and resource manager.
	var sw *swarm.Swarm
	var wh *wikiHost
	var quicConns *quicreuse.ConnManager
	defer func() {
		if err == nil {
			return
		}
		err = fmt.Errorf("start libp2p host: %w", err)
		if wh != nil {
			wh.Close()
			return
		}
		if sw != nil {
			sw.Close()
		}
		if quicConns != nil {
			quicConns.Close()
		}
		cm.Close()
		ps.Close()
		rm.Close()
	}()
	if err = ps.AddPrivKey(id, cfg.key); err != nil {
		return nil, err
	}
	if err = ps.AddPubKey(id, cfg.key.GetPublic()); err != nil {
		return nil, err
	}
	// Always a gater: it tells the listener's pool when a handshake is
	// done.
	gater := handshakeGater{inner: cfg.gater}

	// What config.NewNode gives the swarm for these options: the
	// default black-hole detectors, the gater and the resource manager;
	// no metrics (libp2p.DisableMetrics).
	bus := eventbus.NewBus()
	swOpts := []swarm.Option{
		swarm.WithUDPBlackHoleSuccessCounter(&swarm.BlackHoleSuccessCounter{N: 100, MinSuccesses: 5, Name: "UDP"}),
		swarm.WithIPv6BlackHoleSuccessCounter(&swarm.BlackHoleSuccessCounter{N: 100, MinSuccesses: 5, Name: "IPv6"}),
		swarm.WithResourceManager(rm),
		swarm.WithConnectionGater(gater),
	}
	if sw, err = swarm.NewSwarm(id, ps, bus, swOpts...); err != nil {
		return nil, err
	}
	muxers := []upgrader.StreamMuxer{{ID: yamux.ID, Muxer: yamux.DefaultTransport}}
	nt, err := noise.New(noise.ID, cfg.key, muxers)
	if err != nil {
		return nil, err
	}
	// A connection has as long to finish its handshake as its dialer
	// waits (not libp2p's 15 s).
	up, err := upgrader.New([]sec.SecureTransport{nt}, muxers, nil, rm, gater, upgrader.WithAcceptTimeout(connectTimeout))
	if err != nil {
		return nil, err
	}
	tpt, err := tcp.NewTCPTransport(up, rm, nil, tcp.DisableReuseport())
	if err != nil {
		return nil, err
	}
	if err = sw.AddTransport(&handshakeTCP{TcpTransport: tpt, upgrader: up}); err != nil {
		return nil, err
	}
	if cfg.quic {
		if quicConns, err = newQUICConns(); err != nil {
			return nil, err
		}
		var qt transport.Transport
		if qt, err = libp2pquic.NewTransport(cfg.key, quicConns, nil, gater, rm); err != nil {
			return nil, err
		}
		if err = sw.AddTransport(qt); err != nil {
			return nil, err
		}
	}
	observed, err := observedaddrs.NewManager(bus, sw)
	if err != nil {
		return nil, err
	}
	opts := &basichost.HostOpts{
		EventBus:             bus,
		ConnManager:          cm,
		ObservedAddrsManager: observed,
		UserAgent:            cfg.agent,
		EnablePing:           cfg.ping,
	}
	bh, err := basichost.NewHost(sw, opts)
	if err != nil {
		return nil, err
	}
	wh = &wikiHost{BasicHost: bh, swarm: sw, observed: observed, quic: quicConns}
	if cfg.holePunch != nil {
		// The hole punching service basichost would make, kept here so
		// that a node can try again (DirectConnect) when the first try,
		// as a relayed connection opened, came too early.
		if wh.holePunch, err = holepunch.NewService(bh, bh.IDService(), wh.holePunchAddrs, holepunch.WithTracer(cfg.holePunch)); err != nil {
			return nil, err
		}
	}
	// Every host dials relayed addresses (a join code or a remembered
	// peer may name one); only a node with relays accepts relayed
	// connections, and only from them.
	relayed := &stopCapture{Host: bh}
	circuit, err := circuitclient.New(relayed, up)
	if err != nil {
		return nil, err
	}
	if err = sw.AddTransport(circuit); err != nil {
		return nil, err
	}
	if cfg.member != nil {
		if cfg.relayPeers != nil && cfg.strangers != nil {
			circuit.Start()
			acceptRelayed(cfg.strangers, cfg.relayPeers, func() network.StreamHandler { return relayed.stop })
		}
		gateStreams(sw, cfg.member, cfg.strangers)
	} else if cfg.relayPeers != nil {
		circuit.Start()
	}
	// The start order of config.NewNode: listen, then the observed
	// address manager, then the host's services (identify among them).
	if err = sw.Listen(cfg.listen...); err != nil {
		return nil, err
	}
	if cfg.relayPeers != nil {
		if err = sw.Listen(ma.StringCast("/p2p-circuit")); err != nil {
			return nil, err
		}
	}
	observed.Start(sw)
	bh.Start()
	return wh, nil
}

// wikiHost is the basic host with the teardown libp2p.New's host has:
// the observed address manager and the swarm stop before the host's own
// services.
type wikiHost struct {
	*basichost.BasicHost
	swarm    *swarm.Swarm
	observed *observedaddrs.Manager
	// quic holds the QUIC transport's sockets (nil: no QUIC); closed
	// after the swarm, as libp2p.New orders it.
	quic *quicreuse.ConnManager
	// holePunch is DCUtR (nil: off).
	holePunch *holepunch.Service
}

// holePunchAddrs are the addresses a hole punch offers the other side:
// basichost's choice (its addrsManager.HolePunchAddrs), the public
// addresses the host has or was seen at by one peer at least (a relay:
// often the only public peer a member behind a NAT meets).
func (h *wikiHost) holePunchAddrs() []ma.Multiaddr {
	addrs := append(h.AllAddrs(), h.observed.Addrs(1)...)
	return slices.DeleteFunc(ma.Unique(addrs), func(a ma.Multiaddr) bool { return !manet.IsPublicAddr(a) || isRelayed(a) })
}

func (h *wikiHost) Close() error {
	if h.holePunch != nil {
		h.holePunch.Close()
	}
	h.observed.Close()
	h.swarm.Close()
	err := h.BasicHost.Close()
	if h.quic != nil {
		h.quic.Close()
	}
	return err
}

// newQUICConns is the QUIC transport's socket manager: it dials from the
// socket it listens on (reuseport), so the address a peer observes is
// the one a hole punch needs.
func newQUICConns() (*quicreuse.ConnManager, error) {
	var reset quic.StatelessResetKey
	var token quic.TokenGeneratorKey
	if _, err := rand.Read(reset[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(token[:]); err != nil {
		return nil, err
	}
	return quicreuse.NewConnManager(reset, token)
}

// stopCapture is the host the circuit relay client sees: it keeps the
// client's handler of relayed connections (the STOP protocol), which
// acceptRelayed offers the node's relays, strangers to its member list.
type stopCapture struct {
	host.Host
	stop network.StreamHandler
}

func (c *stopCapture) SetStreamHandler(pid protocol.ID, h network.StreamHandler) {
	if pid == circuitproto.ProtoIDv2Stop {
		c.stop = h
	}
	c.Host.SetStreamHandler(pid, h)
}

// acceptRelayed adds the STOP protocol to what strangers may speak:
// the relays relay names open relayed connections with it; anyone else's
// stream is reset. A relayed connection is then secured (Noise or TLS,
// end to end: the relay sees ciphertext) and judged by the gate like a
// direct one.
func acceptRelayed(strangers protocol.Switch, relay func(peer.ID) bool, stop func() network.StreamHandler) {
	strangers.AddHandler(circuitproto.ProtoIDv2Stop, func(_ protocol.ID, rwc io.ReadWriteCloser) error {
		s := rwc.(network.Stream)
		h := stop()
		if h == nil || !relay(s.Conn().RemotePeer()) {
			s.ResetWithError(network.StreamProtocolNegotiationFailed)
			return nil
		}
		h(s)
		return nil
	})
}

// MDNSService is the mDNS service name of a wiki: derived from its id so
// members of other wikis on the LAN are never even dialled.
func MDNSService(wiki string) string {
	sum := sha256.Sum256([]byte("peerwiki mdns " + wiki))
	return "_pw-" + hex.EncodeToString(sum[:6]) + "._udp"
}

// P2PAddrs returns a host's addresses as dialable multiaddrs ending in
// /p2p/PEERID.
func P2PAddrs(h host.Host) []ma.Multiaddr {
	info := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	out, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return out
}

// ParsePeerAddrs parses --peer multiaddrs (each must end in /p2p/PEERID)
// and groups them by peer.
func ParsePeerAddrs(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("bad peer address %q: %v", s, err)
		}
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			return nil, fmt.Errorf("peer address %q must end in /p2p/PEERID (see 'peerwiki id' or the 'listening on' line of 'peerwiki serve')", s)
		}
		mas = append(mas, a)
	}
	return peer.AddrInfosFromP2pAddrs(mas...)
}

// banList is a connection gater that refuses peers caught misbehaving,
// for a while.
type banList struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

func newBanList() *banList { return &banList{until: map[peer.ID]time.Time{}} }

func (b *banList) ban(p peer.ID, d time.Duration) {
	b.mu.Lock()
	b.until[p] = time.Now().Add(d)
	b.mu.Unlock()
}

func (b *banList) banned(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[p]
	if ok && time.Now().After(t) {
		delete(b.until, p)
		return false
	}
	return ok
}

// The connmgr.ConnectionGater methods: banned peers are neither dialled
// nor accepted once their identity is known.

func (b *banList) InterceptPeerDial(p peer.ID) bool { return !b.banned(p) }
func (b *banList) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return !b.banned(p)
}
func (b *banList) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (b *banList) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !b.banned(p)
}
func (b *banList) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// connectTimeout bounds one dial.
const connectTimeout = 5 * time.Second

func connect(ctx context.Context, h host.Host, info peer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return h.Connect(ctx, info)
}
