package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"peerwiki/history"
)

// DefaultPort is a node's TCP port when no listen address is given. A
// fixed port keeps the addresses in join codes and remembered peers valid
// across restarts; when it is taken, the node listens on a random port.
const DefaultPort = 7171

// ErrNotShared is the answer of a node on a wiki never shared, which
// does not listen or dial until it is (Share).
var ErrNotShared = errors.New("the wiki is not shared: the node does not replicate until an invite is made ('peerwiki invite')")

// DaemonConfig configures the node of a repo.
type DaemonConfig struct {
	// Node is the node's own configuration: Store, Identity, Key, RepoDir
	// (required), AfterReceive, Name, Logger, and the test knobs. What a
	// running node does (listen, discover, gossip, keep its peers
	// connected, watch commits) is the daemon's to set.
	Node Config
	// Listen are the addresses to listen on; none: DefaultPort on every
	// interface (IPv4 and IPv6), or a random port when it is taken.
	Listen []ma.Multiaddr
	// Peers are kept connected, with the remembered ones.
	Peers []peer.AddrInfo
	// MDNS turns on discovery on the LAN.
	MDNS bool
	// Share starts the network now even on a wiki never shared (serve is
	// an explicit request); otherwise it starts once the wiki is shared.
	Share bool
	// Kind says who runs the node ("peerwiki serve", "the terminal UI"),
	// for the processes that find it running.
	Kind string
	// WAN is the node's wide-area networking (wan.go); the zero value
	// is off (the CLI turns the DHT on by default). With it on and no
	// Listen, the node listens on QUIC too, on the TCP port's number.
	WAN WANConfig
}

// Daemon is the one node of a repo, for as long as a process (serve, the
// terminal UI) runs it: it holds the repo's NodeLock, answers on the
// ControlSocket, and, once the wiki is shared, runs the libp2p node
// (listening on DefaultPort or a random one, mDNS, gossip, presence,
// sync on connect, the remembered peers kept connected with backoff, and
// every replica met remembered at the addresses it listens on). Its
// process opens the repo long-lived (wiki.OpenOptions.LongLived), so
// the store's background checkpointer runs for as long as the node.
//
// It implements NodeAPI, which the repo's other processes reach through
// NodeClient.
type Daemon struct {
	cfg     DaemonConfig
	dir     string
	socket  string
	started time.Time
	log     *slog.Logger
	lock    *repoLock
	srv     *http.Server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	node     *Node // nil until the wiki is shared
	book     *peerBook
	shared   bool
	lastSync time.Time
	editors  map[int64]Editing
	editorID int64
	closed   bool
}

var _ NodeAPI = (*Daemon)(nil)

// StartDaemon runs the node of cfg.Node.RepoDir. It fails with a
// *NodeRunningError when a node runs on the repo already.
func StartDaemon(ctx context.Context, cfg DaemonConfig) (*Daemon, error) {
	if cfg.Node.RepoDir == "" || cfg.Node.Store == nil || cfg.Node.Identity == nil {
		return nil, errors.New("p2p: a daemon needs RepoDir, Store and Identity")
	}
	dir, err := filepath.Abs(cfg.Node.RepoDir)
	if err != nil {
		return nil, err
	}
	cfg.Node.RepoDir = dir
	if cfg.Node.Logger == nil {
		cfg.Node.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{cfg: cfg, dir: dir, socket: filepath.Join(dir, ControlSocket), started: time.Now(), log: cfg.Node.Logger,
		editors: map[int64]Editing{}}
	if d.lock, err = lockRepo(dir, lockOwner{PID: os.Getpid(), Kind: cfg.Kind, Socket: d.socket}); err != nil {
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	// Pages a sync left out of the search index (a `join --shallow`, or a
	// sync cut short) are indexed in the background.
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if done, err := cfg.Node.Store.IndexPending(d.ctx, nil); err != nil && d.ctx.Err() == nil {
			d.log.Warn("indexing pages for search failed (the next search does it)", "err", err)
		} else if done > 0 {
			d.log.Info("indexed pages for search", "pages", done)
		}
	}()
	d.shared = IsShared(dir)
	if cfg.Share || d.shared {
		if err := d.startNode(ctx); err != nil {
			d.Close()
			return nil, err
		}
	}
	l, err := listenControl(dir)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.serveControl(l)
	return d, nil
}

// Close stops the node and the control socket, and releases the repo.
func (d *Daemon) Close() error {
	d.mu.Lock()
	d.closed = true
	node := d.node
	d.mu.Unlock()
	if d.cancel != nil {
		d.cancel()
	}
	if d.srv != nil {
		d.srv.Close()
		// Removed while the lock is held: the next node's socket is its own.
		os.Remove(d.socket)
	}
	d.wg.Wait()
	var err error
	if node != nil {
		err = node.Close()
		removeServeState(d.dir)
	}
	d.lock.release()
	return err
}

// Node is the running libp2p node, nil while the wiki is not shared.
func (d *Daemon) Node() *Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.node
}

// startNode starts the libp2p node; d.mu is held or d not yet shared
// with other goroutines.
func (d *Daemon) startNode(ctx context.Context) error {
	cfg := d.cfg.Node
	remembered, err := LoadPeers(d.dir)
	if err != nil {
		return err
	}
	cfg.Reconnect, cfg.MDNS, cfg.Gossip, cfg.SyncOnConnect, cfg.WatchCommits = true, d.cfg.MDNS, true, true, true
	cfg.Editing = d.localEditors
	cfg.WAN = d.cfg.WAN
	// Dialled once the peer book follows the node, so that it sees the
	// first connections too.
	cfg.Peers = nil
	var node *Node
	if len(d.cfg.Listen) == 0 {
		cfg.Listen = defaultListen(DefaultPort, cfg.WAN.On())
		if node, err = New(ctx, cfg); err != nil {
			cfg.Listen = defaultListen(0, cfg.WAN.On())
			node, err = New(ctx, cfg)
		}
	} else {
		cfg.Listen = d.cfg.Listen
		node, err = New(ctx, cfg)
	}
	if err != nil {
		return err
	}
	book := newPeerBook(d.dir, node.keepConnected)
	if err := book.follow(node); err != nil {
		node.Close()
		return err
	}
	for _, p := range mergePeers(d.cfg.Peers, AddrInfos(remembered)) {
		node.keepConnected(p)
	}
	d.node, d.book, d.shared = node, book, true
	events := node.Subscribe()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			select {
			case <-d.ctx.Done():
				return
			case e := <-events:
				if (e.Kind == EventSynced || e.Kind == EventServed) && e.Err == nil {
					d.mu.Lock()
					d.lastSync = time.Now()
					d.mu.Unlock()
				}
			}
		}
	}()
	var addrs []string
	for _, a := range sortDialable(node.Addrs()) {
		addrs = append(addrs, a.String())
	}
	if err := writeServeState(d.dir, serveState{PID: os.Getpid(), PeerID: node.ID().String(), Addrs: addrs}); err != nil {
		d.log.Warn("could not write "+ServeFile, "err", err)
	}
	d.log.Info("serving", "wiki", cfg.Store.Wiki(), "peer", node.ID(), "mdns", d.cfg.MDNS, "peers", len(remembered)+len(d.cfg.Peers),
		"dht", node.wan != nil && node.wan.dht != nil, "relays", len(cfg.WAN.Relays))
	return nil
}

// current is the node and its peer book (nil, nil while not shared).
func (d *Daemon) current() (*Node, *peerBook) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.node, d.book
}

// Status implements NodeAPI.
func (d *Daemon) Status(context.Context) (NodeStatus, error) {
	d.mu.Lock()
	node, shared, last := d.node, d.shared, d.lastSync
	d.mu.Unlock()
	st := NodeStatus{API: ControlAPIVersion, PID: os.Getpid(), Kind: d.cfg.Kind, Socket: d.socket, PeerID: d.cfg.Node.Identity.ID,
		Shared: shared, Addrs: []ma.Multiaddr{}, Started: d.started, LastSync: last}
	if node != nil {
		st.Online, st.MDNS = true, d.cfg.MDNS
		st.Addrs = sortDialable(node.Addrs())
		members := node.memberPeers()
		st.Peers = len(members)
		for _, p := range members {
			if v := node.Via(p); v != "" {
				if st.Via == nil {
					st.Via = map[string]int{}
				}
				st.Via[v]++
			}
		}
	}
	return st, nil
}

// Share implements NodeAPI.
func (d *Daemon) Share(ctx context.Context) (NodeStatus, error) {
	d.mu.Lock()
	var err error
	switch {
	case d.closed:
		err = errors.New("the node is stopping")
	case d.node == nil:
		err = d.startNode(ctx)
	}
	d.mu.Unlock()
	if err != nil {
		return NodeStatus{}, err
	}
	if err := MarkShared(d.dir, "invite"); err != nil {
		return NodeStatus{}, err
	}
	if node, _ := d.current(); node != nil {
		node.waitRelayed(ctx, relayedWait)
	}
	return d.Status(ctx)
}

// relayedWait bounds how long Share (an invite) waits for a node with
// relays to hold a relayed address: a join code without one cannot be
// used from behind another NAT.
const relayedWait = 10 * time.Second

// waitRelayed waits, up to d, until a node given relays has a relayed
// address (at once for any other node).
func (n *Node) waitRelayed(ctx context.Context, d time.Duration) {
	if n.wan == nil || len(n.wan.cfg.Relays) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, a := range n.host.Addrs() {
			if isRelayed(a) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Peers implements NodeAPI.
func (d *Daemon) Peers(context.Context) ([]PeerState, error) {
	node, book := d.current()
	if node == nil {
		return RememberedStates(d.dir)
	}
	states := book.states(node.connected)
	for i := range states {
		if states[i].Connected {
			states[i].Via = node.Via(states[i].ID)
		}
	}
	return states, nil
}

func (n *Node) connected(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Connected
}

// replicas are the replicas the node knows: the members it is connected
// to (not a stranger in its join exchange), and the remembered ones.
func (d *Daemon) replicas(n *Node) []peer.AddrInfo {
	var conns []peer.AddrInfo
	for _, p := range n.memberPeers() {
		conns = append(conns, peer.AddrInfo{ID: p})
	}
	remembered, _ := LoadPeers(d.dir)
	return mergePeers(conns, AddrInfos(remembered))
}

// Sync implements NodeAPI: over the node's connections (and the
// remembered replicas it is not connected to), or with req.Peers.
func (d *Daemon) Sync(ctx context.Context, req SyncRequest) (SyncReport, error) {
	node, _ := d.current()
	if node == nil {
		return SyncReport{}, ErrNotShared
	}
	targets := req.Peers
	if len(targets) == 0 {
		targets = d.replicas(node)
	}
	return node.syncReport(ctx, targets, req.Timeout, len(req.Peers) == 0, rememberedNames(d.dir)), nil
}

// Confirm implements NodeAPI: the node announces what was committed,
// then asks every replica it is connected to or remembers.
func (d *Daemon) Confirm(ctx context.Context, req ConfirmRequest) (ConfirmReport, error) {
	node, _ := d.current()
	if node == nil {
		return ConfirmReport{}, ErrNotShared
	}
	if len(req.Revs) == 0 || req.Wait <= 0 {
		return ConfirmReport{}, fmt.Errorf("%w: nothing to confirm, or no time to wait", errBadRequest)
	}
	if !node.announcedAll(req.Revs) {
		node.Notice(time.Now()) // announced before the replicas are asked
	}
	return node.confirmWith(ctx, d.replicas(node), req, rememberedNames(d.dir)), nil
}

// CommitNotice implements NodeAPI.
func (d *Daemon) CommitNotice(_ context.Context, committed time.Time, commits []history.LocalCommit) error {
	return d.noticeCommits(committed, commits)
}

// noticeCommits is CommitNotice with what was committed, when the
// command could say (see Node.NoticeCommits).
func (d *Daemon) noticeCommits(committed time.Time, commits []history.LocalCommit) error {
	if node, _ := d.current(); node != nil {
		return node.NoticeCommits(committed, commits)
	}
	return nil
}

// Editing implements NodeAPI.
func (d *Daemon) Editing(_ context.Context, page cid.Cid) (func(), error) {
	var id int64
	d.editorsChange(func() {
		d.editorID++
		id = d.editorID
		d.editors[id] = Editing{Page: page.String(), Since: time.Now().UnixMilli()}
	})
	var once sync.Once
	return func() {
		once.Do(func() { d.editorsChange(func() { delete(d.editors, id) }) })
	}, nil
}

// editorsChange changes the registered editors (under d.mu) and has
// presence announce them at once.
func (d *Daemon) editorsChange(change func()) {
	d.mu.Lock()
	change()
	node := d.node
	d.mu.Unlock()
	if node != nil && node.presence != nil {
		node.presence.nudge()
	}
}

// localEditors are the editors registered through Editing.
func (d *Daemon) localEditors() []Editing {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Editing, 0, len(d.editors))
	for _, e := range d.editors {
		out = append(out, e)
	}
	return out
}

// defaultListen is every interface on port, TCP, and with quic QUIC on
// the same port number (a random one each with port 0).
func defaultListen(port int, quic bool) []ma.Multiaddr {
	out := []ma.Multiaddr{
		ma.StringCast(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port)),
		ma.StringCast(fmt.Sprintf("/ip6/::/tcp/%d", port)),
	}
	if quic {
		out = append(out,
			ma.StringCast(fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", port)),
			ma.StringCast(fmt.Sprintf("/ip6/::/udp/%d/quic-v1", port)))
	}
	return out
}

// mergePeers joins peer lists, one entry a peer, the first list's
// addresses first.
func mergePeers(lists ...[]peer.AddrInfo) []peer.AddrInfo {
	var out []peer.AddrInfo
	idx := map[peer.ID]int{}
	for _, l := range lists {
		for _, p := range l {
			if i, ok := idx[p.ID]; ok {
				out[i].Addrs = append(out[i].Addrs, p.Addrs...)
				continue
			}
			idx[p.ID] = len(out)
			out = append(out, peer.AddrInfo{ID: p.ID, Addrs: append([]ma.Multiaddr{}, p.Addrs...)})
		}
	}
	return out
}
