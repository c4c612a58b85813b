package cli

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/ui/tui"
	"peerwiki/wiki"
)

func (a *app) tuiCommand() *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "tui [--offline]",
		Short: "The terminal UI: browse, write, watch edits arrive, resolve conflicts",
		Long: `Open the terminal UI on the repo (created on first use): a page browser with
filter and full-text search, a Markdown viewer with followable [[links]] and
backlinks, an editor ($EDITOR one key away), each page's revision graph with
diffs and restore, and the three-way merge screen for conflicted pages.

Unless --offline, the UI runs the replication node in the same process (as
'serve' does, on port 7171 or a random one), so peers' edits appear as they
arrive; when a 'serve' already runs on the repo, the UI leaves replication to
it. Edits made by other peerwiki processes on the repo appear too. The bare
'peerwiki' opens this UI when stdin and stdout are a terminal.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runTUI(cmd, offline)
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "do not run the replication node")
	return cmd
}

// runTUI runs the terminal UI on the repo, creating the repo on first use,
// with the replication node in this process unless offline.
func (a *app) runTUI(cmd *cobra.Command, offline bool) error {
	a.keepRunning()
	if !interactive(a.stdin, a.stdout) {
		return tui.ErrNotTerminal
	}
	if !wiki.Initialised(a.dir()) {
		r, err := wiki.Init(a.dir(), "")
		if err != nil {
			return err
		}
		a.repo = r
	}
	r, err := a.open()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	opts := tui.Options{Repo: r, Graph: GraphLines}
	if !offline {
		net, err := startTUINode(ctx, r)
		if err != nil {
			opts.Network = staticNetwork{tui.NetStatus{Mode: "offline (node: " + firstLineOf(err) + ")"}}
		} else {
			defer net.close()
			opts.Network = net
		}
	}
	return tui.Run(ctx, opts, a.stdin, a.stdout)
}

// runMergeTUI opens the three-way merge screen of one conflicted page
// (`peerwiki merge PAGE`); leaving the screen leaves the program.
func (a *app) runMergeTUI(cmd *cobra.Command, page string) error {
	if !interactive(a.stdin, a.stdout) {
		return fmt.Errorf("the merge screen needs a terminal on stdin and stdout; use 'peerwiki resolve' or 'merge --auto' instead")
	}
	r, err := a.open()
	if err != nil {
		return err
	}
	p, err := r.FindPage(cmd.Context(), page)
	if err != nil {
		return err
	}
	if p.Versions < 2 {
		return fmt.Errorf("page %q has no conflict", p.Title)
	}
	var saved cid.Cid
	opts := tui.Options{Repo: r, Graph: GraphLines, MergePage: p.ID, Resolved: func(rev cid.Cid) { saved = rev }}
	if err := tui.Run(cmd.Context(), opts, a.stdin, a.stdout); err != nil {
		return err
	}
	if saved.Defined() {
		fmt.Fprintln(a.stdout, saved) // the screen is gone: as `resolve` prints it
	}
	return nil
}

type staticNetwork struct{ st tui.NetStatus }

func (s staticNetwork) Status() tui.NetStatus { return s.st }

// tuiNetwork is the UI's view of replication: a node this process runs,
// or the serve process already running on the repo.
type tuiNetwork struct {
	node   *p2p.Node // nil when another process serves the repo
	dir    string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	lastSync time.Time
}

// startTUINode runs a node as `serve` does (same port, discovery, gossip,
// remembered peers, serve.json), unless a serve already runs on the repo:
// two nodes on one repo would only compete for the port and the peers.
func startTUINode(ctx context.Context, r *wiki.Repo) (*tuiNetwork, error) {
	if st, ok := p2p.ReadServeState(r.Dir); ok && st.PID != os.Getpid() {
		return &tuiNetwork{dir: r.Dir}, nil
	}
	cfg, err := nodeConfig(r)
	if err != nil {
		return nil, err
	}
	remembered, err := p2p.LoadPeers(r.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Peers = p2p.AddrInfos(remembered)
	cfg.Reconnect, cfg.MDNS, cfg.Gossip, cfg.SyncOnConnect, cfg.WatchCommits = true, true, true, true, true
	// cfg.Logger stays nil (discard): the terminal belongs to the UI.
	cfg.Listen = defaultListen(DefaultPort)
	node, err := p2p.New(ctx, cfg)
	if err != nil {
		cfg.Listen = defaultListen(0)
		if node, err = p2p.New(ctx, cfg); err != nil {
			return nil, err
		}
	}
	st := p2p.ServeState{PID: os.Getpid(), PeerID: node.ID().String(), Addrs: sortAddrs(node.Addrs()), Connected: []p2p.ConnectedPeer{}}
	if err := p2p.WriteServeState(r.Dir, st); err != nil {
		node.Close()
		return nil, err
	}
	n := &tuiNetwork{node: node, dir: r.Dir, done: make(chan struct{})}
	var loopCtx context.Context
	loopCtx, n.cancel = context.WithCancel(context.Background())
	go n.watch(loopCtx, node.Subscribe())
	return n, nil
}

// watch records syncs and remembers the peers synced with, until ctx ends.
func (n *tuiNetwork) watch(ctx context.Context, events <-chan p2p.Event) {
	defer close(n.done)
	remembered := map[peer.ID]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			if e.Kind != p2p.EventSynced || e.Err != nil {
				continue
			}
			n.mu.Lock()
			n.lastSync = time.Now()
			n.mu.Unlock()
			if !remembered[e.Peer] {
				remembered[e.Peer] = true
				info := peer.AddrInfo{ID: e.Peer, Addrs: n.node.Host().Peerstore().Addrs(e.Peer)}
				_ = p2p.RememberPeers(n.dir, []peer.AddrInfo{info})
			}
		}
	}
}

// Status reports peers and the last sync, for the status bar.
func (n *tuiNetwork) Status() tui.NetStatus {
	if n.node == nil {
		st, ok := p2p.ReadServeState(n.dir)
		if !ok {
			return tui.NetStatus{Mode: "offline (the serve process stopped)"}
		}
		return tui.NetStatus{Mode: fmt.Sprintf("via serve (pid %d)", st.PID), Peers: len(st.Connected), SyncUnknown: true}
	}
	n.mu.Lock()
	last := n.lastSync
	n.mu.Unlock()
	return tui.NetStatus{Mode: "online", Peers: len(n.node.Host().Network().Peers()), LastSync: last}
}

func (n *tuiNetwork) close() {
	if n.node == nil {
		return
	}
	n.cancel()
	<-n.done
	n.node.Close()
	p2p.RemoveServeState(n.dir)
}
