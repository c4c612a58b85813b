package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

func (a *app) inviteCommand() *cobra.Command {
	var addrs []string
	var uses int
	var expires time.Duration
	var role, revoke string
	var list, asJSON bool
	cmd := &cobra.Command{
		Use:   "invite [--uses N] [--expires DUR] [--role member|admin] [--addr MULTIADDR]... | --list | --revoke ID",
		Short: "Print a join code: an invite that expires (admins)",
		Long: `Print a one-line join code for a new member: a token signed by this replica
(an admin), good for --uses people (default 1) until --expires (default 7
days, at most a year), granting --role (default member), plus this node's
addresses. The code holds no secret of the wiki: whoever has it can ask an
admin's node to be added, while it is valid, and nothing more. The new member
runs 'peerwiki join CODE' while this node (or another admin's) runs.

  --list            the invites made here: id, role, uses, expiry, status
  --revoke ID       revoke one (by its id or a prefix of 4 or more
                    characters): every admin's node refuses it from then on

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
			ctx := cmd.Context()
			switch {
			case list:
				return a.listInvites(ctx, r, asJSON)
			case revoke != "":
				inv, err := r.RevokeInvite(ctx, revoke)
				if err != nil {
					return memberError(err)
				}
				fmt.Fprintf(a.stdout, "Revoked invite %s; other admins refuse it once they have synced\n", inv.ID)
				return nil
			}
			var addrList []ma.Multiaddr
			for _, s := range addrs {
				m, err := ma.NewMultiaddr(s)
				if err != nil {
					return usagef("bad --addr %q: %v", s, err)
				}
				addrList = append(addrList, m)
			}
			token, info, err := r.NewInvite(ctx, role, uses, expires)
			if err != nil {
				return memberError(err)
			}
			// A node that runs starts listening, if it did not (a terminal
			// UI on a wiki not shared yet), whichever addresses go in the code.
			node, _, err := a.runningNode(ctx, r)
			switch {
			case errors.Is(err, p2p.ErrNoNode):
				if len(addrList) == 0 {
					return fmt.Errorf("no address to put in the join code: no node runs on this repo; start 'peerwiki serve' first, or give --addr MULTIADDR (e.g. --addr /ip4/192.168.1.10/tcp/%d)", p2p.DefaultPort)
				}
			case err != nil:
				return err
			default:
				st, err := node.Share(ctx)
				if err != nil {
					return err
				}
				if len(addrList) == 0 {
					addrList = st.Addrs
				}
			}
			code, err := inviteCode(r, token, addrList)
			if err != nil {
				return err
			}
			if err := p2p.MarkShared(r.Dir, "invite"); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, struct {
					Code    string `json:"code"`
					ID      string `json:"id"`
					Role    string `json:"role"`
					Uses    int    `json:"uses"`
					Expires string `json:"expires"`
				}{code, info.ID, info.Role, info.Uses, info.Expires.Format(time.RFC3339)})
			}
			fmt.Fprintln(a.stdout, code)
			if f, ok := a.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
				fmt.Fprintf(a.stderr, "invite %s: %s, %s, until %s\n", info.ID[:8], info.Role,
					pluralCount(info.Uses, "use", "uses"), info.Expires.Local().Format("2006-01-02 15:04"))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&addrs, "addr", nil, "address peers can reach this node at (repeatable; default: the running node's)")
	cmd.Flags().IntVar(&uses, "uses", wiki.DefaultInviteUses, "how many people may join with the code")
	cmd.Flags().DurationVar(&expires, "expires", wiki.DefaultInviteExpiry, "how long the code is valid (e.g. 24h)")
	cmd.Flags().StringVar(&role, "role", wiki.RoleMember, "the role it grants: member or admin")
	cmd.Flags().BoolVar(&list, "list", false, "list the invites made here")
	cmd.Flags().StringVar(&revoke, "revoke", "", "revoke an invite by its id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.MarkFlagsMutuallyExclusive("list", "revoke")
	return cmd
}

func (a *app) listInvites(ctx context.Context, r *wiki.Repo, asJSON bool) error {
	list, err := r.Invites(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	type entry struct {
		wiki.InviteInfo
		Status string `json:"status"`
	}
	out := []entry{}
	for _, i := range list {
		out = append(out, entry{i, i.Status(now)})
	}
	if asJSON {
		return writeJSON(a.stdout, out)
	}
	p := newPrinter(a.stdout)
	if len(out) == 0 {
		p.Println(p.dim("(no invites made here)"))
	}
	for _, e := range out {
		p.Printf("%s  %-6s  %d/%d used  until %s  %s\n", p.yellow(e.ID[:12]), e.Role, e.Used, e.Uses,
			e.Expires.Local().Format("2006-01-02 15:04"), e.Status)
	}
	return nil
}

// inviteCode is the join code of the repo's wiki with up to 8 of addrs
// (relayed ones among them, p2p.CodeAddrs), each made to end in /p2p/
// and this replica's peer id.
func inviteCode(r *wiki.Repo, token []byte, addrs []ma.Multiaddr) (string, error) {
	if len(addrs) == 0 {
		return "", errors.New("the node on this repo listens on no address to put in a join code")
	}
	code := p2p.JoinCode{Wiki: r.Config.Wiki, Token: token}
	for _, m := range p2p.CodeAddrs(addrs, 8) {
		if _, err := peer.AddrInfoFromP2pAddr(m); err != nil {
			p2pPart, err := ma.NewComponent("p2p", r.ID.ID.String())
			if err != nil {
				return "", err
			}
			m = m.Encapsulate(p2pPart)
		}
		code.Addrs = append(code.Addrs, m)
	}
	return code.String(), nil
}
