package cli

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/p2p"
	"peerwiki/wiki"
)

// uiNodeAPI is the terminal UI's node: the one it runs, or another
// process's (a serve, another UI) reached through the control socket.
// When that other node stops, the UI takes over: it starts the repo's
// node itself at the next call, so a UI opened next to a serve stays
// online after the serve ends.
type uiNodeAPI struct {
	start func(ctx context.Context) (p2p.NodeAPI, bool, error)

	mu     sync.Mutex
	api    p2p.NodeAPI
	remote bool
	// tried is when a takeover was last attempted (at most one a second).
	tried time.Time
}

// startUINode runs the repo's node for the UI, or uses the running one.
func (a *app) startUINode(ctx context.Context, r *wiki.Repo, f nodeFlags) (*uiNodeAPI, error) {
	u := &uiNodeAPI{start: func(ctx context.Context) (p2p.NodeAPI, bool, error) { return a.uiNode(ctx, r, f) }}
	api, remote, err := u.start(ctx)
	if err != nil {
		return nil, err
	}
	u.api, u.remote = api, remote
	return u, nil
}

// current returns the node to use, taking over when the remote one is
// gone.
func (u *uiNodeAPI) current(ctx context.Context) (p2p.NodeAPI, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.remote {
		return u.api, false
	}
	c, ok := u.api.(*p2p.NodeClient)
	if !ok || !c.Gone() || time.Since(u.tried) < time.Second {
		return u.api, true
	}
	u.tried = time.Now()
	if api, remote, err := u.start(ctx); err == nil {
		u.api, u.remote = api, remote
	}
	return u.api, u.remote
}

// close stops the node if the UI runs it.
func (u *uiNodeAPI) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if d, ok := u.api.(*p2p.Daemon); ok {
		d.Close()
	}
}

func (u *uiNodeAPI) Status(ctx context.Context) (p2p.NodeStatus, error) {
	api, _ := u.current(ctx)
	return api.Status(ctx)
}

func (u *uiNodeAPI) Share(ctx context.Context) (p2p.NodeStatus, error) {
	api, _ := u.current(ctx)
	return api.Share(ctx)
}

func (u *uiNodeAPI) Peers(ctx context.Context) ([]p2p.PeerState, error) {
	api, _ := u.current(ctx)
	return api.Peers(ctx)
}

func (u *uiNodeAPI) Sync(ctx context.Context, req p2p.SyncRequest) (p2p.SyncReport, error) {
	api, _ := u.current(ctx)
	return api.Sync(ctx, req)
}

func (u *uiNodeAPI) Confirm(ctx context.Context, req p2p.ConfirmRequest) (p2p.ConfirmReport, error) {
	api, _ := u.current(ctx)
	return api.Confirm(ctx, req)
}

func (u *uiNodeAPI) CommitNotice(ctx context.Context, committed time.Time, commits []history.LocalCommit) error {
	api, _ := u.current(ctx)
	return api.CommitNotice(ctx, committed, commits)
}

// noticeCommits has the node announce what the UI commits as soon as it
// is committed (history.Store.OnLocalCommit), as a command's notice does:
// without it, a UI next to a serve waited for the serve to see the
// database change, and its own node read each edit back.
func (u *uiNodeAPI) noticeCommits(r *wiki.Repo) {
	store := r.ReplicationStore()
	var mu sync.Mutex // one notice at a time, in commit order
	store.OnLocalCommit(func() {
		at := time.Now()
		go func() {
			mu.Lock()
			defer mu.Unlock()
			commits, ok := store.TakeLocalCommits()
			if !ok {
				commits = nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			u.CommitNotice(ctx, at, commits)
		}()
	})
}

func (u *uiNodeAPI) Editing(ctx context.Context, page cid.Cid) (func(), error) {
	api, _ := u.current(ctx)
	return api.Editing(ctx, page)
}

// isRemote reports whether the UI uses another process's node now.
func (u *uiNodeAPI) isRemote() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.remote
}

var _ p2p.NodeAPI = (*uiNodeAPI)(nil)
