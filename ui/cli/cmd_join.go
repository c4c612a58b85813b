package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

func (a *app) joinCommand() *cobra.Command {
	var name string
	var noSync, asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "join CODE [--name NAME] [--no-sync]",
		Short: "Make a new replica of a wiki from a join code",
		Long: `Make a new replica of the wiki a join code (from 'peerwiki invite') names,
in the repo (which must not be initialised yet): this node's identity, the
wiki id and key, and the peers in the code, remembered for later syncs. Then,
unless --no-sync, sync once from those peers.

If the code is fine but no peer answers, the replica is still made: run
'peerwiki sync' or 'peerwiki serve' later.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			a.keepRunning() // a transfer can be long
			code, err := p2p.ParseJoinCode(as[0])
			if err != nil {
				return err
			}
			peers, err := code.Peers()
			if err != nil {
				return err
			}
			if wiki.Initialised(a.dir()) {
				return fmt.Errorf("%w: %s (join makes a new replica; use another --repo)", wiki.ErrAlreadyInit, a.dir())
			}
			r, err := wiki.InitReplica(a.dir(), name, code.Wiki, code.Key)
			if err != nil {
				return err
			}
			a.repo = r
			if err := p2p.RememberPeers(r.Dir, peers); err != nil {
				return err
			}
			if err := p2p.MarkShared(r.Dir, "join"); err != nil {
				return err
			}
			if noSync {
				fmt.Fprintf(a.stdout, "Joined wiki %s in %s as %s (not synced yet: run 'peerwiki sync')\n", r.Config.Wiki, r.Dir, r.ID.ID)
				return nil
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
				received += p.Received
			}
			fmt.Fprintf(a.stdout, "Joined wiki %s in %s as %s; received %s\n", r.Config.Wiki, r.Dir, r.ID.ID, pluralCount(received, "revision", "revisions"))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name carried by your revisions")
	cmd.Flags().BoolVar(&noSync, "no-sync", false, "only make the replica; sync later")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to try to reach the peers")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the first sync's report as JSON")
	return cmd
}
