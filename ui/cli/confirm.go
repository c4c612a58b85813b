package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
}

func (c *confirmFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&c.n, "confirm", 0, "wait until N other replicas hold the revision (default: the wiki's 'peerwiki confirm')")
	cmd.Flags().DurationVar(&c.timeout, "confirm-timeout", 10*time.Second, "how long to wait for confirmations")
}

// confirm waits, after a local commit, until the asked number of other
// replicas acknowledge holding rev with a signed statement. Multi-leader:
// nothing is rolled back when they do not; the command then exits with
// ExitUnconfirmed. It costs the round trips that multi-leader replication
// otherwise hides.
func (a *app) confirm(cmd *cobra.Command, r *wiki.Repo, rev cid.Cid, c confirmFlags) error {
	ctx := cmd.Context()
	n := c.n
	fromWiki := !cmd.Flags().Changed("confirm")
	if fromWiki {
		n = r.ConfirmDefault(ctx)
	}
	if n <= 0 {
		return nil
	}
	if c.timeout <= 0 {
		return usagef("--confirm-timeout must be positive")
	}
	peers, err := confirmPeers(r)
	if err != nil {
		return err
	}
	if n > len(peers) {
		if !fromWiki {
			return fmt.Errorf("revision %s is kept locally; --confirm %d asks more replicas than the %d this one knows (peerwiki peers)", rev, n, len(peers))
		}
		// The setting is replicated: a member may have set more than
		// this replica will ever reach. Ask what it can.
		fmt.Fprintf(a.stderr, "the wiki asks %s; %s known here: waiting for %d\n", pluralCount(n, "confirmation", "confirmations"), replicasKnown(len(peers)), len(peers))
		if n = len(peers); n == 0 {
			return nil
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cfg, err := nodeConfig(r)
	if err != nil {
		return err
	}
	node, err := p2p.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	// Hand the revision over ourselves rather than wait for gossip.
	outcomes, _ := node.SyncAll(ctx, peers, c.timeout, min(c.timeout, 1500*time.Millisecond))
	var mu sync.Mutex
	var confirmed []string
	var wg sync.WaitGroup
	for _, o := range outcomes {
		if !o.Reached {
			continue
		}
		wg.Add(1)
		go func(p peer.ID) {
			defer wg.Done()
			if _, err := node.RequestAck(ctx, p, []cid.Cid{rev}, time.Until(start.Add(c.timeout))); err == nil {
				mu.Lock()
				confirmed = append(confirmed, p.String())
				mu.Unlock()
			}
		}(o.Peer)
	}
	wg.Wait()
	if len(confirmed) >= n {
		fmt.Fprintf(a.stderr, "confirmed by %s: %s\n", pluralCount(len(confirmed), "replica", "replicas"), strings.Join(confirmed, ", "))
		return nil
	}
	waited := time.Since(start).Round(time.Millisecond)
	msg := fmt.Sprintf("revision %s is kept locally, but only %d of %s confirmed it (waited %s of %s)", rev, len(confirmed), pluralCount(n, "replica", "replicas"), waited, c.timeout)
	if len(confirmed) > 0 {
		msg += " (" + strings.Join(confirmed, ", ") + ")"
	}
	return exitError{ExitUnconfirmed, msg}
}

// confirmPeers are the replicas to ask, one entry each: the remembered
// ones and those a running node on the repo is connected to.
func confirmPeers(r *wiki.Repo) ([]peer.AddrInfo, error) {
	infos, err := knownReplicas(r)
	if err != nil {
		return nil, err
	}
	byID := map[peer.ID]int{}
	var out []peer.AddrInfo
	for _, info := range infos {
		if i, ok := byID[info.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, info.Addrs...)
			continue
		}
		byID[info.ID] = len(out)
		out = append(out, info)
	}
	return out, nil
}

// knownReplicas lists the remembered replicas and the running node's.
func knownReplicas(r *wiki.Repo) ([]peer.AddrInfo, error) {
	remembered, err := p2p.LoadPeers(r.Dir)
	if err != nil {
		return nil, err
	}
	infos := p2p.AddrInfos(remembered)
	if st, ok := p2p.ReadServeState(r.Dir); ok {
		for _, cp := range st.Connected {
			id, err := peer.Decode(cp.ID)
			if err != nil {
				continue
			}
			info := peer.AddrInfo{ID: id}
			for _, s := range cp.Addrs {
				if m, err := ma.NewMultiaddr(s); err == nil {
					info.Addrs = append(info.Addrs, m)
				}
			}
			infos = append(infos, info)
		}
	}
	return infos, nil
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
			known, err := confirmPeers(r)
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
