package p2p

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Beyond the LAN, a node finds and reaches the other members with
// libp2p's own machinery, nothing home-made on the wire:
//
//   - rendezvous on a Kademlia DHT (go-libp2p-kad-dht, client mode): the
//     node provides a key only members can derive, which changes every
//     UTC day (rendezvous.go), and dials the other providers of it (the
//     gate decides, as for any dial);
//   - AutoNAT (v1: its dial-back is a connection attempt, which the gate
//     does not need to let through; v2 dials back with a stream from a
//     stranger, which the gate refuses on purpose), Circuit Relay v2
//     (AutoRelay with the configured relays, or relays met through the
//     DHT), DCUtR hole punching, TCP and QUIC.
//
// All of it is off unless WANConfig says otherwise, and only a running
// node (the daemon) turns it on: one-shot hosts get none of it but the
// ability to dial a relayed address.

// WANConfig is a node's wide-area networking. Its zero value is off.
type WANConfig struct {
	// DHT turns on rendezvous on a Kademlia DHT.
	DHT bool
	// Bootstrap are the DHT's bootstrap peers; none: DefaultBootstrap,
	// the public IPFS (Amino) DHT's, which a node that listens on
	// loopback only never joins (nobody outside could reach it).
	Bootstrap []peer.AddrInfo
	// Relays are Circuit Relay v2 relays (peerwiki relay) where the
	// node reserves a slot while it is not reachable from outside, so
	// that members behind other NATs reach it through them and then,
	// often, directly (hole punching). They also serve as DHT bootstrap
	// peers when Bootstrap is empty and they speak the DHT.
	Relays []peer.AddrInfo
	// Secret is the wiki's rendezvous secret (RendezvousKey), asked for
	// anew before every round: it changes when a member is removed. Nil,
	// or an empty answer (a wiki whose member list is not founded yet):
	// no rendezvous.
	Secret func() []byte
}

// On reports whether any wide-area networking is configured.
func (w WANConfig) On() bool { return w.DHT || len(w.Relays) > 0 }

// DefaultBootstrap are the public IPFS (Amino) DHT's bootstrap peers, as
// go-libp2p-kad-dht lists them.
func DefaultBootstrap() []peer.AddrInfo { return dht.GetDefaultBootstrapPeerAddrInfos() }

// ParseAddrsOf parses the multiaddrs a flag or the configuration gives
// for what (--bootstrap, --relay): each must end in /p2p/PEERID. Errors
// are one line naming the flag.
func ParseAddrsOf(what string, addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("bad %s %q: %v", what, s, err)
		}
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			return nil, fmt.Errorf("bad %s %q: it must end in /p2p/PEERID (the 'listening on' line of 'peerwiki relay')", what, s)
		}
		mas = append(mas, a)
	}
	return peer.AddrInfosFromP2pAddrs(mas...)
}

// ParsePublicNets parses --public-net CIDRs. IPv6 ranges count only
// inside 2000::/3: libp2p holds every other IPv6 address non-public
// whatever its tables say.
func ParsePublicNets(cidrs []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range cidrs {
		_, n, err := net.ParseCIDR(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("bad public network %q: want a CIDR such as 10.213.0.0/16", s)
		}
		if n.IP.To4() == nil && !globalUnicast6.Contains(n.IP) {
			return nil, fmt.Errorf("bad public network %q: libp2p counts only IPv6 addresses in 2000::/3 as public", s)
		}
		out = append(out, n)
	}
	return out, nil
}

var _, globalUnicast6, _ = net.ParseCIDR("2000::/3")

// wan is a node's wide-area networking, while it runs.
type wan struct {
	n       *Node
	cfg     WANConfig
	kinds   *connKinds
	nat     autonat.AutoNAT
	relays  *autorelay.AutoRelay
	dht     *dht.IpfsDHT
	emitter event.Emitter

	mu sync.Mutex
	// relayIDs are the relays whose relayed connections the node takes:
	// the configured ones and those AutoRelay reserved at.
	relayIDs map[peer.ID]bool
	// directLost is when the node last lost a direct connection to a
	// member it stayed connected to through a relay (a network change on
	// the way), and lastRenew when it last renewed its relay connections
	// (punchFailed).
	directLost map[peer.ID]time.Time
	lastRenew  time.Time
	// reserved are the relays the node holds a reservation at now.
	reserved map[peer.ID]bool
	// closing is set when the node closes: AutoRelay must not start
	// after.
	closing bool
}

// newWAN is what a node's host needs before it is built (the relays it
// accepts relayed connections from, the hole punch tracer); start starts
// the rest once it is.
func newWAN(n *Node, cfg WANConfig) *wan {
	w := &wan{n: n, cfg: cfg, kinds: newConnKinds(), relayIDs: map[peer.ID]bool{}, directLost: map[peer.ID]time.Time{},
		reserved: map[peer.ID]bool{}}
	w.kinds.punchFailed = w.punchFailed
	w.kinds.ended = w.punchEnded
	for _, r := range cfg.Relays {
		w.relayIDs[r.ID] = true
	}
	return w
}

func (w *wan) isRelay(p peer.ID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.relayIDs[p]
}

// dhtOff says why a node with cfg, listening on listen, runs no DHT
// (empty: it runs one).
func dhtOff(cfg WANConfig, listen []ma.Multiaddr) string {
	switch {
	case !cfg.DHT:
		return "turned off"
	case len(cfg.Bootstrap) > 0 || len(cfg.Relays) > 0:
		return ""
	case len(listen) == 0:
		return "this node listens nowhere"
	}
	for _, a := range listen {
		if !manet.IsIPLoopback(a) {
			return ""
		}
	}
	return "this node listens on loopback only, where nobody on the public DHT could reach it"
}

// start starts AutoNAT, AutoRelay, the DHT and rendezvous on the node's
// host.
func (w *wan) start() error {
	n := w.n
	h := n.host
	var err error
	// AutoNAT v1 as a client only: the node asks peers that offer it
	// (the relays) to dial it back at its public addresses; it never
	// dials others back.
	publicAddrs := func() []ma.Multiaddr {
		return slices.DeleteFunc(allAddrs(h), func(a ma.Multiaddr) bool { return !manet.IsPublicAddr(a) })
	}
	if w.nat, err = autonat.New(h, autonat.UsingAddresses(publicAddrs), autonat.WithoutStartupDelay(),
		autonat.WithSchedule(30*time.Second, 15*time.Minute)); err != nil {
		return fmt.Errorf("start AutoNAT: %w", err)
	}
	if reason := dhtOff(w.cfg, n.cfg.Listen); reason != "" {
		n.log.Info("the DHT is off: "+reason, "rendezvous", false)
	} else if err := w.startDHT(); err != nil {
		return err
	}
	if err := w.startRelays(); err != nil {
		return err
	}
	n.host.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if isRelayed(c.RemoteMultiaddr()) {
			w.kinds.sawRelayed(c.RemotePeer(), c.Stat().Opened)
		}
	}, DisconnectedF: func(_ network.Network, c network.Conn) {
		if !isRelayed(c.RemoteMultiaddr()) && n.isMember(c.RemotePeer()) {
			w.mu.Lock()
			w.directLost[c.RemotePeer()] = time.Now()
			w.mu.Unlock()
		}
	}})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		w.probeConnections(n.ctx)
	}()
	if wh, ok := n.host.(*wikiHost); ok && wh.holePunch != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			w.upgradeRelayed(n.ctx, wh.holePunch)
		}()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			w.watchHolePunching(n.ctx, wh.holePunchAddrs)
		}()
	}
	return nil
}

func (w *wan) startDHT() error {
	n := w.n
	boot := w.cfg.Bootstrap
	if len(boot) == 0 {
		boot = w.cfg.Relays
	}
	if len(boot) == 0 {
		boot = DefaultBootstrap()
	}
	var err error
	w.dht, err = dht.New(n.host, dht.Mode(dht.ModeClient), dht.BootstrapPeers(boot...),
		dht.AddressFilter(reachableAddrs))
	if err != nil {
		return fmt.Errorf("start the DHT: %w", err)
	}
	n.log.Info("the DHT is on", "bootstrap", len(boot))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		w.rendezvous(n.ctx)
	}()
	return nil
}

// reachableAddrs keeps the addresses worth telling the DHT: public ones
// (as SetPublicNets counts them) and relayed ones. A member's LAN
// addresses stay on the LAN.
func reachableAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	return slices.DeleteFunc(slices.Clone(addrs), func(a ma.Multiaddr) bool {
		return !isRelayed(a) && !manet.IsPublicAddr(a)
	})
}

// isRelayed reports whether a names a /p2p-circuit address.
func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

func (w *wan) startRelays() error {
	n := w.n
	var opts []autorelay.Option
	switch {
	case len(w.cfg.Relays) > 0:
		opts = append(opts, autorelay.WithStaticRelays(w.cfg.Relays))
	case w.dht != nil:
		opts = append(opts, autorelay.WithPeerSource(w.dhtRelayCandidates), autorelay.WithMinCandidates(2))
	default:
		return nil
	}
	opts = append(opts, autorelay.WithBootDelay(time.Second), autorelay.WithBackoff(30*time.Second), autorelay.WithMinInterval(10*time.Second))
	var err error
	if w.relays, err = autorelay.NewAutoRelay(n.host, opts...); err != nil {
		return fmt.Errorf("start AutoRelay: %w", err)
	}
	if err := n.onHostEvents([]any{new(event.EvtAutoRelayAddrsUpdated)}, func(e any) {
		ev := e.(event.EvtAutoRelayAddrsUpdated)
		w.mu.Lock()
		clear(w.reserved)
		for _, a := range ev.RelayAddrs {
			if id, err := relayOf(a); err == nil {
				w.relayIDs[id] = true
				w.reserved[id] = true
			}
		}
		w.mu.Unlock()
		n.log.Info("relayed addresses", "addrs", len(ev.RelayAddrs))
	}); err != nil {
		return err
	}
	if len(w.cfg.Relays) == 0 {
		w.startAutoRelay()
	} else {
		// AutoRelay starts once the configured relays are reached,
		// over QUIC where they can be (wan_relayquic.go): a
		// reservation made over TCP would be lost when the connection
		// is made again.
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			w.reachRelays(n.ctx)
		}()
	}
	if len(w.cfg.Relays) > 0 {
		// Reserve at once rather than after AutoNAT's first verdict
		// (15 s and more with one server): until AutoNAT finds the node
		// reachable from outside, it counts as behind a NAT, so its
		// relayed addresses are advertised and its public ones (if any)
		// wait for that verdict.
		if w.emitter, err = n.host.EventBus().Emitter(new(event.EvtLocalReachabilityChanged), eventbus.Stateful); err != nil {
			return err
		}
		if w.nat.Status() == network.ReachabilityUnknown {
			w.emitter.Emit(event.EvtLocalReachabilityChanged{Reachability: network.ReachabilityPrivate})
		}
	}
	return nil
}

// relayOf is the relay's peer id in a relayed address
// (/…/p2p/RELAY/p2p-circuit…).
func relayOf(a ma.Multiaddr) (peer.ID, error) {
	before, _ := ma.SplitFunc(a, func(c ma.Component) bool { return c.Protocol().Code == ma.P_CIRCUIT })
	info, err := peer.AddrInfoFromP2pAddr(before)
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

// dhtRelayCandidates offers AutoRelay the DHT peers the node knows, for
// a node given no relays: AutoRelay keeps those that speak Circuit Relay
// v2 (on the public DHT, many do, with go-libp2p's default limits: enough
// to coordinate a hole punch).
func (w *wan) dhtRelayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	defer close(out)
	if w.dht == nil {
		return out
	}
	for _, p := range w.dht.RoutingTable().ListPeers() {
		if len(out) == num {
			break
		}
		if addrs := w.n.host.Peerstore().Addrs(p); len(addrs) > 0 {
			out <- peer.AddrInfo{ID: p, Addrs: addrs}
		}
	}
	return out
}

func (w *wan) close() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	if w.relays != nil {
		w.relays.Close()
	}
	if w.dht != nil {
		w.dht.Close()
	}
	if w.nat != nil {
		w.nat.Close()
	}
	if w.emitter != nil {
		w.emitter.Close()
	}
}

// allAddrs are all of a host's addresses, its observed ones included.
func allAddrs(h interface{ Addrs() []ma.Multiaddr }) []ma.Multiaddr {
	if a, ok := h.(interface{ AllAddrs() []ma.Multiaddr }); ok {
		return a.AllAddrs()
	}
	return h.Addrs()
}

// reachRelays reaches the configured relays (reachRelay), then starts
// AutoRelay, says in the log, in one line, when a relay that was reached
// holds no reservation for the node reserveWait later (AutoRelay itself
// only retries), and keeps the relay connections on QUIC.
func (w *wan) reachRelays(ctx context.Context) {
	reached := make([]bool, len(w.cfg.Relays))
	var wg sync.WaitGroup
	for i, r := range w.cfg.Relays {
		wg.Go(func() { reached[i] = w.reachRelay(ctx, r) })
	}
	wg.Wait()
	if !w.startAutoRelay() {
		return
	}
	w.n.wg.Add(1)
	go func() {
		defer w.n.wg.Done()
		w.keepRelaysOnQUIC(ctx)
	}()
	// A relay that speaks the protocol may still refuse a reservation
	// (full, or too many from this address).
	select {
	case <-ctx.Done():
		return
	case <-time.After(reserveWait):
	}
	for i, r := range w.cfg.Relays {
		w.mu.Lock()
		reserved := w.reserved[r.ID]
		w.mu.Unlock()
		if reached[i] && !reserved && w.nat.Status() != network.ReachabilityPublic {
			w.n.log.Warn(fmt.Sprintf("no reservation at the relay after %s: it refuses one (full, or too many from this address?); retrying", FormatWait(reserveWait)), "relay", r.ID)
		}
	}
}

// startAutoRelay starts AutoRelay unless the node is closing; it
// reports whether it did.
func (w *wan) startAutoRelay() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return false
	}
	w.relays.Start()
	return true
}

// reserveWait is how long after start a relay that holds no reservation
// for the node is reported (a variable for tests).
var reserveWait = 20 * time.Second
