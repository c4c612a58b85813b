package cli

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
)

func (a *app) serveCommand() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "serve [--listen MULTIADDR]... [--peer MULTIADDR]... [--no-mdns] [--bootstrap MULTIADDR]... [--relay MULTIADDR]... [--no-dht] [--public-net CIDR]...",
		Short: "Run this repo's node: keep the replica in sync with its peers",
		Long: fmt.Sprintf(`Run the repo's replication node until interrupted (SIGINT or SIGTERM):
listen on --listen (default /ip4/0.0.0.0/tcp/%d and /ip6/::/tcp/%d, or a random
port when that one is taken), find members on the LAN by mDNS (unless
--no-mdns), keep connected to the --peer addresses and the remembered peers
(redialling with backoff), remember every member that connects, at the
addresses it listens on, sync with every peer on connect, announce new local
revisions, and take in everyone else's.

Beyond the LAN: members behind other NATs find each other on a Kademlia DHT
(on by default, the public IPFS DHT's bootstrap peers; --bootstrap names a
team's own, --no-dht turns it off; a node listening on loopback only never
joins the public one) by a key only members can derive, and reach each
other through --relay relays ('peerwiki relay'), then directly when hole
punching succeeds. With wide-area networking on and no --listen, the node
listens on QUIC too, on the TCP port's number. --public-net CIDR makes a
range count as public (a lab's or a test network's). The same settings can
be made in the configuration (README, "Beyond the LAN").

One node runs per repo: serve, or the terminal UI. While it runs, the other
peerwiki commands on the repo use it through its control socket (node.sock
in the repo, for this user only): sync, peers, id and invite ask it, and
--confirm waits for acknowledgements over its connections. A second serve
on the same repo exits with status 1 and names the one running.

Prints one line 'listening on MULTIADDR/p2p/PEERID' per address on stdout,
then logs to stderr (PEERWIKI_LOG=debug for more).

Two flags for drills and tests are left out of the list below:
  --deny PEERID         refuse that peer both ways, member or not: a network
                        partition on purpose (repeatable)
  --presence-lease DUR  how long this replica's "being edited by" notices
                        hold without renewal (default %s, at most %s)`,
			p2p.DefaultPort, p2p.DefaultPort, p2p.FormatWait(p2p.DefaultPresenceLease), p2p.FormatWait(maxPresenceLease)),
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			calmTimers()
			a.keepRunning()
			nodeGC()
			r, err := a.open()
			if err != nil {
				return err
			}
			cfg, err := a.daemonConfig(r, f, "peerwiki serve")
			if err != nil {
				return err
			}
			cfg.Share = true // serve is an explicit request to be on the network
			cfg.Node.Logger = newLogger(a.stderr)
			r.Logger = cfg.Node.Logger
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			d, err := p2p.StartDaemon(ctx, cfg)
			if err != nil {
				return err
			}
			defer d.Close()
			st, err := d.Status(ctx)
			if err != nil {
				return err
			}
			for _, m := range st.Addrs {
				fmt.Fprintf(a.stdout, "listening on %s\n", m)
			}
			if f, ok := a.stdout.(*os.File); ok {
				f.Sync()
			}
			cfg.Node.Logger.Info("control socket", "path", st.Socket)
			<-ctx.Done()
			cfg.Node.Logger.Info("shutting down")
			return nil
		},
	}
	f.register(cmd, "peer to keep connected to, MULTIADDR/p2p/PEERID (repeatable)")
	f.registerDrills(cmd)
	return cmd
}

// maxPresenceLease is the longest lease a peer takes (p2p's presence
// validator refuses longer ones).
const maxPresenceLease = 10 * time.Minute

// registerDrills adds serve's flags for partitions and short leases on
// purpose: hidden from the flag list, described in serve's help.
func (f *nodeFlags) registerDrills(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.deny, "deny", nil, "peer to refuse both ways, PEERID (repeatable)")
	cmd.Flags().DurationVar(&f.presenceLease, "presence-lease", 0, "how long presence notices hold without renewal")
	_ = cmd.Flags().MarkHidden("deny")
	_ = cmd.Flags().MarkHidden("presence-lease")
}

// checkDrills checks serve's drill flags and returns the --deny peers.
func (f *nodeFlags) checkDrills() ([]peer.ID, error) {
	if f.presenceLease < 0 || f.presenceLease > maxPresenceLease {
		return nil, usagef("--presence-lease %s: want a duration up to %s", f.presenceLease, p2p.FormatWait(maxPresenceLease))
	}
	var out []peer.ID
	for _, s := range f.deny {
		id, err := peer.Decode(strings.TrimSpace(s))
		if err != nil {
			return nil, usagef("bad --deny %q: not a peer id", s)
		}
		out = append(out, id)
	}
	return out, nil
}

// register adds the flags of a command that runs the node.
func (f *nodeFlags) register(cmd *cobra.Command, peerHelp string) {
	cmd.Flags().StringArrayVar(&f.listen, "listen", nil, "address to listen on (repeatable)")
	if peerHelp != "" {
		cmd.Flags().StringArrayVar(&f.peers, "peer", nil, peerHelp)
	}
	cmd.Flags().BoolVar(&f.noMDNS, "no-mdns", false, "do not discover peers on the LAN")
	cmd.Flags().StringArrayVar(&f.bootstrap, "bootstrap", nil, "DHT bootstrap peer, MULTIADDR/p2p/PEERID (repeatable; replaces the default list, turns the DHT on)")
	cmd.Flags().StringArrayVar(&f.relays, "relay", nil, "Circuit Relay v2 relay to reserve a slot at ('peerwiki relay'), MULTIADDR/p2p/PEERID (repeatable)")
	cmd.Flags().BoolVar(&f.noDHT, "no-dht", false, "no rendezvous on a DHT (a LAN-only wiki)")
	cmd.Flags().StringArrayVar(&f.publicNets, "public-net", nil, "address range to count as public, CIDR (repeatable; a lab's or a test network's)")
}
