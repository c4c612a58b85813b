package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"peerwiki/history"
	"peerwiki/p2p"
	"peerwiki/wiki"
)

// The node of a repo (p2p.Daemon) runs in `serve` or the terminal UI;
// every other command that needs the network asks it through its control
// socket when it runs, and works alone, as a one-shot host, when not.

// runningNode is the node running on the repo and what it says of
// itself, or p2p.ErrNoNode.
func (a *app) runningNode(ctx context.Context, r *wiki.Repo) (*p2p.NodeClient, p2p.NodeStatus, error) {
	c, err := p2p.DialNode(r.Dir)
	if err != nil {
		return nil, p2p.NodeStatus{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return nil, st, err
	}
	return c, st, nil
}

// nodeName says which node runs, for messages: "peerwiki serve, pid 42".
func nodeName(st p2p.NodeStatus) string {
	kind := st.Kind
	if kind == "" {
		kind = "a node"
	}
	return fmt.Sprintf("%s, pid %d", kind, st.PID)
}

// nodeFlags are the flags of the commands that run the node.
type nodeFlags struct {
	listen, peers []string
	noMDNS        bool
	// Wide-area networking (netconfig.go).
	bootstrap, relays, publicNets []string
	noDHT                         bool
	// deny and presenceLease are serve's drill flags (registerDrills).
	deny          []string
	presenceLease time.Duration
}

// daemonConfig is the configuration of the node `serve` or the UI runs.
func (a *app) daemonConfig(r *wiki.Repo, f nodeFlags, kind string) (p2p.DaemonConfig, error) {
	explicit, err := p2p.ParsePeerAddrs(f.peers)
	if err != nil {
		return p2p.DaemonConfig{}, usagef("%v", err)
	}
	var listen []ma.Multiaddr
	for _, s := range f.listen {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return p2p.DaemonConfig{}, usagef("bad --listen %q: %v", s, err)
		}
		listen = append(listen, m)
	}
	deny, err := f.checkDrills()
	if err != nil {
		return p2p.DaemonConfig{}, err
	}
	// An invite kept by join (its inviter was away) is redeemed by the
	// node itself, at the first peer it dials that takes it (nodeConfig):
	// not here, where it would hold up the UI's start by a dial timeout
	// for every peer that does not answer.
	cfg, err := nodeConfig(r)
	if err != nil {
		return p2p.DaemonConfig{}, err
	}
	cfg.Deny, cfg.PresenceLease = deny, f.presenceLease
	wan, net, err := wanConfig(r, f)
	if err != nil {
		return p2p.DaemonConfig{}, err
	}
	nets, _ := p2p.ParsePublicNets(net.PublicNets) // checked by wanConfig
	// For the whole process, before the node starts: one node runs in it.
	p2p.SetPublicNets(nets)
	wan.Secret = r.RendezvousSecret
	return p2p.DaemonConfig{Node: cfg, Listen: listen, Peers: explicit, MDNS: !f.noMDNS, Kind: kind, WAN: wan}, nil
}

// noteCommitBase keeps the commit counter at the repo's opening, if a
// node runs on it: noticeCommits compares against it.
func (a *app) noteCommitBase(r *wiki.Repo) {
	if _, err := p2p.DialNode(r.Dir); err != nil {
		return
	}
	r.NodeRunsHere()
	if n, err := r.ChangeCount(context.Background()); err == nil {
		a.commitBase, a.watchCommits = n, true
	}
}

// noticeCommits tells the node on the repo that this command committed
// since it last said so (or opened the repo), so that the node announces
// the revisions at once instead of noticing the database changed. The
// writing commands call it right after their commit; every command, once
// done.
func (a *app) noticeCommits() {
	if a.repo == nil || !a.watchCommits || a.longLived {
		return
	}
	at := time.Now()
	pending := a.notice
	a.notice = nil
	send := func(commits []history.LocalCommit) {
		if pending != nil {
			pending.Send(at, commits)
		} else {
			p2p.NoticeCommit(a.repo.Dir, at, commits)
		}
		if !a.keepPriority {
			makeWay()
		}
	}
	// What this process committed, to announce as it is: then the notice
	// goes first, and the commit counter is read after it (a query on
	// the edit's way to its peers).
	commits, whole := a.repo.ReplicationStore().TakeLocalCommits()
	if whole && len(commits) > 0 {
		send(commits)
		if n, err := a.repo.ChangeCount(context.Background()); err == nil {
			a.commitBase = n
		}
		return
	}
	// Commits it cannot tell (too large, or not its own revisions: a
	// policy's merge), or none: the counter says, and the node reads the
	// database.
	if n, err := a.repo.ChangeCount(context.Background()); err == nil && n != a.commitBase {
		a.commitBase = n
		send(nil)
		return
	}
	if pending != nil {
		pending.Close()
	}
}

// prepareNotice dials the connection of noticeCommits, which the node
// accepts while the command commits; the writing commands call it just
// before their commit, when a node runs on the repo. A write that waits
// for confirmations keeps its priority until it has them (see makeWay).
func (a *app) prepareNotice(cmd *cobra.Command, r *wiki.Repo, c *confirmFlags) {
	if a.repo == nil || !a.watchCommits || a.longLived || a.notice != nil {
		return
	}
	n, _ := c.wanted(cmd, r)
	a.keepPriority = n > 0
	a.notice = p2p.PrepareNotice(a.repo.Dir)
}

// warnUnlisted says, as a command ends, when what it wrote was stored
// void: this replica is not on the wiki's member list (its invite not
// redeemed yet, or never given one). The revisions are kept, but every
// replica, this one included, counts them (shows them) only once an
// admin adds this replica.
func (a *app) warnUnlisted(r *wiki.Repo) {
	if r.VoidWrites() == 0 {
		return
	}
	fmt.Fprintf(a.stderr, "warning: this replica (%s) is not on the wiki's member list yet: what it writes is kept, but counts and shows only once an admin adds it (at its next sync with an admin's node, which redeems its invite; away from the network, an admin runs 'peerwiki member add %s' and brings a bundle back)\n", r.ID.ID, r.ID.ID)
}

// errNoReplica is the message of a command that needs a replica to talk
// to and has none.
var errNoReplica = errors.New("no replica reachable: none remembered and no node running on this repo (give --peer MULTIADDR, join a wiki, or start 'peerwiki serve')")

// nodeAPI is the node running on the repo, or nil: its first request
// finds out whether a control socket left there still answers.
func nodeAPI(r *wiki.Repo) p2p.NodeAPI {
	if c, err := p2p.DialNode(r.Dir); err == nil {
		return c
	}
	return nil
}
