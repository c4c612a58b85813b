package cli

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
)

func (a *app) inviteCommand() *cobra.Command {
	var addrs []string
	cmd := &cobra.Command{
		Use:   "invite [--addr MULTIADDR]...",
		Short: "Print a one-line join code for this wiki",
		Long: `Print a one-line join code: the wiki id, the wiki's secret key, and addresses
of this node, with a checksum. Give it to a new member only (it grants access
to the wiki); they run 'peerwiki join CODE'.

The addresses are those of the 'peerwiki serve' running on this repo, else
the --addr flags (a /p2p/PEERID suffix is added when missing). Without either
there is nothing to put in the code: start 'peerwiki serve' first.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			key, err := r.Key()
			if err != nil {
				return err
			}
			code := p2p.JoinCode{Wiki: r.Config.Wiki, Key: key}
			var list []string
			if st, ok := p2p.ReadServeState(r.Dir); ok && len(addrs) == 0 {
				list = st.Addrs
			} else {
				list = addrs
			}
			if len(list) == 0 {
				return fmt.Errorf("no address to put in the join code: start 'peerwiki serve' on this repo first, or give --addr MULTIADDR (e.g. --addr /ip4/192.168.1.10/tcp/7171)")
			}
			for _, s := range list {
				m, err := ma.NewMultiaddr(s)
				if err != nil {
					return usagef("bad --addr %q: %v", s, err)
				}
				if _, err := peer.AddrInfoFromP2pAddr(m); err != nil {
					p2pPart, err := ma.NewComponent("p2p", r.ID.ID.String())
					if err != nil {
						return err
					}
					m = m.Encapsulate(p2pPart)
				}
				code.Addrs = append(code.Addrs, m)
				if len(code.Addrs) == 8 {
					break
				}
			}
			fmt.Fprintln(a.stdout, code.String())
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&addrs, "addr", nil, "address peers can reach this node at (repeatable; default: the running serve's)")
	return cmd
}
