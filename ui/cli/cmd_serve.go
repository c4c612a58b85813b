package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

// DefaultPort is serve's TCP port when no --listen is given. A fixed port
// keeps the addresses in join codes and remembered peers valid across
// restarts; when it is taken, serve falls back to a random port.
const DefaultPort = 7171

func (a *app) serveCommand() *cobra.Command {
	var listen, peerAddrs []string
	var noMDNS bool
	cmd := &cobra.Command{
		Use:   "serve [--listen MULTIADDR]... [--peer MULTIADDR]... [--no-mdns]",
		Short: "Run a node that keeps this replica in sync with its peers",
		Long: fmt.Sprintf(`Run a replication node until interrupted (SIGINT or SIGTERM): listen on
--listen (default /ip4/0.0.0.0/tcp/%d and /ip6/::/tcp/%d, or a random port
when that one is taken), find members on the LAN by mDNS (unless --no-mdns),
keep connected to the --peer addresses and the remembered peers (redialling
with backoff), sync with every peer on connect, announce new local revisions
(also those made by other peerwiki commands on this repo, noticed within a
second), and take in everyone else's.

Prints one line 'listening on MULTIADDR/p2p/PEERID' per address on stdout,
then logs to stderr (PEERWIKI_LOG=debug for more). While it runs, 'peerwiki
id' and 'peerwiki invite' use its addresses (kept in serve.json in the repo).`, DefaultPort, DefaultPort),
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.keepRunning()
			explicit, err := p2p.ParsePeerAddrs(peerAddrs)
			if err != nil {
				return usagef("%v", err)
			}
			var listenAddrs []ma.Multiaddr
			for _, s := range listen {
				m, err := ma.NewMultiaddr(s)
				if err != nil {
					return usagef("bad --listen %q: %v", s, err)
				}
				listenAddrs = append(listenAddrs, m)
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			if st, ok := p2p.ReadServeState(r.Dir); ok && st.PID != os.Getpid() {
				return fmt.Errorf("a serve is already running on %s (pid %d)", r.Dir, st.PID)
			}
			cfg, err := nodeConfig(r)
			if err != nil {
				return err
			}
			remembered, err := p2p.LoadPeers(r.Dir)
			if err != nil {
				return err
			}
			cfg.Peers = mergePeers(explicit, p2p.AddrInfos(remembered))
			cfg.Reconnect, cfg.MDNS, cfg.Gossip, cfg.SyncOnConnect, cfg.WatchCommits = true, !noMDNS, true, true, true
			cfg.Logger = newLogger(a.stderr)
			wiki.Logger = cfg.Logger

			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var node *p2p.Node
			if len(listenAddrs) == 0 {
				cfg.Listen = defaultListen(DefaultPort)
				if node, err = p2p.New(ctx, cfg); err != nil {
					cfg.Listen = defaultListen(0)
					node, err = p2p.New(ctx, cfg)
				}
			} else {
				cfg.Listen = listenAddrs
				node, err = p2p.New(ctx, cfg)
			}
			if err != nil {
				return err
			}
			defer node.Close()
			addrs := sortAddrs(node.Addrs())
			for _, m := range addrs {
				fmt.Fprintf(a.stdout, "listening on %s\n", m)
			}
			if f, ok := a.stdout.(*os.File); ok {
				f.Sync()
			}
			st := p2p.ServeState{PID: os.Getpid(), PeerID: node.ID().String(), Addrs: addrs, Connected: []p2p.ConnectedPeer{}}
			if err := p2p.WriteServeState(r.Dir, st); err != nil {
				return err
			}
			defer p2p.RemoveServeState(r.Dir)
			cfg.Logger.Info("serving", "wiki", r.Config.Wiki, "peer", node.ID(), "mdns", !noMDNS, "peers", len(cfg.Peers))
			a.serveLoop(ctx, node, r.Dir, st)
			cfg.Logger.Info("shutting down")
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "address to listen on (repeatable)")
	cmd.Flags().StringArrayVar(&peerAddrs, "peer", nil, "peer to keep connected to, MULTIADDR/p2p/PEERID (repeatable)")
	cmd.Flags().BoolVar(&noMDNS, "no-mdns", false, "do not discover peers on the LAN")
	return cmd
}

// serveLoop keeps serve.json's connected list and the remembered peers
// up to date until ctx ends.
func (a *app) serveLoop(ctx context.Context, node *p2p.Node, dir string, st p2p.ServeState) {
	events := node.Subscribe()
	remembered := map[peer.ID]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastConnected := ""
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			if e.Kind == p2p.EventSynced && !remembered[e.Peer] {
				remembered[e.Peer] = true
				info := peer.AddrInfo{ID: e.Peer, Addrs: node.Host().Peerstore().Addrs(e.Peer)}
				_ = p2p.RememberPeers(dir, []peer.AddrInfo{info})
			}
		case <-tick.C:
			var conns []p2p.ConnectedPeer
			for _, p := range node.Host().Network().Peers() {
				c := p2p.ConnectedPeer{ID: p.String(), Addrs: []string{}}
				for _, conn := range node.Host().Network().ConnsToPeer(p) {
					c.Addrs = append(c.Addrs, conn.RemoteMultiaddr().String())
				}
				conns = append(conns, c)
			}
			sort.Slice(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
			key := fmt.Sprint(conns)
			if key != lastConnected {
				lastConnected = key
				st.Connected = append([]p2p.ConnectedPeer{}, conns...)
				_ = p2p.WriteServeState(dir, st)
			}
		}
	}
}

func defaultListen(port int) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, s := range []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port), fmt.Sprintf("/ip6/::/tcp/%d", port)} {
		out = append(out, ma.StringCast(s))
	}
	return out
}

// sortAddrs puts addresses other machines can dial first (loopback and
// link-local last), as strings.
func sortAddrs(ms []ma.Multiaddr) []string {
	rank := func(s string) int {
		switch {
		case strings.HasPrefix(s, "/ip4/127.") || strings.HasPrefix(s, "/ip6/::1/"):
			return 2
		case strings.HasPrefix(s, "/ip6/fe80"):
			return 1
		}
		return 0
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.String())
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// mergePeers joins peer lists, the first's addresses first.
func mergePeers(lists ...[]peer.AddrInfo) []peer.AddrInfo {
	var out []peer.AddrInfo
	idx := map[peer.ID]int{}
	for _, l := range lists {
		for _, p := range l {
			if i, ok := idx[p.ID]; ok {
				out[i].Addrs = append(out[i].Addrs, p.Addrs...)
				continue
			}
			idx[p.ID] = len(out)
			out = append(out, peer.AddrInfo{ID: p.ID, Addrs: append([]ma.Multiaddr{}, p.Addrs...)})
		}
	}
	return out
}
