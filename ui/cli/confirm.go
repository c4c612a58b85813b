package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

// ExitUnconfirmed is the exit status of a write that was kept locally but
// not confirmed by as many replicas as --confirm asked for.
const ExitUnconfirmed = 3

// confirmFlags are --confirm N and --confirm-timeout D of writing commands.
type confirmFlags struct {
	n       int
	timeout time.Duration
	// What wanted worked out, once: the wiki's default is a read of its
	// settings, asked before the commit (prepareNotice) and after.
	resolved         bool
	want             int
	wantFromSettings bool
}

// register adds the flags to cmd. Their values are checked as they are
// parsed, before the command writes anything: a --confirm-timeout looked
// at only when the confirmations were awaited refused a write already
// committed, as a usage error.
func (c *confirmFlags) register(cmd *cobra.Command) {
	c.timeout = 10 * time.Second
	cmd.Flags().Var((*replicaCount)(&c.n), "confirm", "wait until N other replicas hold the revision (default: the wiki's 'peerwiki confirm')")
	cmd.Flags().Var((*positiveDuration)(&c.timeout), "confirm-timeout", "how long to wait for confirmations")
}

// replicaCount is a flag's number of replicas: 0 or more.
type replicaCount int

func (v *replicaCount) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("a number of replicas, 0 or more")
	}
	*v = replicaCount(n)
	return nil
}

func (v *replicaCount) String() string { return strconv.Itoa(int(*v)) }
func (v *replicaCount) Type() string   { return "int" }

// positiveDuration is a flag's duration, more than zero.
type positiveDuration time.Duration

func (v *positiveDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return errors.New("a duration more than zero, such as 10s")
	}
	*v = positiveDuration(d)
	return nil
}

func (v *positiveDuration) String() string { return time.Duration(*v).String() }
func (v *positiveDuration) Type() string   { return "duration" }

// wanted is how many confirmations a write asks for: --confirm, else the
// wiki's default (fromWiki).
func (c *confirmFlags) wanted(cmd *cobra.Command, r *wiki.Repo) (n int, fromWiki bool) {
	if !c.resolved {
		c.resolved = true
		if cmd.Flags().Changed("confirm") {
			c.want = c.n
		} else {
			c.want, c.wantFromSettings = r.ConfirmDefault(cmd.Context()), true
		}
	}
	return c.want, c.wantFromSettings
}

// confirm waits, after a local commit, until the asked number of other
// replicas acknowledge holding rev with a signed statement. Multi-leader:
// nothing is rolled back when they do not; the command then exits with
// ExitUnconfirmed. It costs the round trips that multi-leader replication
// otherwise hides; with a node running on the repo, only those: the node
// asks over the connections it has.
func (a *app) confirm(cmd *cobra.Command, r *wiki.Repo, rev cid.Cid, c confirmFlags) error {
	ctx := cmd.Context()
	n, fromWiki := c.wanted(cmd, r)
	if n <= 0 {
		return nil
	}
	if a.keepPriority {
		defer makeWay() // the confirmations were what the command waited on
	}
	node, known, err := a.knownReplicas(cmd, r)
	if err != nil {
		return err
	}
	if n > len(known) {
		if !fromWiki {
			return fmt.Errorf("revision %s is kept locally; --confirm %d asks more replicas than the %d this one knows (peerwiki peers)", rev, n, len(known))
		}
		// The setting is replicated: a member may have set more than
		// this replica will ever reach. Ask what it can.
		fmt.Fprintf(a.stderr, "the wiki asks %s; %s known here: waiting for %d\n", pluralCount(n, "confirmation", "confirmations"), replicasKnown(len(known)), len(known))
		if n = len(known); n == 0 {
			return nil
		}
	}
	req := p2p.ConfirmRequest{Revs: []cid.Cid{rev}, Need: n, Wait: c.timeout}
	var rep p2p.ConfirmReport
	err = p2p.ErrNoNode
	if node != nil {
		rep, err = node.Confirm(ctx, req)
	}
	if errors.Is(err, p2p.ErrNoNode) || errors.Is(err, p2p.ErrNotShared) {
		cfg, cerr := nodeConfig(r)
		if cerr != nil {
			return cerr
		}
		rep, err = p2p.ConfirmOnce(ctx, cfg, req)
	}
	if err != nil {
		return fmt.Errorf("revision %s is kept locally, but asking for confirmations failed: %w", rev, err)
	}
	confirmed := rep.Confirmed()
	var names, why []string
	for _, r := range rep.Replicas {
		if r.Confirmed {
			names = append(names, peerLabel(r.Name, r.Peer.String()))
		} else {
			why = append(why, peerLabel(r.Name, r.Peer.String())+" "+r.Why)
		}
	}
	if len(confirmed) >= n {
		fmt.Fprintf(a.stderr, "confirmed by %s: %s\n", pluralCount(len(confirmed), "replica", "replicas"), strings.Join(names, ", "))
		return nil
	}
	msg := fmt.Sprintf("revision %s is kept locally, but only %d of %s confirmed it", rev, len(confirmed), pluralCount(n, "replica", "replicas"))
	if len(names) > 0 {
		msg += " (" + strings.Join(names, ", ") + ")"
	}
	if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
	}
	return exitError{ExitUnconfirmed, msg}
}

func (a *app) confirmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "confirm [N]",
		Short: "Show or set how many replicas must confirm each write",
		Long: `Show or set the wiki's default for --confirm: how many other replicas must
acknowledge, with a signed statement, that they hold each new revision
before 'new', 'edit' or 'resolve' returns. 0 (the default) waits for none:
writes are local and replicate in the background, which is the point of
multi-leader replication. Confirmation buys "someone else has it too" at
the price of the network round trips; when too few replicas answer within
--confirm-timeout, the write is still kept and the command exits with
status 3. The setting is replicated.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			r, err := a.open()
			if err != nil {
				return err
			}
			if len(as) == 0 {
				fmt.Fprintln(a.stdout, r.ConfirmDefault(cmd.Context()))
				return nil
			}
			n, err := strconv.Atoi(as[0])
			if err != nil || n < 0 {
				return usagef("confirm takes a number of replicas (0 or more)")
			}
			_, known, err := a.knownReplicas(cmd, r)
			if err != nil {
				return err
			}
			if n > len(known) {
				return fmt.Errorf("%w: confirm %d asks more replicas than the %d known here (peerwiki peers); every write would wait and fail", wiki.ErrInvalid, n, len(known))
			}
			return r.SetConfirmDefault(cmd.Context(), n)
		},
	}
}

// replicasKnown says how many replicas are known, in words.
func replicasKnown(n int) string {
	if n == 1 {
		return "1 replica is"
	}
	return fmt.Sprintf("%d replicas are", n)
}
