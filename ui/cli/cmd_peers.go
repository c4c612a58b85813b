package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// peerInfo is the JSON shape of one entry of `peers --json`.
type peerInfo struct {
	PeerID     string   `json:"peer_id"`
	Name       string   `json:"name,omitempty"`
	Addrs      []string `json:"addrs"`
	Remembered bool     `json:"remembered"`
	Connected  bool     `json:"connected"`
	Since      string   `json:"since,omitempty"` // connected since
	LastSeen   string   `json:"last_seen,omitempty"`
	// Via says how a connected replica is connected: lan, direct,
	// hole-punched or relayed.
	Via string `json:"via,omitempty"`
}

func (a *app) peersCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "peers [--json]",
		Short: "List remembered and connected peers",
		Long: `List the replicas this one knows: remembered ones (from join codes, syncs,
and every replica that connected to the node on this repo) with the
addresses they listen on, and, while a node runs on the repo ('peerwiki
serve' or the terminal UI), which are connected, since when, and how: "lan"
(a private address: the LAN, or this machine), "direct" (a public address),
"hole-punched" (a direct connection that hole punching made through a NAT)
or "relayed" (through a relay, 'peerwiki relay'). --json's "via" says the
same.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			node, states, err := a.knownReplicas(cmd, r)
			if err != nil {
				return err
			}
			running := node != nil
			list := []peerInfo{}
			for _, s := range states {
				e := peerInfo{PeerID: s.ID.String(), Name: s.Name, Addrs: []string{}, Remembered: s.Remembered, Connected: s.Connected, Via: s.Via}
				for _, m := range s.Addrs {
					e.Addrs = append(e.Addrs, m.String())
				}
				if s.Connected {
					e.Since = wiki.FormatTime(s.Since.UnixMilli())
				}
				if !s.LastSeen.IsZero() {
					e.LastSeen = s.LastSeen.UTC().Format(time.RFC3339)
				}
				list = append(list, e)
			}
			if asJSON {
				return writeJSON(a.stdout, list)
			}
			out := newPrinter(a.stdout)
			if len(list) == 0 {
				out.Println(out.dim("(no peers yet: peerwiki join CODE, or sync --peer MULTIADDR)"))
			}
			for _, p := range list {
				state := out.dim("remembered")
				switch {
				case p.Connected && p.Via != "":
					state = out.green("connected since "+p.Since[11:19]) + " " + out.dim("("+p.Via+")")
				case p.Connected:
					state = out.green("connected since " + p.Since[11:19])
				case running:
					state = out.dim("not connected")
				}
				name := ""
				if p.Name != "" {
					name = termtext.Line(p.Name) + "  "
				}
				addr := out.dim("(listens nowhere known)")
				if len(p.Addrs) > 0 {
					addr = termtext.Line(p.Addrs[0])
					if len(p.Addrs) > 1 {
						addr += out.dim(fmt.Sprintf(" (+%d more)", len(p.Addrs)-1))
					}
				}
				// Names and addresses were heard from the network.
				out.Printf("%s%s  %s  %s\n", name, termtext.Line(p.PeerID), state, addr)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// knownReplicas are the replicas the node running on the repo knows
// (remembered or connected) and the node, or, with no node running, the
// remembered ones and a nil node.
func (a *app) knownReplicas(cmd *cobra.Command, r *wiki.Repo) (*p2p.NodeClient, []p2p.PeerState, error) {
	node, err := p2p.DialNode(r.Dir)
	var states []p2p.PeerState
	if err == nil {
		ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
		defer cancel()
		states, err = node.Peers(ctx)
	}
	if errors.Is(err, p2p.ErrNoNode) {
		states, err := p2p.RememberedStates(r.Dir)
		return nil, states, err
	}
	return node, states, err
}

// peerLabel names a replica in a message: its name and peer id, or the
// peer id alone.
func peerLabel(name, id string) string {
	if name == "" {
		return id
	}
	return termtext.Line(name) + " (" + strings.TrimSpace(id) + ")"
}
