package p2p

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// A relay (peerwiki relay) is what a team runs on a machine with a public
// address so that members behind NATs find and reach each other: a
// Circuit Relay v2 service, a Kademlia DHT server (the members' bootstrap
// peer and rendezvous), and an AutoNAT v1 service (it tells members
// whether they are reachable from outside). It holds no wiki and needs no
// repo; a relayed connection is secured end to end (Noise or TLS) between
// the two members, so the relay passes ciphertext it cannot read, and a
// member's gate judges the peer at the far end as if it had connected
// directly.

// RelayConfig configures a relay.
type RelayConfig struct {
	// Key is the relay's identity: a stable key keeps its peer id, and
	// so the addresses members were given, valid across restarts.
	Key crypto.PrivKey
	// Listen are its addresses (DefaultRelayListen when none).
	Listen []ma.Multiaddr
	// Logger receives its log (default: discard).
	Logger *slog.Logger
	// Allow, when set, is who may hold a reservation and be reached
	// through the relay (RelayAllow); nil: anyone, within the limits.
	Allow *RelayAllow
}

// RelayAllow is a relay's allow list: only the peers it names may reserve
// a slot at the relay, and a relayed connection is opened only to one of
// them (from anyone: a joiner, not a member yet, reaches its inviter
// through the relay, and the inviter's gate judges it as it would a
// direct connection). Without one, a relay serves anyone, within its
// limits (relayResources): the team's relay would be a free, unmetered
// relay for the whole internet. The peers come from a fixed list and from
// a file, read again when it changes, so an admin adds a member without
// restarting the relay (a member's node refused before tries again 30 s
// later); a file that cannot be read or parsed then keeps the list as it
// was, with a warning. A peer taken off keeps its reservation until it
// expires (an hour at most), but nothing is relayed to it from then on.
type RelayAllow struct {
	mu    sync.Mutex
	fixed []peer.ID
	file  string
	peers map[peer.ID]bool
	stamp string // the file's size and modification time, as last looked at
	log   *slog.Logger
}

// maxAllowFile bounds an allow file (about 20,000 peer ids).
const maxAllowFile = 1 << 20

// NewRelayAllow makes an allow list of ids and of the peer ids in file
// (none: ""), one a line; blank lines and text after a '#' are ignored.
func NewRelayAllow(ids []peer.ID, file string) (*RelayAllow, error) {
	a := &RelayAllow{fixed: ids, file: file, log: slog.New(slog.DiscardHandler)}
	if _, err := a.reload(true); err != nil {
		return nil, err
	}
	return a, nil
}

// ReadAllowFile reads the peer ids of an allow file.
func ReadAllowFile(path string) ([]peer.ID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAllowFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAllowFile {
		return nil, fmt.Errorf("%s: over %d bytes", path, maxAllowFile)
	}
	var ids []peer.ID
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxAllowFile)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 1 {
			return nil, fmt.Errorf("%s:%d: one peer id a line (a comment after '#')", path, n)
		}
		id, err := peer.Decode(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a peer id", path, n, clip(fields[0]))
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}

// reload reads the file again if it changed since it was last looked at
// (or if force). A file that cannot be read or parsed leaves the list as
// it was, and is not tried again until it changes (its error is told
// once).
func (a *RelayAllow) reload(force bool) (bool, error) {
	peers := map[peer.ID]bool{}
	for _, id := range a.fixed {
		peers[id] = true
	}
	if a.file != "" {
		stamp := "missing"
		st, err := os.Stat(a.file)
		if err == nil {
			stamp = fmt.Sprint(st.Size(), st.ModTime().UnixNano())
		}
		if !force && stamp == a.stamp {
			return false, nil
		}
		a.stamp = stamp
		if err != nil {
			return false, err
		}
		ids, err := ReadAllowFile(a.file)
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			peers[id] = true
		}
	}
	a.peers = peers
	return true, nil
}

// Allows reports whether the list names p, having looked whether the
// file changed (a stat: the relay asks at each reservation and each
// relayed connection, which its limits bound).
func (a *RelayAllow) Allows(p peer.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.file != "" {
		if read, err := a.reload(false); err != nil {
			a.log.Warn("the allow file changed but was not read; the list stays as it was", "err", clip(err.Error()))
		} else if read {
			a.log.Info("allow file read again", "peers", len(a.peers))
		}
	}
	return a.peers[p]
}

// Len is how many peers the list names.
func (a *RelayAllow) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.peers)
}

// relayACL is a RelayAllow as libp2p's relay asks it.
type relayACL struct{ a *RelayAllow }

func (r relayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool { return r.a.Allows(p) }

func (r relayACL) AllowConnect(_ peer.ID, _ ma.Multiaddr, dest peer.ID) bool { return r.a.Allows(dest) }

// DefaultRelayPort is a relay's TCP and UDP (QUIC) port when no listen
// address is given: the port the IPFS DHT's nodes use.
const DefaultRelayPort = 4001

// DefaultRelayListen are a relay's listen addresses when none is given:
// TCP and QUIC on DefaultRelayPort, IPv4 and IPv6.
func DefaultRelayListen() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, s := range []string{"/ip4/0.0.0.0/tcp/%d", "/ip4/0.0.0.0/udp/%d/quic-v1", "/ip6/::/tcp/%d", "/ip6/::/udp/%d/quic-v1"} {
		out = append(out, ma.StringCast(fmt.Sprintf(s, DefaultRelayPort)))
	}
	return out
}

// relayResources are the relay's limits. A relayed connection carries no
// limit of duration or bytes: libp2p marks a connection a relay limits as
// "limited" and opens no application stream over it (GossipSub does not,
// so an edit would never travel), and a wiki's first sync can take minutes
// and megabytes. The relay is bounded instead by how many it serves: 128
// reservations (one a peer, 8 an IP address, 32 an AS), 16 relayed
// connections a peer, 16 KiB of buffer each way of each, and the resource
// manager's limits (relayLimits): at most 128 × 16 connections and 64 MiB
// of buffers, whatever the peers do. Reservations last an hour and are
// renewed by their holders.
func relayResources() relay.Resources {
	return relay.Resources{
		Limit:                  nil,
		ReservationTTL:         time.Hour,
		MaxReservations:        128,
		MaxCircuits:            16,
		BufferSize:             16 << 10,
		MaxReservationsPerPeer: 1,
		MaxReservationsPerIP:   8,
		MaxReservationsPerASN:  32,
	}
}

// Relay is a running relay.
type Relay struct {
	host   host.Host
	dialer host.Host
	relay  *relay.Relay
	nat    autonat.AutoNAT
	dht    *dht.IpfsDHT
}

// StartRelay starts a relay; Close stops it.
func StartRelay(ctx context.Context, cfg RelayConfig) (_ *Relay, err error) {
	if cfg.Key == nil {
		return nil, errors.New("p2p: a relay needs a key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = DefaultRelayListen()
	}
	limits := relayLimits()
	r := &Relay{}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.host, err = newHost(hostConfig{key: cfg.Key, listen: cfg.Listen, quic: true, limits: &limits, ping: true,
		agent: "peerwiki-relay/1", connLow: 512, connHigh: 1024}); err != nil {
		return nil, err
	}
	if len(r.host.Network().ListenAddresses()) == 0 {
		return nil, fmt.Errorf("start relay: could not listen on any of %v", cfg.Listen)
	}
	opts := []relay.Option{relay.WithResources(relayResources())}
	if cfg.Allow != nil {
		cfg.Allow.mu.Lock()
		cfg.Allow.log = cfg.Logger
		cfg.Allow.mu.Unlock()
		opts = append(opts, relay.WithACL(relayACL{cfg.Allow}))
	}
	if r.relay, err = relay.New(r.host, opts...); err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	// AutoNAT's dial-back comes from a host of its own (another identity,
	// another port), as libp2p.New sets it up: a dial from the relay's
	// own port would pass the member's NAT as a reply.
	if r.dialer, err = newHost(hostConfig{quic: true, agent: "peerwiki-relay/1"}); err != nil {
		return nil, err
	}
	if r.nat, err = autonat.New(r.host, autonat.EnableService(r.dialer.Network()), autonat.WithReachability(network.ReachabilityPublic)); err != nil {
		return nil, fmt.Errorf("start relay: AutoNAT: %w", err)
	}
	if r.dht, err = dht.New(r.host, dht.Mode(dht.ModeServer), dht.AddressFilter(reachableAddrs)); err != nil {
		return nil, fmt.Errorf("start relay: DHT: %w", err)
	}
	allowed := "anyone"
	if cfg.Allow != nil {
		allowed = fmt.Sprintf("%d peers", cfg.Allow.Len())
	}
	cfg.Logger.Info("relay started", "peer", r.host.ID(), "reservations", relayResources().MaxReservations, "allowed", allowed)
	return r, nil
}

// ID is the relay's peer id.
func (r *Relay) ID() string { return r.host.ID().String() }

// Host is the relay's libp2p host.
func (r *Relay) Host() host.Host { return r.host }

// Addrs are the relay's addresses, each ending in /p2p/PEERID, the ones
// other machines can dial first.
func (r *Relay) Addrs() []ma.Multiaddr { return sortDialable(P2PAddrs(r.host)) }

// Close stops the relay.
func (r *Relay) Close() error {
	if r.dht != nil {
		r.dht.Close()
	}
	if r.nat != nil {
		r.nat.Close()
	}
	if r.relay != nil {
		r.relay.Close()
	}
	if r.dialer != nil {
		r.dialer.Close()
	}
	if r.host != nil {
		return r.host.Close()
	}
	return nil
}
