package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"peerwiki/p2p"
)

func (a *app) syncCommand() *cobra.Command {
	var peerAddrs []string
	var timeout time.Duration
	var asJSON, noMDNS, unshallow bool
	cmd := &cobra.Command{
		Use:   "sync [--peer MULTIADDR]... [--timeout DUR] [--unshallow] [--json]",
		Short: "Exchange revisions with peers once, then exit",
		Long: `Sync once, both ways: with the --peer addresses (each ending in /p2p/PEERID),
or, without --peer, every replica known: pull what they have and this replica
lacks, push what it has and they lack, and exit.

While a node runs on the repo ('peerwiki serve' or the terminal UI), the node
does the sync, over the connections it has (every replica connected to it,
whichever side dialled, and the remembered ones it dials). Without a node,
sync dials the remembered replicas, and looks for members on the LAN by mDNS
(unless --no-mdns), with a host of its own.

A replica made with 'join --shallow' holds the current version of every
page and fetches their history only with --unshallow; any other replica that
lacks history (a join still under way when it was cut short) fetches it after
every sync.

Exit status 0 once every peer reached has our heads and we have theirs; 1 when
no peer could be reached within --timeout (a peer with another wiki's key
looks the same as an unreachable one), or when a sync failed. Pages that are
in conflict after the sync are listed.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.transferGC() // a transfer can be long
			peers, err := p2p.ParsePeerAddrs(peerAddrs)
			if err != nil {
				return usagef("%v", err)
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			if unshallow {
				if err := r.ReplicationStore().KeepShallow(cmd.Context(), false); err != nil {
					return err
				}
			}
			rep, err := a.runSync(cmd.Context(), r, peers, timeout, !noMDNS, asJSON)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rep)
			}
			out := newPrinter(a.stdout)
			for _, p := range rep.Peers {
				history := ""
				if p.History > 0 {
					history = fmt.Sprintf(" and %s of history", pluralCount(p.History, "revision", "revisions"))
				}
				out.Printf("synced with %s: received %s%s, sent %d\n", peerLabel(p.Name, p.PeerID), pluralCount(p.Received, "revision", "revisions"), history, p.Sent)
			}
			if note := rep.historyNote(); note != "" {
				out.Printf("%s\n", note)
			} else if unshallow {
				out.Printf("history: complete\n")
			}
			if len(rep.Conflicts) > 0 {
				out.Printf("%s %s in conflict: see 'peerwiki conflicts'\n", out.red("conflicts:"), pluralCount(len(rep.Conflicts), "page", "pages"))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&peerAddrs, "peer", nil, "peer to sync with, MULTIADDR/p2p/PEERID (repeatable)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "give up on peers not reached within this time")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&noMDNS, "no-mdns", false, "without --peer, do not look for peers on the LAN")
	cmd.Flags().BoolVar(&unshallow, "unshallow", false, "fetch the history a replica made with 'join --shallow' lacks")
	return cmd
}
