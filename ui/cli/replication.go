package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
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
// shares: the repo's store, identity and key, and the conflict policies
// for what arrives.
func nodeConfig(r *wiki.Repo) (p2p.Config, error) {
	key, err := r.Key()
	if err != nil {
		return p2p.Config{}, err
	}
	cfg := p2p.Config{Store: r.Store, Identity: r.ID, Key: key, RepoDir: r.Dir, AfterReceive: r.ApplyPolicies, Name: r.Config.Name}
	// PEERWIKI_PRESENCE_LEASE shortens presence leases (tests).
	if d, err := time.ParseDuration(os.Getenv("PEERWIKI_PRESENCE_LEASE")); err == nil && d > 0 {
		cfg.PresenceLease = d
	}
	// PEERWIKI_DENY_PEERS=ID,ID refuses those peers: a partition on
	// purpose, for fault-injection tests.
	for _, s := range strings.Split(os.Getenv("PEERWIKI_DENY_PEERS"), ",") {
		if id, err := peer.Decode(strings.TrimSpace(s)); err == nil {
			cfg.Deny = append(cfg.Deny, id)
		}
	}
	return cfg, nil
}

// presenceByPage is what the node on the repo heard of other replicas'
// editors, by page id.
func presenceByPage(r *wiki.Repo) map[string][]wiki.EditingBy {
	out := map[string][]wiki.EditingBy{}
	for _, e := range p2p.ReadPresence(r.Dir) {
		if e.PeerID == r.ID.ID.String() {
			continue
		}
		out[e.Page] = append(out[e.Page], wiki.EditingBy{PeerID: e.PeerID, Name: e.Name, Since: wiki.FormatTime(e.Since)})
	}
	return out
}

// syncReport is the JSON shape of `sync --json` (and of join's first sync).
type syncReport struct {
	Peers      []syncPeer `json:"peers"`
	Conflicts  []string   `json:"conflicts"`
	DurationMS int64      `json:"duration_ms"`
}

type syncPeer struct {
	PeerID   string `json:"peer_id"`
	Sent     int    `json:"sent"`
	Received int    `json:"received"`
}

// runSync dials peers (or, when none is given, the remembered ones and
// the LAN), syncs both ways with each one reached, remembers them, and
// reports. It fails when no peer was reached within timeout, or when a
// reached peer's sync failed.
func (a *app) runSync(ctx context.Context, r *wiki.Repo, peers []peer.AddrInfo, timeout time.Duration, mdns, quiet bool) (*syncReport, error) {
	start := time.Now()
	cfg, err := nodeConfig(r)
	if err != nil {
		return nil, err
	}
	explicit := len(peers) > 0
	if !explicit {
		remembered, err := p2p.LoadPeers(r.Dir)
		if err != nil {
			return nil, err
		}
		peers = p2p.AddrInfos(remembered)
	}
	cfg.MDNS = mdns && !explicit
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
	node, err := p2p.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer node.Close()
	if len(peers) == 0 && !cfg.MDNS {
		return nil, fmt.Errorf("no peer to sync with: give --peer MULTIADDR, or join a wiki first")
	}
	outcomes, err := node.SyncAll(ctx, peers, timeout, min(timeout, 1500*time.Millisecond))
	rep := &syncReport{Peers: []syncPeer{}, Conflicts: []string{}}
	var reached []peer.AddrInfo
	var failures []string
	seen := map[string]bool{}
	for _, o := range outcomes {
		if !o.Reached {
			continue
		}
		if o.Err != nil {
			failures = append(failures, o.Err.Error())
			continue
		}
		reached = append(reached, peer.AddrInfo{ID: o.Peer, Addrs: node.Host().Peerstore().Addrs(o.Peer)})
		rep.Peers = append(rep.Peers, syncPeer{PeerID: o.Peer.String(), Sent: o.Result.Sent, Received: o.Result.Received})
		for _, c := range o.Result.Conflicts {
			if !seen[c.String()] {
				seen[c.String()] = true
				rep.Conflicts = append(rep.Conflicts, c.String())
			}
		}
	}
	rep.DurationMS = time.Since(start).Milliseconds()
	if len(reached) > 0 {
		if err := p2p.RememberPeers(r.Dir, reached); err != nil {
			fmt.Fprintf(a.stderr, "peerwiki: warning: could not remember peers: %v\n", err)
		}
	}
	if err == p2p.ErrNoPeer {
		what := "peer unreachable"
		if !explicit && len(peers) == 0 {
			what = "no remembered peer and none found on the LAN"
		}
		if p2p.AllBusy(outcomes) {
			return rep, fmt.Errorf("could not reach any peer within %s: the node is busy (it cut the connection short); try again later", timeout)
		}
		return rep, fmt.Errorf("could not reach any peer within %s (wrong wiki key, or %s)", timeout, what)
	}
	if len(failures) > 0 {
		return rep, fmt.Errorf("sync failed: %s", strings.Join(failures, "; "))
	}
	if !quiet {
		for _, o := range outcomes {
			if !o.Reached && o.Err != nil {
				fmt.Fprintf(a.stderr, "peerwiki: warning: %s\n", termtext.Line(firstLineOf(o.Err)))
			}
		}
	}
	return rep, nil
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
