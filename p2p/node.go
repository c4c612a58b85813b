package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"peerwiki/history"
)

// Config configures a Node.
type Config struct {
	// Store is the repo's store; Identity its key (the node's peer id).
	Store    *history.Store
	Identity *history.Identity
	// Key is ignored: it was the wiki's pre-shared key, before the
	// member list (Members) took its place.
	//
	// Deprecated: set Members; Key goes once no caller sets it.
	Key []byte
	// Pending is an invite this replica was made with and has not
	// redeemed yet (nil: none).
	Pending *PendingInvite
	// Members is the wiki's member list, which says who may connect and
	// replicate (members.go); nil: everyone is a member (tests, tools).
	Members Membership
	// Listen are the addresses to listen on; none makes a dial-only node.
	Listen []ma.Multiaddr
	// Peers are dialled at start and, when Reconnect is set, whenever the
	// connection drops (with backoff).
	Peers     []peer.AddrInfo
	Reconnect bool
	// MDNS turns on LAN discovery under MDNSService (default: derived
	// from the wiki id).
	MDNS        bool
	MDNSService string
	// Gossip joins the wiki's heads topic: announce local commits, take
	// in others'.
	Gossip bool
	// SyncOnConnect starts a sync on every new outbound connection (the
	// dialling side syncs; the sync is both ways).
	SyncOnConnect bool
	// WatchCommits notices commits made by any process on the store (the
	// CLI next to a running serve) and announces them.
	WatchCommits bool
	// RepoDir, when set, is watched for database changes (faster than
	// polling) and receives the remembered peers.
	RepoDir string
	// AfterReceive is called with pages that became divergent through
	// blocks from peers (the wiki's conflict policies).
	AfterReceive func(ctx context.Context, divergent []cid.Cid) error
	// Progress, when set, is called as batches from a peer are stored,
	// with the running count of new revisions of that sync.
	Progress func(p peer.ID, revisions int)
	// Logger receives the node's log (default: discard).
	Logger *slog.Logger
	// PollInterval is how often the commit counter is checked (default
	// 250ms); ReannounceInterval how often heads are re-announced (default
	// 45s, ±30% jitter).
	PollInterval       time.Duration
	ReannounceInterval time.Duration
	// Deny are peers this node refuses outright, both ways: a network
	// partition on purpose (the chaos harness uses it).
	Deny []peer.ID
	// Name is this replica's display name in presence announcements and
	// in what the node tells its peers when they connect; PresenceLease
	// how long an announcement holds (default DefaultPresenceLease).
	Name          string
	PresenceLease time.Duration
	// Editing, when set, adds pages open in editors that registered with
	// the node's owner (the daemon's control socket) to those of
	// RepoDir/editing.
	Editing func() []Editing
	// WAN is the node's wide-area networking (wan.go): a DHT for
	// rendezvous, relays, AutoNAT, hole punching and QUIC. Off when zero.
	WAN WANConfig
	// Shallow: while the store holds nothing, a sync asks for the
	// current version of every page first (a join; see shallow.go).
	Shallow bool
	// LeaveSearchIndex: a sync does not write the search rows that a
	// large batch left for later (history.IndexPending); a later search,
	// sync or node does. For a replica's first sync (a join, plain or
	// shallow: SyncOnce sets it), which returns once the pages (and,
	// unless shallow, their history) are here.
	LeaveSearchIndex bool

	// progress is what a sync must move (default defaultProgress), and
	// work what one peer may make the node compute (defaultWorkShare);
	// tests shorten them.
	progress progressRule
	work     workShare
	// shallowWhole is the most revisions a plain join gets whole
	// (default shallowWholeUpTo; tests lower it).
	shallowWhole int
	// wholeCopyFirst and wholeCopyEvery time the passes that keep the
	// whole copies of current versions (wholecopy.go; defaults there).
	wholeCopyFirst, wholeCopyEvery time.Duration
	// dialWatch, when set, is asked before every dial of a peer and may
	// refuse it (tests: "never dials the public DHT").
	dialWatch func(peer.ID) bool
}

// EventKind says what an Event reports.
type EventKind int

// Kinds of events.
const (
	// EventReceived: revisions from a peer were stored.
	EventReceived EventKind = iota + 1
	// EventRejected: a peer sent invalid data and was disconnected.
	EventRejected
	// EventAnnounced: local revisions were announced on the topic.
	EventAnnounced
	// EventSynced: a sync with a peer finished.
	EventSynced
	// EventFound: mDNS found a peer of the wiki.
	EventFound
	// EventServed: a sync a peer asked for finished.
	EventServed
)

// Event is something the node did, for callers that watch it (tests,
// the serve command's log).
type Event struct {
	Kind      EventKind
	Peer      peer.ID
	Revisions []cid.Cid
	// Gossip reports that received revisions came inline in a gossip
	// message rather than by a sync.
	Gossip bool
	Err    error
	Sync   *SyncResult
}

// Node is a running peerwiki replication node for one repo.
type Node struct {
	cfg   Config
	store *history.Store
	wiki  string
	host  host.Host
	log   *slog.Logger
	bans  *banList
	gate  *gate
	// pending is the invite to redeem at the first peer that takes it.
	pending *pendingJoin
	// joins limits the join attempts of strangers (join.go).
	joins *attemptLimiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	headsMu sync.Mutex // serialises refreshes of heads
	heads   headState
	locks   map[peer.ID]chan struct{}
	deep    deepening // shallow.go
	// indexing serialises indexPending.
	indexing sync.Mutex
	keySum   *history.KeySum // keysum.go: to record at Close
	// keySumSeen: the recorded summary, as cachedKeys last found it to
	// hold (keysum.go).
	keySumSeen *seenKeySum
	// keysTried: the saved key set was looked for (keyfile.go), and
	// keysSaved is the state the file holds, as far as this node knows.
	// Both under headsMu (or at Close).
	keysTried bool
	keysSaved history.HeadsState
	// keysGen: how many times the key set was carried on since it was
	// last read whole, at keysWhole (keyfile.go).
	keysGen   int
	keysWhole time.Time
	// fullKeyReads counts the times localKeys read every head.
	fullKeyReads int
	inbound      map[peer.ID]*inboundSync
	work         *workBudget
	wanted       map[peer.ID]*syncTrigger
	fromNet      map[cid.Cid]bool // revisions from peers: true if by gossip
	found        map[peer.ID]bool
	subs         []chan Event
	wake         chan struct{} // nudges the commit watcher
	// wakeLater has the commit watcher look a little later: a notice
	// announced the commit, and only its bookkeeping is left.
	wakeLater chan struct{}
	// announced are local revisions announced by one of the two ways
	// that find them (a notice, the commit watcher), for the other.
	announced map[cid.Cid]bool
	ownWAL    walState     // the write-ahead log as this node's last store left it (watch.go)
	storing   atomic.Int32 // stores of revisions from peers under way (watch.go)
	closed    bool
	// kept are the peers keepConnected dials; stored fires whenever
	// revisions from peers are stored, redial when the redials' waits
	// should be cut short.
	kept           map[peer.ID]bool
	stored, redial broadcast

	gossip *gossip
	// presence is the editors-on-pages channel (nil without gossip).
	presence *presence
	// wan is the node's wide-area networking (nil: off).
	wan *wan

	syncsRun, syncsServed, rejected atomic.Int64
	// peerHeads holds the heads syncs read from peers.
	peerHeads headPool
}

// New starts a node: the host listens, answers syncs, and (per Config)
// joins gossip, discovers peers and watches the store. Close stops it.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Store == nil || cfg.Identity == nil {
		return nil, errors.New("p2p: Store and Identity are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.ReannounceInterval <= 0 {
		cfg.ReannounceInterval = 45 * time.Second
	}
	if cfg.progress == (progressRule{}) {
		cfg.progress = defaultProgress
	}
	if cfg.shallowWhole == 0 {
		cfg.shallowWhole = shallowWholeUpTo
	}
	if cfg.wholeCopyFirst == 0 {
		cfg.wholeCopyFirst, cfg.wholeCopyEvery = wholeCopyFirst, wholeCopyEvery
	}
	if cfg.work == (workShare{}) {
		cfg.work = defaultWorkShare
	}
	if cfg.MDNSService == "" {
		cfg.MDNSService = MDNSService(cfg.Store.Wiki())
	}
	// A node reads the store from several goroutines at once (syncs,
	// gossip, the commit watcher).
	cfg.Store.KeepReaders(8)
	bans := newBanList()
	for _, p := range cfg.Deny {
		bans.ban(p, 100*365*24*time.Hour)
	}
	n := &Node{cfg: cfg, store: cfg.Store, wiki: cfg.Store.Wiki(), log: cfg.Logger, bans: bans,
		gate: newGate(cfg.Identity.ID, bans, cfg.Members), joins: newAttemptLimiter(joinAttempts, joinAttemptWindow),
		locks: map[peer.ID]chan struct{}{}, inbound: map[peer.ID]*inboundSync{}, work: newWorkBudget(cfg.work), wanted: map[peer.ID]*syncTrigger{},
		fromNet: map[cid.Cid]bool{}, wake: make(chan struct{}, 1), wakeLater: make(chan struct{}, 1), announced: map[cid.Cid]bool{}, kept: map[peer.ID]bool{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	var gater connmgr.ConnectionGater = n.gate
	if cfg.dialWatch != nil {
		gater = watchedDials{n.gate, cfg.dialWatch}
	}
	hc := hostConfig{key: cfg.Identity.Key, listen: cfg.Listen, gater: gater, member: n.gate.isMember,
		strangers: n.strangerProtocols(), agent: agentFor(cfg.Name)}
	if cfg.WAN.On() {
		n.wan = newWAN(n, cfg.WAN)
		limits := wanLimits()
		hc.quic, hc.relayPeers, hc.holePunch, hc.limits, hc.ping = true, n.wan.isRelay, n.wan.kinds, &limits, true
	}
	h, err := newHost(hc)
	if err != nil {
		n.cancel()
		return nil, err
	}
	n.host = h
	h.Network().Notify(n.gate.notifiee())
	if cfg.Pending != nil && len(cfg.Pending.Token) > 0 {
		n.pending = &pendingJoin{inv: cfg.Pending, tried: map[peer.ID]time.Time{}}
		h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
			if c.Stat().Direction == network.DirOutbound {
				go n.redeemPending(c.RemotePeer())
			}
		}})
	}
	h.SetStreamHandler(SyncProtocol, n.handleSync)
	h.SetStreamHandler(AckProtocol, n.handleAck)
	h.SetStreamHandler(JoinProtocol, n.handleJoin)
	n.watchMembers()
	// A change of this node's own addresses (a relay reservation made
	// again, a new network after a move) is when a peer that could not
	// be reached may be reachable: the redials go at once instead of at
	// the end of their backoff (up to maxRedialBackoff).
	if err := n.onHostEvents([]any{new(event.EvtLocalAddressesUpdated)}, func(any) { n.redial.fire() }); err != nil {
		n.Close()
		return nil, err
	}
	if cfg.SyncOnConnect {
		if err := n.watchConnections(); err != nil {
			n.Close()
			return nil, err
		}
	}
	if cfg.Gossip {
		if n.gossip, err = startGossip(n); err != nil {
			n.Close()
			return nil, err
		}
		if n.presence, err = startPresence(n, n.gossip); err != nil {
			n.Close()
			return nil, err
		}
	}
	if cfg.WatchCommits {
		if err := n.watchCommits(ctx); err != nil {
			n.Close()
			return nil, err
		}
		n.keepWholeCopies()
	}
	for _, p := range cfg.Peers {
		n.keepConnected(p)
	}
	if cfg.MDNS {
		if err := n.startMDNS(); err != nil {
			n.log.Warn("mDNS discovery is off", "err", err)
		}
	}
	if n.wan != nil {
		if err := n.wan.start(); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// ID returns the node's peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs returns the node's dialable addresses, each ending in /p2p/ID.
func (n *Node) Addrs() []ma.Multiaddr { return P2PAddrs(n.host) }

// Stats are counters for tests and the serve log.
type Stats struct {
	SyncsRun, SyncsServed, Rejected int64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{SyncsRun: n.syncsRun.Load(), SyncsServed: n.syncsServed.Load(), Rejected: n.rejected.Load()}
}

// Subscribe returns a channel of the node's events. Slow readers lose
// events rather than slow the node.
func (n *Node) Subscribe() <-chan Event {
	ch := make(chan Event, 256)
	n.mu.Lock()
	n.subs = append(n.subs, ch)
	n.mu.Unlock()
	return ch
}

func (n *Node) emit(e Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Close stops every goroutine of the node and the host.
func (n *Node) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	if n.presence != nil {
		n.presence.close()
	}
	if n.gossip != nil {
		n.gossip.close()
	}
	if n.wan != nil {
		n.wan.close()
	}
	err := n.host.Close()
	n.wg.Wait()
	n.saveKeys()
	n.saveKeySum()
	return err
}

// Connect dials a peer (bounded by connectTimeout) and protects the
// connection from the connection manager's trimming.
func (n *Node) Connect(ctx context.Context, info peer.AddrInfo) error {
	if info.ID == n.host.ID() {
		return errors.New("that address is this node")
	}
	if n.access(info.ID) == AccessRemoved {
		return n.checkMember(info.ID)
	}
	if err := connect(ctx, n.host, info); err != nil {
		return err
	}
	// libp2p's dial succeeds when the peer's gate refuses us after the
	// handshake (it closes the connection, and identify fails): that is
	// no connection.
	if n.host.Network().Connectedness(info.ID) == network.Limited {
		// Through a relay that limits its connections (a public one met
		// on the DHT; peerwiki relay does not): no sync or gossip goes
		// over it, but the other side's hole punch may make it direct.
		if err := n.waitDirect(ctx, info.ID, limitedWait); err != nil {
			return err
		}
	}
	if n.host.Network().Connectedness(info.ID) != network.Connected {
		return errShutOut
	}
	if n.isMember(info.ID) {
		n.host.ConnManager().Protect(info.ID, "peerwiki")
	}
	return nil
}

// Notice tells the node that a process on its repo committed, at
// committed: the commit watcher looks at once instead of waiting for the
// database file to change (the CLI next to a running node says so after
// every commit).
func (n *Node) Notice(committed time.Time) {
	n.log.Debug("commit notice", "committed_us", committed.UnixMicro(), "us", time.Now().UnixMicro())
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// NoticeCommits is Notice with what was committed, when the committing
// process could tell (history.Store.TakeLocalCommits): those revisions
// are announced at once, as they are, and the watcher only does its
// bookkeeping a little later (reading them back cost an edit's trip to
// its peers half a millisecond, and up to 3 ms at the 99th percentile).
// The member list hears of them first, as from the watcher. A revision
// that is none, or another wiki's, refuses the notice (errBadRequest).
func (n *Node) NoticeCommits(committed time.Time, commits []history.LocalCommit) error {
	if len(commits) == 0 || !n.cfg.WatchCommits {
		n.Notice(committed)
		return nil
	}
	revs := make([]history.NewRevision, 0, len(commits))
	blocks := make(map[cid.Cid][]history.Block, len(commits))
	for _, c := range commits {
		rev, err := n.noticedRevision(c)
		if err != nil {
			return err // refused; a commit there was, the watcher finds
		}
		revs = append(revs, rev)
		blocks[c.Rev.Cid] = c.Blocks
	}
	n.log.Debug("commit notice", "committed_us", committed.UnixMicro(), "revisions", len(commits), "us", time.Now().UnixMicro())
	if revs = n.claimAnnounce(revs); len(revs) > 0 {
		n.observeLocal(revs)
		n.announceWith(revs, true, blocks)
	}
	select {
	case n.wakeLater <- struct{}{}:
	default:
	}
	return nil
}

// noticedRevision is c's revision as its own block says (a revision of
// this wiki; its page from the block, not from the notice: the member
// list rereads itself by page), the notice's head flag kept.
func (n *Node) noticedRevision(c history.LocalCommit) (history.NewRevision, error) {
	for _, b := range c.Blocks {
		if !b.Cid.Equals(c.Rev.Cid) {
			continue
		}
		r, err := history.DecodeRevision(b.Data)
		if err != nil {
			return history.NewRevision{}, fmt.Errorf("%w: revision %s: %v", errBadRequest, c.Rev.Cid, err)
		}
		if r.Wiki != n.wiki {
			return history.NewRevision{}, fmt.Errorf("%w: revision %s: %w", errBadRequest, c.Rev.Cid, history.ErrWrongWiki)
		}
		page := c.Rev.Cid
		if r.Page != nil {
			page = r.Page.Cid
		}
		return history.NewRevision{Cid: c.Rev.Cid, Page: page, Head: c.Rev.Head}, nil
	}
	return history.NewRevision{}, fmt.Errorf("%w: revision %s without its block", errBadRequest, c.Rev.Cid)
}

// claimAnnounce returns those of revs that neither a notice nor the
// commit watcher announced yet, and marks them announced. Each local
// revision is looked for twice at most (once each way): the second look
// forgets it. Revisions from peers pass (no notice names them).
func (n *Node) claimAnnounce(revs []history.NewRevision) []history.NewRevision {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.announced) > 10_000 {
		clear(n.announced) // the watcher's own finds, never noticed
	}
	out := revs[:0:0]
	for _, r := range revs {
		if _, ok := n.fromNet[r.Cid]; ok {
			out = append(out, r)
			continue
		}
		if n.announced[r.Cid] {
			delete(n.announced, r.Cid)
			continue
		}
		n.announced[r.Cid] = true
		out = append(out, r)
	}
	return out
}

// announcedAll reports whether a notice announced every one of revs and
// the commit watcher has not looked at them since (see claimAnnounce).
func (n *Node) announcedAll(revs []cid.Cid) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range revs {
		if !n.announced[c] {
			return false
		}
	}
	return true
}

// markFromNetwork remembers revisions that arrived from peers, so the
// commit watcher does not announce them as local commits, and whether
// they came by gossip (which forwards them itself) or by a sync.
func (n *Node) markFromNetwork(c cid.Cid, viaGossip bool) {
	if c.Prefix().Codec != history.CodecDagCBOR || !n.cfg.WatchCommits {
		return // no watcher to tell (a one-shot sync or join)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.fromNet) > 200_000 {
		clear(n.fromNet)
	}
	n.fromNet[c] = n.fromNet[c] || viaGossip
}

func (n *Node) isFromNetwork(c cid.Cid) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.fromNet[c]
	return ok
}

// allByGossip reports whether every one of revs arrived by gossip.
func (n *Node) allByGossip(revs []history.NewRevision) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range revs {
		if !n.fromNet[r.Cid] {
			return false
		}
	}
	return true
}

// syncTrigger coalesces requests to sync with one peer: while a sync
// runs, further requests only set again.
type syncTrigger struct {
	running, again bool
}

// Trigger asks for a sync with p soon (a member: nothing is synced with
// anyone else). It never blocks; requests made while a sync with p runs
// are coalesced into one more run.
func (n *Node) Trigger(p peer.ID) {
	if p == n.host.ID() || n.ctx.Err() != nil || !n.isMember(p) {
		return
	}
	n.mu.Lock()
	t := n.wanted[p]
	if t == nil {
		t = &syncTrigger{}
		n.wanted[p] = t
	}
	if t.running || n.closed {
		t.again = t.running
		n.mu.Unlock()
		return
	}
	t.running = true
	n.wg.Add(1) // under mu: Close sets closed under mu before it waits
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		backoff := 500 * time.Millisecond
		for attempt := 0; ; attempt++ {
			res, err := n.SyncPeer(n.ctx, p)
			if err == nil {
				n.emit(Event{Kind: EventSynced, Peer: p, Sync: &res})
				if res.Received > 0 || res.Sent > 0 {
					n.log.Info("synced", "peer", p, "received", res.Received, "sent", res.Sent, "ms", res.Duration.Milliseconds())
				}
			}
			n.mu.Lock()
			retry := err != nil && !badData(err) && !errors.Is(err, ErrNotMember) && attempt < 5 && n.host.Network().Connectedness(p) == network.Connected
			if !t.again && !retry {
				t.running = false
				n.mu.Unlock()
				return
			}
			t.again = false
			n.mu.Unlock()
			if err != nil {
				select {
				case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)))):
				case <-n.ctx.Done():
					return
				}
				backoff *= 2
			}
		}
	}()
}

// watchConnections starts a sync on every new connection this node
// dialled to a member, once identify has run on it.
func (n *Node) watchConnections() error {
	return n.onHostEvents([]any{new(event.EvtPeerIdentificationCompleted)}, func(e any) {
		ev := e.(event.EvtPeerIdentificationCompleted)
		if !n.isMember(ev.Peer) {
			return
		}
		n.host.ConnManager().Protect(ev.Peer, "peerwiki")
		if ev.Conn != nil && ev.Conn.Stat().Direction == network.DirOutbound {
			n.Trigger(ev.Peer)
		}
	})
}

// onHostEvents calls handle with each of the host's events of the given
// types (pointers to them, as the event bus takes them), one at a time,
// until the node stops.
func (n *Node) onHostEvents(types []any, handle func(any)) error {
	sub, err := n.host.EventBus().Subscribe(types)
	if err != nil {
		return fmt.Errorf("subscribe to the host's events: %w", err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer sub.Close()
		for {
			select {
			case <-n.ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				handle(e)
			}
		}
	}()
	return nil
}

// keepConnected dials an explicit peer now and, with Config.Reconnect,
// again whenever it is not connected, with exponential backoff while it
// stays unreachable, capped at maxRedialBackoff. It dials only while the
// member list names the peer a member, and stops for good once it says
// the peer was removed.
func (n *Node) keepConnected(info peer.AddrInfo) {
	if info.ID == n.host.ID() || n.access(info.ID) == AccessRemoved {
		return
	}
	n.host.Peerstore().AddAddrs(info.ID, info.Addrs, time.Hour)
	n.mu.Lock()
	if n.kept[info.ID] || n.closed {
		n.mu.Unlock()
		return
	}
	n.kept[info.ID] = true
	n.wg.Add(1) // under mu: Close sets closed under mu before it waits
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		backoff := time.Second
		for {
			if n.access(info.ID) == AccessRemoved {
				n.mu.Lock()
				delete(n.kept, info.ID)
				n.mu.Unlock()
				return
			}
			// A stranger (a member this replica has not heard of yet)
			// is looked at again later: nothing but a join would be
			// exchanged with it.
			if n.isMember(info.ID) && n.host.Network().Connectedness(info.ID) != network.Connected {
				if err := n.Connect(n.ctx, info); err != nil {
					if n.ctx.Err() != nil {
						return
					}
					n.log.Warn(fmt.Sprintf("could not reach peer (%v)", dialFailure(err)), "peer", info.ID, "err", firstLine(err))
					backoff = min(backoff*2, maxRedialBackoff)
				} else {
					n.log.Info("connected", "peer", info.ID)
					backoff = time.Second
				}
			}
			if !n.cfg.Reconnect {
				return
			}
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff/4)))):
			case <-n.redial.wait():
				// Not sooner than a quarter second after the last try.
				time.Sleep(redialSoonest)
			}
		}
	}()
}

// redialSoonest is the least time between two redials of a peer.
const redialSoonest = 250 * time.Millisecond

// broadcast wakes everyone waiting on it at once: a channel closed, and
// replaced, each time it fires.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait is closed the next time b fires.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
	}
	b.ch = make(chan struct{})
}

// limitedWait is how long Connect waits for a hole punch to turn a
// limited relayed connection into a direct one.
const limitedWait = 15 * time.Second

// errLimitedOnly is Connect's error when a peer was reached only through
// a relay that limits connections, and no hole punch got through.
var errLimitedOnly = errors.New("reached only through a relay that limits its connections, and no hole punch got through (a team's own 'peerwiki relay' carries syncs)")

// waitDirect waits, up to d, until the node has a connection to p that
// is not limited.
func (n *Node) waitDirect(ctx context.Context, p peer.ID, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n.host.Network().Connectedness(p) == network.Limited {
		select {
		case <-ctx.Done():
			return errLimitedOnly
		case <-tick.C:
		}
	}
	return nil
}

// maxRedialBackoff caps the wait between dials of an unreachable peer. It
// bounds how long replicas stay apart after a partition heals when nothing
// else brings them together (no mDNS, few peers): with a cap of a minute a
// pair of replicas cut off for a minute could wait most of another one.
// A dial of a dead address every 10 s costs next to nothing.
const maxRedialBackoff = 10 * time.Second

func firstLine(err error) string {
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return clip(s)
}

// watchedDials is a gate whose dials a test watches (Config.dialWatch).
type watchedDials struct {
	*gate
	watch func(peer.ID) bool
}

func (w watchedDials) InterceptPeerDial(p peer.ID) bool {
	return w.watch(p) && w.gate.InterceptPeerDial(p)
}
