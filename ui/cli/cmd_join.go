package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

func (a *app) joinCommand() *cobra.Command {
	var name string
	var noSync, asJSON, shallow bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "join CODE [--name NAME] [--shallow] [--no-sync]",
		Short: "Make a new replica of a wiki from a join code",
		Long: `Make a new replica of the wiki a join code (from 'peerwiki invite') names,
in the repo (which must not be initialised yet): this node's identity, the
wiki id, and the peers in the code, remembered for later syncs. Then the
invite is redeemed at the inviter's node (or another admin's), which adds
this replica to the wiki's member list, and it syncs from there: the current
version of every page first (the wiki is readable and writable from then on,
by other commands too), then their history (a wiki of at most 20,000
revisions comes whole, in one exchange). The search index of what a join
brings is built by the first search (with progress), sync or serve: no
search misses a page. With --shallow, join stops after the current
versions, as soon as every page can be read: the replica syncs as any
other, and its history comes only with 'peerwiki sync --unshallow'. With
--no-sync, join only makes the replica and keeps the invite: the first
'peerwiki sync' or 'serve' redeems it, then syncs.

If the code is fine but no peer answers, the replica is still made and the
invite kept: the next 'peerwiki sync' or 'peerwiki serve' redeems it. An
invite that was used up, expired or was revoked is refused with the reason.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			a.transferGC() // a transfer can be long
			if len(name) > 128 || !utf8.ValidString(name) {
				return usagef("--name: at most 128 bytes of UTF-8")
			}
			code, err := p2p.ParseJoinCode(as[0])
			if err != nil {
				return err
			}
			if len(code.Token) == 0 {
				return fmt.Errorf("%w: it holds no invite; ask for a new one ('peerwiki invite')", p2p.ErrBadJoinCode)
			}
			if w, err := wiki.InviteWiki(code.Token); err != nil || w != code.Wiki {
				return fmt.Errorf("%w: its invite is malformed or names another wiki", p2p.ErrBadJoinCode)
			}
			peers, err := code.Peers()
			if err != nil {
				return err
			}
			if wiki.Initialised(a.dir()) {
				return fmt.Errorf("%w: %s (join makes a new replica; use another --repo)", wiki.ErrAlreadyInit, a.dir())
			}
			fresh := isEmptyOrMissing(a.dir())
			r, err := wiki.InitReplica(a.dir(), name, code.Wiki, nil)
			if err != nil {
				return err
			}
			a.repo = r
			if err := p2p.RememberPeers(r.Dir, peers); err != nil {
				return err
			}
			if err := adoptRelays(r.Dir, peers); err != nil {
				return err
			}
			if err := p2p.MarkShared(r.Dir, "join"); err != nil {
				return err
			}
			if err := savePendingInvite(r, code.Token); err != nil {
				return err
			}
			if shallow {
				if err := r.ReplicationStore().KeepShallow(cmd.Context(), true); err != nil {
					return err
				}
				// Readable is the point: the search index follows with
				// the first search, sync or serve.
				a.leaveSearch = true
			}
			if noSync {
				fmt.Fprintf(a.stdout, "Made a replica of wiki %s in %s as %s; the next 'peerwiki sync' or 'serve' redeems the invite and syncs\n", r.Config.Wiki, r.Dir, r.ID.ID)
				return nil
			}
			joined, err := a.redeemPending(cmd.Context(), r, peers, timeout)
			if err != nil {
				if errors.Is(err, p2p.ErrNoInviter) {
					return fmt.Errorf("made a replica of wiki %s in %s, but %v; the invite is kept: run 'peerwiki sync' or 'serve' when the inviter's node runs", r.Config.Wiki, r.Dir, err)
				}
				if fresh && errors.Is(err, p2p.ErrInviteRefused) {
					// Nothing was written in it but what join made: leave
					// the folder as it was, for a join with a new code.
					r.Close()
					a.repo = nil
					if rmErr := clearDir(r.Dir); rmErr == nil {
						return err
					}
				}
				return fmt.Errorf("made a replica of wiki %s in %s, but %v", r.Config.Wiki, r.Dir, err)
			}
			rep, err := a.runSync(cmd.Context(), r, peers, timeout, false, asJSON)
			if err != nil {
				if errors.Is(err, p2p.ErrNoPeer) || rep == nil || len(rep.Peers) == 0 {
					return fmt.Errorf("joined wiki %s in %s, but the first sync failed: %v; run 'peerwiki sync' later", r.Config.Wiki, r.Dir, err)
				}
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rep)
			}
			received := 0
			for _, p := range rep.Peers {
				received += p.Received + p.History
			}
			fmt.Fprintf(a.stdout, "Joined wiki %s in %s as %s, a %s; received %s\n", r.Config.Wiki, r.Dir, r.ID.ID, joined.Role, pluralCount(received, "revision", "revisions"))
			if note := rep.historyNote(); note != "" {
				fmt.Fprintln(a.stdout, note)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name carried by your revisions")
	cmd.Flags().BoolVar(&noSync, "no-sync", false, "only make the replica; the first sync or serve redeems the invite")
	cmd.Flags().BoolVar(&shallow, "shallow", false, "fetch only the current version of every page; 'sync --unshallow' fetches the history")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to try to reach the peers")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the first sync's report as JSON")
	return cmd
}

// pendingInviteFile keeps a join code's invite until an admin's node has
// redeemed it.
const pendingInviteFile = "invite.pending"

func savePendingInvite(r *wiki.Repo, token []byte) error {
	return os.WriteFile(filepath.Join(r.Dir, pendingInviteFile), token, 0o600)
}

// redeemPending redeems the invite join kept, at the given peers (or the
// remembered ones), if there is one: a replica made while its inviter was
// away becomes a member at its first sync or serve. It does nothing
// without a kept invite.
func (a *app) redeemPending(ctx context.Context, r *wiki.Repo, peers []peer.AddrInfo, timeout time.Duration) (p2p.JoinResult, error) {
	path := filepath.Join(r.Dir, pendingInviteFile)
	token, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p2p.JoinResult{}, nil
	} else if err != nil {
		return p2p.JoinResult{}, err
	}
	if len(peers) == 0 {
		book, err := p2p.LoadPeers(r.Dir)
		if err != nil {
			return p2p.JoinResult{}, err
		}
		peers = p2p.AddrInfos(book)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	res, err := p2p.Join(ctx, p2p.JoinConfig{Identity: r.ID, Wiki: r.Config.Wiki, Token: token, Peers: peers,
		Name: r.Config.Name, Timeout: timeout})
	if err != nil {
		return res, err
	}
	if err := os.Remove(path); err != nil {
		return res, err
	}
	return res, nil
}

// isEmptyOrMissing reports whether dir does not exist or holds nothing.
func isEmptyOrMissing(dir string) bool {
	ents, err := os.ReadDir(dir)
	return errors.Is(err, os.ErrNotExist) || (err == nil && len(ents) == 0)
}

// clearDir removes what is inside dir (a repo join made and gave up on).
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
