package cli

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

func (a *app) inviteCommand() *cobra.Command {
	var addrs []string
	cmd := &cobra.Command{
		Use:   "invite [--addr MULTIADDR]...",
		Short: "Print a one-line join code for this wiki",
		Long: `Print a one-line join code: the wiki id, the wiki's secret key, and addresses
of this node, with a checksum. Give it to a new member only (it grants access
to the wiki); they run 'peerwiki join CODE'.

The addresses are the --addr flags (a /p2p/PEERID suffix is added when
missing), else those the node running on this repo listens on now ('peerwiki
serve', or the terminal UI, which starts listening when asked for an invite
on a wiki it had not shared yet). Without either there is nothing to put in
the code: start 'peerwiki serve' first.

An invite marks the wiki as shared: from then on the terminal UI runs the
node on the network whenever it is open.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			var list []ma.Multiaddr
			for _, s := range addrs {
				m, err := ma.NewMultiaddr(s)
				if err != nil {
					return usagef("bad --addr %q: %v", s, err)
				}
				list = append(list, m)
			}
			// A node that runs starts listening, if it did not (a terminal
			// UI on a wiki not shared yet), whichever addresses go in the code.
			node, _, err := a.runningNode(cmd.Context(), r)
			switch {
			case errors.Is(err, p2p.ErrNoNode):
				if len(list) == 0 {
					return fmt.Errorf("no address to put in the join code: no node runs on this repo; start 'peerwiki serve' first, or give --addr MULTIADDR (e.g. --addr /ip4/192.168.1.10/tcp/%d)", p2p.DefaultPort)
				}
			case err != nil:
				return err
			default:
				st, err := node.Share(cmd.Context())
				if err != nil {
					return err
				}
				if len(list) == 0 {
					list = st.Addrs
				}
			}
			code, err := inviteCode(r, list)
			if err != nil {
				return err
			}
			if err := p2p.MarkShared(r.Dir, "invite"); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, code)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&addrs, "addr", nil, "address peers can reach this node at (repeatable; default: the running node's)")
	return cmd
}

// inviteCode is the join code of the repo's wiki with up to 8 of addrs,
// each made to end in /p2p/ and this replica's peer id.
func inviteCode(r *wiki.Repo, addrs []ma.Multiaddr) (string, error) {
	key, err := r.Key()
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", errors.New("the node on this repo listens on no address to put in a join code")
	}
	code := p2p.JoinCode{Wiki: r.Config.Wiki, Key: key}
	for _, m := range addrs {
		if _, err := peer.AddrInfoFromP2pAddr(m); err != nil {
			p2pPart, err := ma.NewComponent("p2p", r.ID.ID.String())
			if err != nil {
				return "", err
			}
			m = m.Encapsulate(p2pPart)
		}
		code.Addrs = append(code.Addrs, m)
		if len(code.Addrs) == 8 {
			break
		}
	}
	return code.String(), nil
}
