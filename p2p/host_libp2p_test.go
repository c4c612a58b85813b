package p2p

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// libp2pNewHost is the host as newHost built it with libp2p.New before
// it was assembled by hand: the reference the tests below hold it to.
// Only the tests link the root go-libp2p package.
func libp2pNewHost(cfg hostConfig) (host.Host, error) {
	cm, err := connmgr.NewConnManager(32, 64, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(hostLimits()))
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.key),
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.DisableMetrics(),
		libp2p.DisableRelay(),
		libp2p.Ping(false),
		libp2p.ListenAddrs(cfg.listen...),
	}
	if cfg.gater != nil {
		opts = append(opts, libp2p.ConnectionGater(cfg.gater))
	}
	return libp2p.New(opts...)
}

// hostView is what one host shows of itself, and what a peer learns of
// it through identify.
type hostView struct {
	Protocols     []protocol.ID // served, in the host's muxer
	SeenProtocols []protocol.ID // as the peer's peerstore has them
	Agent         any
	Events        []string // kinds of event the host emitted around one connection
}

func TestHostMatchesLibp2pNew(t *testing.T) {
	// The host is built with a stream gate that lets every peer reach
	// its protocols: to a member, the gate is invisible.
	build := func(t *testing.T, newH func(hostConfig) (host.Host, error)) host.Host {
		t.Helper()
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := newH(hostConfig{key: key, listen: loopback, gater: newBanList(), member: func(peer.ID) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	// view connects a host made by newH with one made by libp2p.New,
	// dialling from the reference side (or from h with fromH), and
	// opens a stream each way.
	view := func(t *testing.T, newH func(hostConfig) (host.Host, error), fromH bool) hostView {
		h, ref := build(t, newH), build(t, libp2pNewHost)
		var mu sync.Mutex
		kinds := map[string]bool{}
		sub, err := h.EventBus().Subscribe(event.WildcardSubscription)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		go func() {
			for e := range sub.Out() {
				mu.Lock()
				kinds[fmt.Sprintf("%T", e)] = true
				mu.Unlock()
			}
		}()
		for _, x := range []host.Host{h, ref} {
			x.SetStreamHandler(SyncProtocol, func(s network.Stream) { s.Close() })
		}
		from, to := ref, h
		if fromH {
			from, to = h, ref
		}
		if err := connect(context.Background(), from, info(to)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "identify on both sides", func() bool {
			a, _ := ref.Peerstore().SupportsProtocols(h.ID(), SyncProtocol)
			b, _ := h.Peerstore().SupportsProtocols(ref.ID(), SyncProtocol)
			mu.Lock()
			defer mu.Unlock()
			return len(a) == 1 && len(b) == 1 && kinds["event.EvtPeerIdentificationCompleted"]
		})
		for _, p := range [][2]host.Host{{h, ref}, {ref, h}} {
			s, err := p[0].NewStream(context.Background(), p[1].ID(), SyncProtocol)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			s.Close()
		}
		var v hostView
		v.Protocols = h.Mux().Protocols()
		v.SeenProtocols, _ = ref.Peerstore().GetProtocols(h.ID())
		v.Agent, _ = ref.Peerstore().Get(h.ID(), "AgentVersion")
		mu.Lock()
		for k := range kinds {
			// Whether a stream's protocol reaches the peerstore before
			// identify's copy of the list is a race, in either host; so
			// is whether the host announces its addresses (from a
			// goroutine of its own, once it listens) before or after the
			// subscription above: on a loaded machine, after.
			if k != "event.EvtPeerProtocolsUpdated" && k != "event.EvtLocalAddressesUpdated" {
				v.Events = append(v.Events, k)
			}
		}
		mu.Unlock()
		for _, s := range [][]protocol.ID{v.Protocols, v.SeenProtocols} {
			slices.Sort(s)
		}
		slices.Sort(v.Events)
		return v
	}
	for _, fromH := range []bool{false, true} {
		t.Run(fmt.Sprintf("dial from newHost's host: %v", fromH), func(t *testing.T) {
			want, got := view(t, libp2pNewHost, fromH), view(t, newHost, fromH)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("newHost's host differs from libp2p.New's:\n got %+v\nwant %+v", got, want)
			}
		})
	}
	// The gate's refusal after the handshake (a stranger at a node that
	// takes no new members) leaves no connection on the refusing side,
	// and no stream gets through.
	t.Run("a refused peer gets no connection", func(t *testing.T) {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		self, _ := peer.IDFromPrivateKey(key)
		g := newGate(self, newBanList(), newFakeMembers(self, false))
		h, err := newHost(hostConfig{key: key, listen: loopback, gater: g, member: g.isMember})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		h.SetStreamHandler(SyncProtocol, func(s network.Stream) { t.Error("a refused peer's stream got through"); s.Reset() })
		ref := build(t, libp2pNewHost)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = ref.Connect(ctx, info(h))
		if s, err := ref.NewStream(ctx, h.ID(), SyncProtocol); err == nil {
			if _, err := s.Read(make([]byte, 1)); err == nil {
				t.Fatal("a refused peer read from a stream")
			}
		}
		if len(h.Network().ConnsToPeer(ref.ID())) != 0 {
			t.Fatal("the refusing host holds a connection to the refused peer")
		}
	})
}
