package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// replicationCommands are the commands that talk to peers: invite, join,
// serve, sync, peers.
func (a *app) replicationCommands() []*cobra.Command {
	return []*cobra.Command{a.inviteCommand(), a.joinCommand(), a.serveCommand(), a.syncCommand(), a.peersCommand()}
}

// nodeConfig is the part of a p2p node's configuration every command
// shares: the repo's store and identity, the member list it enforces, and
// the conflict policies for what arrives. A wiki made before membership
// gets its member list here when this replica is its founder.
func nodeConfig(r *wiki.Repo) (p2p.Config, error) {
	if _, err := r.UpgradeMembers(context.Background()); err != nil {
		return p2p.Config{}, err
	}
	// A replica with nothing yet (a join) takes the current version of
	// every page first, then their history.
	cfg := p2p.Config{Store: r.ReplicationStore(), Identity: r.ID, Members: newMemberGate(r), RepoDir: r.Dir,
		AfterReceive: r.ApplyPolicies, Name: r.Config.Name, Shallow: true}
	// An invite not redeemed yet is redeemed by the node at the first
	// peer it meets that takes it (found by mDNS, say).
	pending := filepath.Join(r.Dir, pendingInviteFile)
	if token, err := os.ReadFile(pending); err == nil && len(token) > 0 {
		cfg.Pending = &p2p.PendingInvite{Token: token, Name: r.Config.Name,
			Redeemed: func(p2p.JoinResult) { _ = os.Remove(pending) }}
	}
	return cfg, nil
}

// syncReport is the JSON shape of `sync --json` (and of join's first sync).
type syncReport struct {
	Peers      []syncPeer `json:"peers"`
	Conflicts  []string   `json:"conflicts"`
	DurationMS int64      `json:"duration_ms"`
	// HistoryMissing counts the pages whose history is not here yet (a
	// shallow replica), after the sync.
	HistoryMissing int `json:"history_missing_pages,omitempty"`
	// historyKept: the replica keeps shallow (join --shallow).
	historyKept bool
}

// historyNote says, when history is missing after a sync, how much and
// what brings it ("" when nothing is missing).
func (r *syncReport) historyNote() string {
	if r.HistoryMissing == 0 {
		return ""
	}
	hint := "it follows with the next syncs"
	if r.historyKept {
		hint = "'peerwiki sync --unshallow' fetches it"
	}
	return fmt.Sprintf("The history of %s is not here yet; %s", pluralCount(r.HistoryMissing, "page", "pages"), hint)
}

type syncPeer struct {
	PeerID   string `json:"peer_id"`
	Name     string `json:"name,omitempty"`
	Sent     int    `json:"sent"`
	Received int    `json:"received"`
	// History: revisions of history a shallow replica fetched after.
	History int `json:"history,omitempty"`
}

// runSync syncs both ways with peers (none: every replica known) and
// reports: through the node running on the repo when there is one, else
// with a host of its own for as long as it takes. It fails when no
// replica was reached, or when a reached replica's sync failed.
func (a *app) runSync(ctx context.Context, r *wiki.Repo, peers []peer.AddrInfo, timeout time.Duration, mdns, quiet bool) (*syncReport, error) {
	start := time.Now()
	if _, err := a.redeemPending(ctx, r, peers, timeout); err != nil && !errors.Is(err, p2p.ErrNoInviter) {
		return nil, err
	}
	req := p2p.SyncRequest{Peers: peers, Timeout: timeout, MDNS: mdns}
	var rep p2p.SyncReport
	node, st, err := a.runningNode(ctx, r)
	if err == nil {
		rep, err = node.Sync(ctx, req)
	}
	if errors.Is(err, p2p.ErrNoNode) || errors.Is(err, p2p.ErrNotShared) {
		node = nil
		cfg, err := nodeConfig(r)
		if err != nil {
			return nil, err
		}
		cfg.LeaveSearchIndex = a.leaveSearch
		if !quiet && stderrIsTerminal(a.stderr) {
			last := time.Now()
			cfg.Progress = func(p peer.ID, revs int) {
				if time.Since(last) > 200*time.Millisecond {
					last = time.Now()
					fmt.Fprintf(a.stderr, "\rreceiving from %s: %s", shortID(p.String()), pluralCount(revs, "revision", "revisions"))
				}
			}
			defer fmt.Fprint(a.stderr, "\r\x1b[K")
		}
		if rep, err = p2p.SyncOnce(ctx, cfg, req); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	out := &syncReport{Peers: []syncPeer{}, Conflicts: []string{}, DurationMS: time.Since(start).Milliseconds()}
	var failures []string
	for _, p := range rep.Reached() {
		if p.Err != "" {
			failures = append(failures, p.Err)
			continue
		}
		out.Peers = append(out.Peers, syncPeer{PeerID: p.Peer.String(), Name: p.Name, Sent: p.Sent, Received: p.Received, History: p.History})
	}
	for _, c := range rep.Conflicts {
		out.Conflicts = append(out.Conflicts, c.String())
	}
	if sh, err := r.ReplicationStore().Shallow(ctx); err == nil {
		out.HistoryMissing, out.historyKept = sh.Pages, sh.Keep
	}
	if len(rep.Reached()) == 0 {
		return out, noReplicaReached(rep, node != nil, st, timeout)
	}
	if len(failures) > 0 {
		return out, fmt.Errorf("sync failed: %s", strings.Join(failures, "; "))
	}
	if !quiet {
		for _, p := range rep.Peers {
			if !p.Reached {
				fmt.Fprintf(a.stderr, "peerwiki: warning: could not reach %s: %s\n", peerLabel(p.Name, p.Peer.String()), termtext.Line(p.Err))
			}
		}
	}
	return out, nil
}

// noReplicaReached says why a sync reached nobody: what there was to
// try, and what each try met.
func noReplicaReached(rep p2p.SyncReport, viaNode bool, st p2p.NodeStatus, timeout time.Duration) error {
	switch {
	case len(rep.Peers) == 0 && viaNode:
		return fmt.Errorf("no replica reachable: the node on this repo (%s) is connected to none and remembers none", nodeName(st))
	case len(rep.Peers) == 0 && rep.Searched > 0:
		return fmt.Errorf("no replica reachable: none remembered, none found on the LAN within %s, and no node running on this repo", p2p.FormatWait(rep.Searched))
	case len(rep.Peers) == 0:
		return errNoReplica
	}
	busy, waited := true, true
	var why []string
	for _, p := range rep.Peers {
		busy = busy && p.Busy
		waited = waited && p.Waited > 0
		if len(why) < 3 {
			why = append(why, peerLabel(p.Name, shortID(p.Peer.String()))+": "+p.Err)
		}
	}
	if busy {
		return fmt.Errorf("could not reach any peer: the node is busy (it cut the connection short); try again later")
	}
	if waited {
		return fmt.Errorf("could not reach any peer within %s (wrong wiki key, or peer unreachable)", p2p.FormatWait(timeout))
	}
	return fmt.Errorf("could not reach any peer: %s", strings.Join(why, "; "))
}

func firstLineOf(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func stderrIsTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && interactive(f, f)
}

// newLogger is serve's stderr log; PEERWIKI_LOG=debug shows every sync and
// gossip message.
func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("PEERWIKI_LOG"), "debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
