package cli

import (
	"errors"

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
addrs lists the addresses the node running on this repo ('peerwiki serve',
or the terminal UI) listens on now; it is empty while none runs, or while a
terminal UI runs on a wiki not shared yet.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			info := idInfo{PeerID: r.ID.ID.String(), Name: r.Config.Name, Addrs: []string{}}
			_, st, err := a.runningNode(cmd.Context(), r)
			if err != nil && !errors.Is(err, p2p.ErrNoNode) {
				return err
			}
			for _, m := range st.Addrs {
				info.Addrs = append(info.Addrs, m.String())
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
