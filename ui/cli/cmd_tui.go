package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
	"peerwiki/ui/tui"
	"peerwiki/wiki"
)

func (a *app) tuiCommand() *cobra.Command {
	var offline bool
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "tui [--offline] [--listen MULTIADDR]... [--no-mdns] [--bootstrap MULTIADDR]... [--relay MULTIADDR]... [--no-dht] [--public-net CIDR]...",
		Short: "The terminal UI: browse, write, watch edits arrive, resolve conflicts",
		Long: fmt.Sprintf(`Open the terminal UI on the repo (created on first use): a page browser with
filter and full-text search, a Markdown viewer with followable [[links]] and
backlinks, an editor ($EDITOR one key away), each page's revision graph with
diffs and restore, and the three-way merge screen for conflicted pages.

Unless --offline, the UI runs the repo's node in the same process, as
'serve' does (on --listen, default port %d or a random one; mDNS unless
--no-mdns), so peers' edits appear as they arrive; when a node already runs
on the repo ('serve', or another UI), the UI uses that one. On a wiki that
was never shared (no invite made here, not made by join) the node opens no
network socket at all, and the status bar says "not shared", until an
invite is made: 'i' in the page list, or 'peerwiki invite'. Edits made by
other peerwiki processes on the repo appear too. The bare 'peerwiki' opens
this UI when stdin and stdout are a terminal.`, p2p.DefaultPort),
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runTUIWith(cmd, offline, f)
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "do not run the replication node")
	f.register(cmd, "")
	return cmd
}

// runTUI runs the terminal UI on the repo with the node's defaults.
func (a *app) runTUI(cmd *cobra.Command, offline bool) error {
	return a.runTUIWith(cmd, offline, nodeFlags{})
}

// runTUIWith runs the terminal UI on the repo, creating the repo on first
// use, with the repo's node in this process unless offline or one runs.
func (a *app) runTUIWith(cmd *cobra.Command, offline bool, f nodeFlags) error {
	a.keepRunning()
	if !interactive(a.stdin, a.stdout) {
		return tui.ErrNotTerminal
	}
	calmTimers()
	nodeGC()
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
	opts := tui.Options{Repo: r, Presence: presenceOf(r), Editing: editingFile(r)}
	if !offline {
		api, err := a.startUINode(ctx, r, f)
		switch {
		case err != nil:
			opts.Network = staticNetwork{tui.NetStatus{Mode: "offline (node: " + firstLineOf(err) + ")"}}
		default:
			defer api.close()
			api.noticeCommits(r)
			opts.Network = nodeNetwork{api: api}
			opts.Editing = editingVia(api, r)
			opts.Invite = func() (string, error) {
				st, err := api.Share(ctx)
				if err != nil {
					return "", err
				}
				token, _, err := r.NewInvite(ctx, wiki.RoleMember, wiki.DefaultInviteUses, wiki.DefaultInviteExpiry)
				if err != nil {
					return "", err
				}
				return inviteCode(r, token, st.Addrs)
			}
		}
	}
	return tui.Run(ctx, opts, a.stdin, a.stdout)
}

// uiNode starts the repo's node for the UI, or finds the one running
// (remote).
func (a *app) uiNode(ctx context.Context, r *wiki.Repo, f nodeFlags) (api p2p.NodeAPI, remote bool, err error) {
	cfg, err := a.daemonConfig(r, f, "the terminal UI")
	if err != nil {
		return nil, false, err
	}
	// cfg.Node.Logger stays nil (discard): the terminal belongs to the UI.
	d, err := p2p.StartDaemon(ctx, cfg)
	var running *p2p.NodeRunningError
	if errors.As(err, &running) {
		c, err := p2p.DialNode(r.Dir)
		return c, true, err
	}
	return d, false, err
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
	opts := tui.Options{Repo: r, MergePage: p.ID, Resolved: func(rev cid.Cid) { saved = rev }}
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

// nodeNetwork is the UI's view of the repo's node: the one it runs, or
// another process's (remote).
type nodeNetwork struct {
	api *uiNodeAPI
}

// Status reports the node for the status bar.
func (n nodeNetwork) Status() tui.NetStatus {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := n.api.Status(ctx)
	switch {
	case errors.Is(err, p2p.ErrNoNode):
		return tui.NetStatus{Mode: "offline (the node on this repo stopped)"}
	case err != nil:
		return tui.NetStatus{Mode: "offline (node: " + firstLineOf(err) + ")"}
	case !st.Online:
		return tui.NetStatus{Mode: tui.NotShared}
	}
	mode := "online"
	if n.api.isRemote() {
		mode = "via " + nodeName(st)
	}
	return tui.NetStatus{Mode: mode, Peers: st.Peers, Via: st.Via, LastSync: st.LastSync}
}

// editingVia tells the node (api) of an open editor; with no node, or
// one that does not answer, the editing file does (a node started later
// reads it).
func editingVia(api p2p.NodeAPI, r *wiki.Repo) func(cid.Cid) func() {
	file := editingFile(r)
	return func(page cid.Cid) func() {
		if api == nil {
			return file(page)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done, err := api.Editing(ctx, page)
		if err != nil {
			return file(page)
		}
		return done
	}
}

// editingFile records an open editor in the repo's editing directory,
// for a node that runs now or later.
func editingFile(r *wiki.Repo) func(cid.Cid) func() {
	return func(page cid.Cid) func() {
		done, _ := p2p.StartEditing(r.Dir, page.String())
		return done
	}
}

// presenceOf says who edits a page on other replicas, as the node on the
// repo heard it.
func presenceOf(r *wiki.Repo) func(cid.Cid) []tui.Editor {
	return func(page cid.Cid) []tui.Editor {
		var out []tui.Editor
		for _, e := range p2p.ReadPresence(r.Dir) {
			if e.Page == page.String() && e.PeerID != r.ID.ID.String() {
				out = append(out, tui.Editor{Name: e.Name, Since: time.UnixMilli(e.Since)})
			}
		}
		return out
	}
}
