package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// memberInfo is the JSON shape of one entry of `members --json`.
type memberInfo struct {
	PeerID    string `json:"peer_id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	AddedBy   string `json:"added_by,omitempty"`
	Since     string `json:"since"`
	Invite    string `json:"invite,omitempty"`
	Removed   bool   `json:"removed"`
	RemovedBy string `json:"removed_by,omitempty"`
	RemovedAt string `json:"removed_at,omitempty"`
	LastSeen  string `json:"last_seen,omitempty"`
	You       bool   `json:"you,omitempty"`
}

func (a *app) membersCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "members [--json]",
		Short: "List the wiki's members",
		Long: `List the wiki's members: name, peer id, role (admin or member), who added
them and when, and when this replica last saw them connected. Removed members
stay listed, marked removed.

The member list is replicated, signed data: admins change it with 'peerwiki
invite' (and 'join' at the other end), 'peerwiki member remove' and
'peerwiki member role'.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			if _, err := r.UpgradeMembers(cmd.Context()); err != nil {
				return err
			}
			m, err := r.Members(cmd.Context())
			if err != nil {
				return err
			}
			seen := map[peer.ID]time.Time{}
			if _, states, err := a.knownReplicas(cmd, r); err == nil {
				for _, s := range states {
					switch {
					case s.Connected:
						seen[s.ID] = time.Now()
					case !s.LastSeen.IsZero():
						seen[s.ID] = s.LastSeen
					}
				}
			}
			list := []memberInfo{}
			for _, e := range m.List() {
				mi := memberInfo{PeerID: e.Peer.String(), Name: e.Name, Role: e.Role, Since: e.Since.Format(time.RFC3339),
					Invite: e.Invite, Removed: e.Removed, You: e.Peer == r.ID.ID}
				if e.AddedBy != "" {
					mi.AddedBy = e.AddedBy.String()
				}
				if e.Removed {
					mi.RemovedBy, mi.RemovedAt = e.RemovedBy.String(), e.RemovedAt.Format(time.RFC3339)
				}
				if t, ok := seen[e.Peer]; ok {
					mi.LastSeen = t.UTC().Format(time.RFC3339)
				}
				list = append(list, mi)
			}
			if asJSON {
				return writeJSON(a.stdout, list)
			}
			out := newPrinter(a.stdout)
			if !m.Founded {
				out.Println(out.dim("(this wiki has no member list yet: its founder's replica writes it when it runs this version)"))
				return nil
			}
			names := map[string]string{}
			for _, e := range list {
				names[e.PeerID] = e.Name
			}
			for _, e := range list {
				role := e.Role
				if e.Role == wiki.RoleAdmin {
					role = out.bold(role)
				}
				line := fmt.Sprintf("%-24s %s  %s", termtext.Line(e.Name), out.yellow(e.PeerID), role)
				if e.You {
					line += out.dim(" (you)")
				}
				if e.Removed {
					line = out.dim(fmt.Sprintf("%-24s %s  removed by %s on %s", termtext.Line(e.Name), e.PeerID,
						termtext.Line(nameOr(names, e.RemovedBy)), e.RemovedAt[:10]))
				} else {
					by := "founder"
					if e.AddedBy != "" {
						by = "added by " + termtext.Line(nameOr(names, e.AddedBy))
					}
					line += out.dim(fmt.Sprintf("  %s on %s", by, e.Since[:10]))
					if e.LastSeen != "" {
						line += out.dim("  last seen " + e.LastSeen[:16])
					}
				}
				out.Println(line)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func nameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}

func (a *app) memberCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member remove|role|add ...",
		Short: "Remove a member, change a member's role, or add a peer directly (admins)",
		Long: `Change the member list (admins only):

  member remove NAME|PEERID        remove a member: every replica refuses their
                                   connections from the moment it learns of it,
                                   and of their revisions only those this replica
                                   holds now keep counting
  member role NAME|PEERID admin|member
  member add PEERID [--name N] [--role admin|member]
                                   add a peer without an invite (e.g. a member of
                                   the wiki from before membership who must be
                                   listed again)`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("say what to do: member remove, member role or member add")
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME|PEERID",
		Short: "Remove a member",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			e, err := r.RemoveMember(cmd.Context(), as[0])
			if err != nil {
				return memberError(err)
			}
			if e.Peer == r.ID.ID {
				fmt.Fprintln(a.stderr, "peerwiki: warning: you removed yourself: other replicas refuse this one from now on, and nothing written here from now on counts")
			}
			fmt.Fprintf(a.stdout, "Removed %s (%s); replicas connected to the node here learn of it now, others at their next sync\n", termtext.Line(e.Name), e.Peer)
			return nil
		},
	}
	role := &cobra.Command{
		Use:   "role NAME|PEERID admin|member",
		Short: "Make a member an admin, or an admin a member",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, as []string) error {
			if as[1] != wiki.RoleAdmin && as[1] != wiki.RoleMember {
				return usagef("role %q: admin or member", as[1])
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			e, err := r.SetMemberRole(cmd.Context(), as[0], as[1])
			if err != nil {
				return memberError(err)
			}
			fmt.Fprintf(a.stdout, "%s (%s) is now %s\n", termtext.Line(e.Name), e.Peer, as[1])
			return nil
		},
	}
	var name, roleFlag string
	add := &cobra.Command{
		Use:   "add PEERID [--name NAME] [--role admin|member]",
		Short: "Add a peer as a member without an invite",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			p, err := peer.Decode(as[0])
			if err != nil {
				return usagef("%q is not a peer id (see 'peerwiki id' on that replica)", as[0])
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			if name == "" {
				name = p.String()[len(p.String())-6:]
			}
			if err := r.AddMember(cmd.Context(), p, name, roleFlag); err != nil {
				return memberError(err)
			}
			fmt.Fprintf(a.stdout, "Added %s (%s) as %s\n", termtext.Line(name), p, roleFlag)
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name in the member list")
	add.Flags().StringVar(&roleFlag, "role", wiki.RoleMember, "admin or member")
	cmd.AddCommand(remove, role, add)
	return cmd
}

// memberError adds what to do next to the membership errors.
func memberError(err error) error {
	switch {
	case errors.Is(err, wiki.ErrNotAdmin):
		return fmt.Errorf("%w; 'peerwiki members' lists the admins", err)
	case errors.Is(err, wiki.ErrUnfounded):
		return fmt.Errorf("%w: sync with a member first", err)
	}
	return err
}
