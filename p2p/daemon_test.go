package p2p

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// startDaemon runs a daemon for the replica on a repo directory of its
// own (or dir, when given), on 127.0.0.1, without mDNS.
func startDaemon(t *testing.T, r *replica, dir string, change func(*DaemonConfig)) *Daemon {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := DaemonConfig{Node: Config{Store: r.Store, Identity: r.ID, RepoDir: dir, Name: "ada"},
		Listen: loopback, Share: true, Kind: "test daemon"}
	if change != nil {
		change(&cfg)
	}
	d, err := StartDaemon(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func dialNode(t *testing.T, dir string) *NodeClient {
	t.Helper()
	c, err := DialNode(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// One node per repo: the control socket answers its user only, with mode
// 0600; a second daemon on the repo is refused and told who runs; the
// socket goes with the daemon, and the next one takes the repo.
func TestDaemonOwnsTheRepo(t *testing.T) {
	r := newReplica(t)
	dir := t.TempDir()
	d := startDaemon(t, r, dir, nil)
	ctx := context.Background()

	st, err := dialNode(t, dir).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.PeerID != r.ID.ID || !st.Online || !st.Shared || len(st.Addrs) == 0 || st.Kind != "test daemon" || st.API != ControlAPIVersion {
		t.Fatalf("status: %+v", st)
	}
	fi, err := os.Stat(filepath.Join(dir, ControlSocket))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("control socket: %v %v", fi.Mode(), err)
	}

	_, err = StartDaemon(ctx, DaemonConfig{Node: Config{Store: r.Store, Identity: r.ID, RepoDir: dir}, Listen: loopback})
	var running *NodeRunningError
	if !errors.As(err, &running) || running.PID != os.Getpid() || running.Kind != "test daemon" || running.Socket != filepath.Join(dir, ControlSocket) {
		t.Fatalf("a second daemon on the repo: %v", err)
	}
	if !strings.Contains(err.Error(), "already runs") || !strings.Contains(err.Error(), ControlSocket) {
		t.Fatalf("message: %v", err)
	}

	d.Close()
	if _, err := os.Stat(filepath.Join(dir, ControlSocket)); err == nil {
		t.Fatal("the control socket outlived its daemon")
	}
	if _, err := DialNode(dir); !errors.Is(err, ErrNoNode) {
		t.Fatalf("DialNode after Close: %v", err)
	}
	startDaemon(t, r, dir, nil)
	if _, err := dialNode(t, dir).Status(ctx); err != nil {
		t.Fatalf("the next daemon: %v", err)
	}
}

// A socket left behind by a node that died answers nothing: clients see
// no node, and the next daemon takes its place.
func TestStaleControlSocket(t *testing.T) {
	dir := t.TempDir()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, ControlSocket), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := dialNode(t, dir).Status(context.Background()); !errors.Is(err, ErrNoNode) {
		t.Fatalf("a stale socket: %v", err)
	}
	startDaemon(t, newReplica(t), dir, nil)
	if _, err := dialNode(t, dir).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A repo deeper than a socket address holds still gets its socket, in
// the repo.
func TestControlSocketInADeepRepo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, newReplica(t), dir, nil)
	if _, err := os.Stat(filepath.Join(dir, ControlSocket)); err != nil {
		t.Fatal(err)
	}
	if _, err := dialNode(t, dir).Status(context.Background()); err != nil {
		t.Fatalf("status through a socket at %d bytes of path: %v", len(filepath.Join(dir, ControlSocket)), err)
	}
}

// Unknown versions of the protocol are told which one the node speaks.
func TestControlAPIIsVersioned(t *testing.T) {
	dir := t.TempDir()
	startDaemon(t, newReplica(t), dir, nil)
	c := dialNode(t, dir)
	err := c.do(context.Background(), "GET", "/v2/status", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("GET /v2/status: %v", err)
	}
}

// On a wiki never shared the node opens no network socket until Share;
// then it listens, and the wiki is shared from then on.
func TestDaemonStartsTheNetworkWhenShared(t *testing.T) {
	r := newReplica(t)
	dir := t.TempDir()
	d := startDaemon(t, r, dir, func(c *DaemonConfig) { c.Share = false })
	c := dialNode(t, dir)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Online || st.Shared || len(st.Addrs) != 0 || d.Node() != nil {
		t.Fatalf("not shared: %+v %v", st, err)
	}
	if _, err := c.Sync(ctx, SyncRequest{Timeout: time.Second}); !errors.Is(err, ErrNotShared) {
		t.Fatalf("sync on a wiki not shared: %v", err)
	}
	if st, err = c.Share(ctx); err != nil || !st.Online || len(st.Addrs) == 0 {
		t.Fatalf("share: %+v %v", st, err)
	}
	if !IsShared(dir) {
		t.Fatal("sharing was not remembered")
	}
}

// A replica that connected to the node is remembered at the address it
// listens on, not at its connection's port, with its name; peers shows
// it connected, and since when.
func TestDaemonRemembersInboundPeersWhereTheyListen(t *testing.T) {
	ra, rb := newReplica(t), newReplica(t)
	dir := t.TempDir()
	d := startDaemon(t, ra, dir, nil)
	b := startNode(t, rb, func(c *Config) { c.Name = "bob" })
	if err := b.Connect(context.Background(), peer.AddrInfo{ID: d.Node().ID(), Addrs: d.Node().host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	var ps []RememberedPeer
	waitFor(t, 5*time.Second, "bob to be remembered", func() bool {
		ps, _ = LoadPeers(dir)
		return len(ps) == 1
	})
	listen := b.host.Addrs()[0].String()
	if ps[0].ID != b.ID().String() || ps[0].Name != "bob" || len(ps[0].Addrs) != 1 || ps[0].Addrs[0] != listen {
		t.Fatalf("remembered %+v, want bob at %s", ps[0], listen)
	}
	states, err := dialNode(t, dir).Peers(context.Background())
	if err != nil || len(states) != 1 {
		t.Fatalf("peers: %+v %v", states, err)
	}
	s := states[0]
	if !s.Connected || !s.Remembered || s.Name != "bob" || time.Since(s.Since) > time.Minute || s.Addrs[0].String() != listen {
		t.Fatalf("peer state: %+v", s)
	}
}

// --confirm through the node: the replicas connected to it confirm, the
// others are named with what happened to them.
func TestDaemonConfirmsOverItsConnections(t *testing.T) {
	ra, rb, rc := newReplica(t), newReplica(t), newReplica(t)
	dir := t.TempDir()
	d := startDaemon(t, ra, dir, nil)
	addr := peer.AddrInfo{ID: d.Node().ID(), Addrs: d.Node().host.Addrs()}
	for _, r := range []*replica{rb, rc} {
		n := startNode(t, r, func(c *Config) { c.Gossip, c.Name = true, "peer" })
		if err := n.Connect(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
	}
	// A remembered replica that is gone.
	gone := newReplica(t)
	dead := ma.StringCast("/ip4/127.0.0.1/tcp/9")
	if err := RememberPeers(dir, []peer.AddrInfo{{ID: gone.ID.ID, Addrs: []ma.Multiaddr{dead}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "two connections", func() bool { return len(d.Node().host.Network().Peers()) == 2 })
	pages := ra.addHistory(1, 1, "Note")
	rev := ra.edit(pages[0], "confirmed text")
	c := dialNode(t, dir)
	rep, err := c.Confirm(context.Background(), ConfirmRequest{Revs: []cid.Cid{rev}, Need: 3, Wait: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rep.Confirmed()); got != 2 || len(rep.Replicas) != 3 {
		t.Fatalf("confirmed by %d of %d: %+v", got, len(rep.Replicas), rep)
	}
	last := rep.Replicas[2]
	if last.Peer != gone.ID.ID || last.Confirmed || !strings.Contains(last.Why, "could not be reached") || !strings.Contains(last.Why, "refused") {
		t.Fatalf("the gone replica: %+v", last)
	}
	if rep.Waited > 2*time.Second {
		t.Fatalf("waited %s for a refused connection and two answers", rep.Waited)
	}
	for _, r := range []*replica{rb, rc} {
		if ok, _ := r.Store.Has(context.Background(), rev); !ok {
			t.Fatal("a replica confirmed what it does not hold")
		}
	}
}

// dialable never keeps an unspecified address, and puts loopback last.
func TestDialableAddresses(t *testing.T) {
	in := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1"), ma.StringCast("/ip4/0.0.0.0/tcp/2"), ma.StringCast("/ip4/10.1.2.3/tcp/3")}
	out := dialable(in)
	if len(out) != 2 || out[0].String() != "/ip4/10.1.2.3/tcp/3" || !manet.IsIPLoopback(out[1]) {
		t.Fatalf("dialable(%v) = %v", in, out)
	}
	if got := agentName(agentFor("carol")); got != "carol" {
		t.Fatalf("name through the agent: %q", got)
	}
	for _, a := range []string{"", "github.com/libp2p/go-libp2p", "peerwiki/1 carol", "peerwiki/1 (carol"} {
		if got := agentName(a); got != "" {
			t.Fatalf("agentName(%q) = %q", a, got)
		}
	}
}

// A command's commit notice is a one-way message: the node gets it
// although the command does not wait for the answer.
func TestCommitNoticeReachesTheNode(t *testing.T) {
	dir, log := daemonLogging(t)
	at := time.UnixMicro(1_700_000_000_123_456)
	NoticeCommit(dir, at, nil)
	waitFor(t, 2*time.Second, "the notice in the node's log", func() bool {
		return log.count(`msg="commit notice" committed_us=1700000000123456`) == 1
	})
}

// A notice's connection dialed ahead of the commit carries it, and one
// the command held past noticeFresh (the node may have dropped it) gives
// way to a new connection; one never used is closed.
func TestPreparedCommitNotice(t *testing.T) {
	dir, log := daemonLogging(t)
	p := PrepareNotice(dir)
	p.Send(time.UnixMicro(1_700_000_000_000_001), nil)
	waitFor(t, 2*time.Second, "the prepared notice in the node's log", func() bool {
		return log.count(`msg="commit notice" committed_us=1700000000000001`) == 1
	})
	stale := PrepareNotice(dir)
	stale.at = stale.at.Add(-2 * noticeFresh)
	stale.Send(time.UnixMicro(1_700_000_000_000_002), nil)
	waitFor(t, 2*time.Second, "the notice of a stale connection in the node's log", func() bool {
		return log.count(`msg="commit notice" committed_us=1700000000000002`) == 1
	})
	unused := PrepareNotice(dir)
	unused.Close()
	if unused.conn != nil {
		t.Fatal("an unused prepared connection is left open")
	}
	// Without a node, preparing and sending do nothing (and do not hang).
	none := PrepareNotice(t.TempDir())
	none.Send(time.Now(), nil)
}

// daemonLogging starts a daemon on a new replica whose node logs at debug
// level into the log returned, and returns its repo directory.
func daemonLogging(t *testing.T) (string, *syncLog) {
	log := &syncLog{}
	dir := t.TempDir()
	startDaemon(t, newReplica(t), dir, func(c *DaemonConfig) {
		c.Node.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return dir, log
}
