package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"peerwiki/history"
)

// Gossip limits.
const (
	// MaxAnnouncement bounds a heads message: blocks are inlined only while
	// the message stays under it; a bigger change is announced by CIDs and
	// fetched with a sync.
	MaxAnnouncement = 64 << 10
	// maxAnnouncedHeads bounds the CIDs one message names.
	maxAnnouncedHeads = 512
	// pubsubMaxMessage is the transport limit, the same on every peer.
	pubsubMaxMessage = 256 << 10
)

// UnsignedHeadsProtocol is never opened: a node lists it (libp2p's
// identify tells its peers) to say that it takes heads announcements
// GossipSub did not sign. Builds before it require GossipSub's signature
// on every message; a node signs its announcements while any peer on
// the heads topic does not list it (gossip.olderPeers).
const UnsignedHeadsProtocol = protocol.ID("/peerwiki/heads-unsigned/1")

// HeadsTopic is the GossipSub topic of a wiki's head announcements.
func HeadsTopic(wiki string) string { return "peerwiki/" + wiki + "/heads" }

// announcement is a heads message: new heads of local commits, with their
// blocks inlined when small, and the sender's whole head set hash so a
// periodic re-announce lets a lagging peer notice it should sync.
type announcement struct {
	Wiki   string      `cbor:"w"`
	Heads  [][]byte    `cbor:"h"`
	Blocks []wireBlock `cbor:"b,omitempty"`
	// Sum is the sender's history.HeadsHash; only periodic messages carry it.
	Sum []byte `cbor:"s,omitempty"`
	// Periodic marks a re-announce (heads are a few, Sum is what counts).
	Periodic bool `cbor:"p,omitempty"`
	// Nonce makes each unsigned announcement a message of its own:
	// GossipSub knows an unsigned message by its bytes (headsMessageID),
	// and two nodes can say the same bytes (the periodic announcements of
	// two replicas with the same heads, two relays of one revision): the
	// second would be taken for the first, and a node's own would not go
	// out at all (GossipSub drops a publish of what it delivered). Random,
	// never 0; absent from signed announcements, which builds before it
	// read (strictly: an unknown field is refused).
	Nonce uint64 `cbor:"n,omitempty"`
}

type wireBlock struct {
	Cid  []byte `cbor:"c"`
	Data []byte `cbor:"d"`
}

// heard is a validated announcement handed to the gossip worker.
type heard struct {
	from   peer.ID // the peer that forwarded it (connected)
	heads  []cid.Cid
	blocks []history.Block
	// checked is blocks as the store's checks passed them in the
	// validator, for the worker to store without checking them again.
	checked *history.Checked
	sum     []byte
	period  bool
	// When the validator began and ended, and the worker took it: the
	// stages of a live edit's trip, in the debug log (scripts/trip-stages.py).
	validating, validated, taken time.Time
}

type gossip struct {
	n        *Node
	key      crypto.PrivKey // the host's: signs announcements for older peers
	ps       *pubsub.PubSub
	topic    *pubsub.Topic
	sub      *pubsub.Subscription
	peers    *pubsub.TopicEventHandler
	work     chan heard
	lastJoin atomic.Int64 // unix ns of the latest peer joining the topic
	// lastPublish is unix ns of this node's latest announcement of its
	// own commits.
	lastPublish atomic.Int64
	// lastLive is unix ns of the latest store of a live edit (indexSoon);
	// index wakes indexLoop.
	lastLive atomic.Int64
	index    chan struct{}
	// topicPeers are the peers subscribed to the heads topic (peerLoop).
	mu         sync.Mutex
	topicPeers map[peer.ID]struct{}
	// signed counts the announcements signed for older peers.
	signed atomic.Int64
}

// meshWindow is how long after a peer joins the topic its mesh links may
// be missing (they form at heartbeats, every second): revisions that
// arrive then are relayed by new announcements, since GossipSub may not
// forward them to that peer.
const meshWindow = 5 * time.Second

// meshForming reports whether a peer joined the topic within meshWindow.
func (g *gossip) meshForming() bool {
	return time.Since(time.Unix(0, g.lastJoin.Load())) < meshWindow
}

// startGossip joins the wiki's heads topic with members only.
//
// GossipSub's peer filter alone would not do: it keeps a peer out of
// the mesh and out of IHAVE/IWANT gossip, but a flood publish still goes
// to every peer subscribed to the topic, and a filtered peer's messages
// and subscriptions are still taken in. So non-members are also on
// GossipSub's blacklist (no stream is opened to them, so they are never
// sent our subscriptions, which name the wiki id, nor any message; a
// message they sent is dropped, and so is one they signed that a member
// forwarded: presence; announcements name no author, see Signing), and
// an RPC inspector drops whatever a non-member sends before it is read
// (its subscriptions included). A stranger's own pubsub stream never
// gets that far: the node's stream gate answers a stranger only on the
// join protocol (gateStreams). What a stranger at an admin's node learns
// of gossip is therefore nothing.
func startGossip(n *Node) (*gossip, error) {
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(pubsubMaxMessage),
		// GossipSub's own signature is not asked for (see Signing,
		// below), and is checked wherever a message carries one.
		pubsub.WithMessageSignaturePolicy(pubsub.LaxNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithPeerExchange(false),
		pubsub.WithLogger(slog.New(slog.DiscardHandler)),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return n.isMember(p) }),
		pubsub.WithBlacklist(nonMembers{n.gate}),
		pubsub.WithAppSpecificRpcInspector(func(p peer.ID, _ *pubsub.RPC) error {
			if !n.isMember(p) {
				return ErrNotMember
			}
			return nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	g := &gossip{n: n, key: n.host.Peerstore().PrivKey(n.host.ID()), ps: ps, work: make(chan heard, 256), index: make(chan struct{}, 1),
		topicPeers: map[peer.ID]struct{}{}}
	if g.key == nil {
		return nil, errors.New("start gossip: the host has no private key")
	}
	name := HeadsTopic(n.wiki)
	// Inline: the validator is CPU only and bounded by the message size,
	// so it runs in GossipSub's validation worker rather than in a
	// goroutine of its own for every message received.
	if err := ps.RegisterTopicValidator(name, g.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	if g.topic, err = ps.Join(name, pubsub.WithTopicMessageIdFn(headsMessageID)); err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	if g.sub, err = g.topic.Subscribe(pubsub.WithBufferSize(1024)); err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	if g.peers, err = g.topic.EventHandler(); err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	n.host.SetStreamHandler(UnsignedHeadsProtocol, func(s network.Stream) { s.Reset() })
	n.wg.Add(5)
	go g.peerLoop()
	go g.readLoop()
	go g.workLoop()
	go g.indexLoop()
	go g.reannounceLoop()
	return g, nil
}

// nonMembers is GossipSub's blacklist: every peer the member list does
// not name a member, as it says now. Nothing is added to it by hand.
type nonMembers struct{ g *gate }

func (b nonMembers) Add(peer.ID) bool { return false }
func (b nonMembers) Contains(p peer.ID) bool {
	// GossipSub asks about a message's author too: an unsigned one names
	// none, and its forwarder is asked about on its own.
	return p != "" && !b.g.isMember(p)
}

// Signing. GossipSub signs a message with its publisher's key so that
// whoever it reaches knows which peer published it; peerwiki never asks
// (the forwarder, the connection's authenticated peer, is who answers
// for a message: it is banned for an invalid one, and it is the one a
// sync is asked of), and what an announcement carries stands on its own:
// every inline revision is signed by its author and checked against it,
// every block against its CID, and a head named is only a reason to sync.
// The signature cost an edit's trip to a running replica three Ed25519
// operations (signing, GossipSub checking its own message as it
// publishes it, and the receiver checking it), about 0.3 ms of the 2 ms
// commit-to-stored trip (BENCHMARKS.md). So announcements go unsigned and
// without an author or sequence number, known by their bytes
// (headsMessageID), with a random Nonce to set each apart; presence,
// whose author is what it says, is signed as before (presence.sign).
// A message that carries a signature still has it checked by GossipSub
// before the validator sees it. Builds before this one refuse unsigned
// messages: while any peer on the topic does not list
// UnsignedHeadsProtocol, announcements are signed as before, without the
// nonce (those builds would refuse the unknown field).

// headsMessageID is how GossipSub knows a heads message (its seen cache,
// IHAVE and IWANT): a signed one, as GossipSub does by default, by its
// author and sequence number; an unsigned one by a hash of its bytes.
// An unsigned message naming an author does not take the author's ids:
// it could otherwise take the id of a message its author has yet to
// publish, and have that dropped as seen.
func headsMessageID(m *pb.Message) string {
	if m.Signature != nil {
		return pubsub.DefaultMsgIdFn(m)
	}
	sum := sha256.Sum256(m.Data)
	return string(sum[:])
}

// olderPeers reports whether a peer on the heads topic has not said (by
// listing UnsignedHeadsProtocol) that it takes unsigned announcements:
// an older build, or a peer whose identify has not come yet.
func (g *gossip) olderPeers() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := range g.topicPeers {
		if ok, err := g.n.host.Peerstore().SupportsProtocols(p, UnsignedHeadsProtocol); err != nil || len(ok) == 0 {
			return true
		}
	}
	return false
}

// publish publishes an announcement: unsigned with a nonce, or signed as
// older builds require (see Signing). It returns the message's size.
func (g *gossip) publish(ctx context.Context, a announcement) (int, error) {
	var opts []pubsub.PubOpt
	if g.olderPeers() {
		opts = append(opts, pubsub.WithSecretKeyAndPeerId(g.key, g.n.host.ID()))
		g.signed.Add(1)
	} else {
		a.Nonce = rand.Uint64() | 1
	}
	data, err := cbor.Marshal(a)
	if err != nil {
		return 0, err
	}
	return len(data), g.topic.Publish(ctx, data, opts...)
}

func (g *gossip) close() {
	g.peers.Cancel()
	g.sub.Cancel()
	g.topic.Close()
}

// validate runs for every message before it is delivered or forwarded:
// strict decoding, size, the wiki id, each inline block against its CID,
// and each inline revision's wiki and signature. CPU only; anything
// missing is fetched later by a sync. GossipSub validates our own
// messages too, as we publish them: they are made of blocks our store
// verified or we signed, and readLoop drops them, so they are passed as
// they are (checking them cost an edit about 0.2 ms on its way out).
func (g *gossip) validate(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if from == g.n.host.ID() {
		return pubsub.ValidationAccept
	}
	start := time.Now()
	h, err := g.decode(m)
	h.validating, h.validated = start, time.Now()
	if err != nil {
		g.n.log.Warn("rejected a gossip message", "from", from, "author", m.GetFrom(), "err", clip(err.Error()))
		g.n.rejected.Add(1)
		g.n.emit(Event{Kind: EventRejected, Peer: from, Err: err})
		// The forwarder validated it before forwarding; an honest one never would.
		go func() {
			g.n.bans.ban(from, banTime)
			_ = g.n.host.Network().ClosePeer(from)
		}()
		return pubsub.ValidationReject
	}
	m.ValidatorData = h
	return pubsub.ValidationAccept
}

func (g *gossip) decode(m *pubsub.Message) (heard, error) {
	var h heard
	if len(m.Data) > MaxAnnouncement {
		return h, fmt.Errorf("message of %d bytes is over the %d limit", len(m.Data), MaxAnnouncement)
	}
	if m.Signature == nil && (m.From != nil || m.Seqno != nil || m.Key != nil) {
		return h, errors.New("unsigned message names an author")
	}
	var a announcement
	if err := wireDec.Unmarshal(m.Data, &a); err != nil {
		return h, fmt.Errorf("malformed message: %v", err)
	}
	if a.Wiki != g.n.wiki {
		return h, fmt.Errorf("message is of wiki %q", clip(a.Wiki))
	}
	if len(a.Heads) > maxAnnouncedHeads || (len(a.Sum) != 32 && (a.Periodic || len(a.Sum) != 0)) {
		return h, errors.New("malformed message: head list")
	}
	heads, err := decodeCIDs(a.Heads)
	if err != nil {
		return h, err
	}
	for _, wb := range a.Blocks {
		c, err := cid.Cast(wb.Cid)
		if err != nil {
			return h, fmt.Errorf("inline block: bad CID: %v", err)
		}
		h.blocks = append(h.blocks, history.Block{Cid: c, Data: wb.Data})
	}
	// The store's own checks (each block against its CID, each revision's
	// wiki and signature), done once: the worker stores what passed them
	// (checking again there was a tenth of a millisecond of a live edit's
	// way to this replica).
	if len(h.blocks) > 0 {
		if h.checked, err = g.n.store.Check(h.blocks); err != nil {
			return h, fmt.Errorf("inline blocks: %w", err)
		}
	}
	h.from, h.heads, h.sum, h.period = m.ReceivedFrom, heads, a.Sum, a.Periodic
	return h, nil
}

func (g *gossip) peerLoop() {
	defer g.n.wg.Done()
	for {
		e, err := g.peers.NextPeerEvent(g.n.ctx)
		if err != nil {
			return
		}
		g.mu.Lock()
		if e.Type == pubsub.PeerJoin {
			g.topicPeers[e.Peer] = struct{}{}
		} else {
			delete(g.topicPeers, e.Peer)
		}
		g.mu.Unlock()
		if e.Type == pubsub.PeerJoin {
			now := time.Now()
			g.lastJoin.Store(now.UnixNano())
			// What this node published just before the peer joined the
			// topic (an edit made as a connection came back, before the
			// peer's subscription arrived) went to the peers it knew
			// then: a sync with the newcomer carries it, where the next
			// periodic announcement would, seconds later.
			if now.Sub(time.Unix(0, g.lastPublish.Load())) < meshWindow {
				g.n.Trigger(e.Peer)
			}
		}
	}
}

func (g *gossip) readLoop() {
	defer g.n.wg.Done()
	for {
		m, err := g.sub.Next(g.n.ctx)
		if err != nil {
			return
		}
		if m.Local || m.ReceivedFrom == g.n.host.ID() {
			continue
		}
		h, ok := m.ValidatorData.(heard)
		if !ok {
			continue
		}
		select {
		case g.work <- h:
		default:
			// Too far behind: a sync catches up with everything at once.
			g.n.Trigger(h.from)
		}
	}
}

// workLoop stores inline blocks (so an edit usually arrives in one hop)
// and falls back to a sync with the forwarder when something is missing.
func (g *gossip) workLoop() {
	defer g.n.wg.Done()
	for {
		var h heard
		select {
		case <-g.n.ctx.Done():
			return
		case h = <-g.work:
		}
		h.taken = time.Now()
		ctx := g.n.ctx
		missing, err := g.n.store.Missing(ctx, h.heads)
		looked := time.Now()
		if err != nil {
			continue
		}
		if len(missing) > 0 && len(h.blocks) > 0 {
			res, err := g.n.putPrechecked(ctx, h.from, h.blocks, h.checked, true)
			switch {
			case err == nil:
				g.indexSoon(res)
				if len(res.Revisions) > 0 {
					g.n.log.Debug("stored from gossip", "from", h.from, "revisions", len(res.Revisions), "last", res.Revisions[len(res.Revisions)-1],
						"validating_us", h.validating.UnixMicro(), "validated_us", h.validated.UnixMicro(), "taken_us", h.taken.UnixMicro(),
						"looked_us", looked.UnixMicro(), "us", time.Now().UnixMicro())
				}
				missing = stillMissing(missing, res)
			case errors.Is(err, history.ErrMissingParent) || errors.Is(err, history.ErrMissingBody):
				// We are behind: a sync brings the rest.
			case badData(err):
				g.n.punish(h.from, fmt.Errorf("%w: gossip blocks: %w", errProtocol, err))
				continue
			}
		}
		if len(missing) > 0 {
			g.n.Trigger(h.from)
			continue
		}
		if h.period {
			if hs, err := g.n.localHeads(ctx); err == nil && string(hs.sum[:]) != string(h.sum) {
				g.n.Trigger(h.from)
			}
		}
	}
}

// indexSoon has indexLoop write the search rows that a live edit's store
// left for later (history.Checked.Live), off the edit's way to its reader.
func (g *gossip) indexSoon(res *history.PutResult) {
	if len(res.Pages) == 0 {
		return
	}
	g.lastLive.Store(time.Now().UnixNano())
	select {
	case g.index <- struct{}{}:
	default:
	}
}

// Search rows of live edits: written once no edit came for indexQuiet
// (a burst of them in one transaction, and none while the next is being
// stored), and at most indexMaxWait after the first. With 150 ms and
// edits 145 ms apart, each edit had a transaction of its own for its
// search row, which often held the write lock as the next edit arrived:
// more CPU an edit than writing the row with it, and a longer tail.
const (
	indexQuiet   = time.Second
	indexMaxWait = 10 * time.Second
)

// indexLoop writes the search rows that live edits left for later.
func (g *gossip) indexLoop() {
	defer g.n.wg.Done()
	for {
		select {
		case <-g.n.ctx.Done():
			return
		case <-g.index:
		}
		first := time.Now()
		for {
			quiet := time.Since(time.Unix(0, g.lastLive.Load()))
			if quiet >= indexQuiet || time.Since(first) >= indexMaxWait {
				break
			}
			select {
			case <-g.n.ctx.Done():
				return
			case <-time.After(indexQuiet - quiet):
			}
		}
		n := g.n
		var done int
		var err error
		atLowPriority(func() { done, err = n.indexPending(n.ctx, true) })
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("indexing live edits for search failed (the next search does it)", "err", err)
		} else if done > 0 {
			n.log.Debug("indexed live edits for search", "pages", done)
		}
	}
}

// stillMissing is what of missing a store did not bring: a head it
// deferred, or whose blocks the message lacked (or that a sync stored
// meanwhile: the sync it then starts finds nothing). It was a second
// read of the database for every edit received.
func stillMissing(missing []cid.Cid, res *history.PutResult) []cid.Cid {
	stored := make(map[cid.Cid]bool, len(res.Revisions))
	for _, c := range res.Revisions {
		stored[c] = true
	}
	var out []cid.Cid
	for _, c := range missing {
		if !stored[c] {
			out = append(out, c)
		}
	}
	return out
}

// announce publishes new revisions: their CIDs, and with inline their
// blocks (bodies first, parents first) while the message stays under
// MaxAnnouncement.
func (g *gossip) announce(ctx context.Context, revs []history.NewRevision, inline bool, have map[cid.Cid][]history.Block) error {
	// No head-set hash here: reading the whole head set would delay every
	// edit's announcement, and only periodic ones need it.
	a := announcement{Wiki: g.n.wiki}
	size := 128
	for _, r := range revs {
		if len(a.Heads) >= maxAnnouncedHeads {
			break
		}
		if r.Head {
			a.Heads = append(a.Heads, r.Cid.Bytes())
			size += 40
		}
		if !inline {
			continue
		}
		blocks, ok := have[r.Cid]
		if !ok {
			var err error
			if blocks, err = g.n.store.RevisionBlocks(ctx, r.Cid); err != nil {
				return err
			}
		}
		add := 0
		for _, b := range blocks {
			add += len(b.Data) + 48
		}
		if size+add > MaxAnnouncement-1024 {
			inline = false
			a.Blocks = nil
			continue
		}
		size += add
		for _, b := range blocks {
			a.Blocks = append(a.Blocks, wireBlock{Cid: b.Cid.Bytes(), Data: b.Data})
		}
	}
	if len(a.Heads) == 0 {
		return nil
	}
	size, err := g.publish(ctx, a)
	if err != nil {
		return fmt.Errorf("publish heads: %w", err)
	}
	g.lastPublish.Store(time.Now().UnixNano())
	g.n.log.Debug("published", "revisions", len(revs), "bytes", size, "us", time.Now().UnixMicro())
	return nil
}

// reannounceLoop publishes the head set's hash (and the newest heads)
// every ReannounceInterval ±30%: gossip is lossy, and a peer that missed
// something notices the different hash and syncs.
func (g *gossip) reannounceLoop() {
	defer g.n.wg.Done()
	base := g.n.cfg.ReannounceInterval
	for {
		d := base*7/10 + time.Duration(rand.Int64N(int64(base*6/10)+1))
		select {
		case <-g.n.ctx.Done():
			return
		case <-time.After(d):
		}
		if len(g.topic.ListPeers()) == 0 {
			continue
		}
		hs, err := g.n.localHeads(g.n.ctx)
		if err != nil {
			continue
		}
		a := announcement{Wiki: g.n.wiki, Sum: hs.sum[:], Periodic: true, Heads: [][]byte{}}
		for i, c := range hs.heads {
			if i >= 16 {
				break
			}
			a.Heads = append(a.Heads, c.Bytes())
		}
		_, _ = g.publish(g.n.ctx, a)
	}
}
