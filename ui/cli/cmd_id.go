package cli

import (
	"github.com/spf13/cobra"

	"peerwiki/p2p"
)

// idInfo is the JSON shape of `id`.
type idInfo struct {
	PeerID string   `json:"peer_id"`
	Name   string   `json:"name"`
	Addrs  []string `json:"addrs"`
}

func (a *app) idCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "id [--json]",
		Short: "Print this node's peer id",
		Long: `Print this node's peer id (its libp2p identity, which signs its revisions).
addrs lists the addresses a running node on this repo ('peerwiki serve', or
the terminal UI) listens on; it is empty while none runs.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			info := idInfo{PeerID: r.ID.ID.String(), Name: r.Config.Name, Addrs: []string{}}
			if st, ok := p2p.ReadServeState(r.Dir); ok {
				info.Addrs = append(info.Addrs, st.Addrs...)
			}
			if asJSON {
				return writeJSON(a.stdout, info)
			}
			newPrinter(a.stdout).Println(info.PeerID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
