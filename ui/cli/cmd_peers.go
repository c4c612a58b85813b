package cli

import (
	"sort"

	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/ui/termtext"
)

// peerInfo is the JSON shape of one entry of `peers --json`.
type peerInfo struct {
	PeerID     string   `json:"peer_id"`
	Addrs      []string `json:"addrs"`
	Remembered bool     `json:"remembered"`
	Connected  bool     `json:"connected"`
	LastSeen   string   `json:"last_seen,omitempty"`
}

func (a *app) peersCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "peers [--json]",
		Short: "List remembered and connected peers",
		Long: `List the peers this replica remembers (from join codes and past syncs) and,
while 'peerwiki serve' runs on the repo, the peers it is connected to.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			remembered, err := p2p.LoadPeers(r.Dir)
			if err != nil {
				return err
			}
			byID := map[string]*peerInfo{}
			for _, p := range remembered {
				byID[p.ID] = &peerInfo{PeerID: p.ID, Addrs: append([]string{}, p.Addrs...), Remembered: true, LastSeen: p.LastSeen}
			}
			if st, ok := p2p.ReadServeState(r.Dir); ok {
				for _, c := range st.Connected {
					e := byID[c.ID]
					if e == nil {
						e = &peerInfo{PeerID: c.ID, Addrs: []string{}}
						byID[c.ID] = e
					}
					e.Connected = true
					for _, ad := range c.Addrs {
						e.Addrs = addUnique(e.Addrs, ad)
					}
				}
			}
			list := []peerInfo{}
			for _, e := range byID {
				list = append(list, *e)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].PeerID < list[j].PeerID })
			if asJSON {
				return writeJSON(a.stdout, list)
			}
			out := newPrinter(a.stdout)
			if len(list) == 0 {
				out.Println(out.dim("(no peers yet: peerwiki join CODE, or sync --peer MULTIADDR)"))
			}
			for _, p := range list {
				state := out.dim("remembered")
				if p.Connected {
					state = out.green("connected")
				}
				addr := ""
				if len(p.Addrs) > 0 {
					addr = p.Addrs[0]
				}
				// Addresses were heard from the network.
				out.Printf("%s  %s  %s\n", termtext.Line(p.PeerID), state, termtext.Line(addr))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func addUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
