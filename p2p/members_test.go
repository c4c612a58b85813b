package p2p

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"

	"peerwiki/history"
)

// fakeMembers is a member list for tests: who is what, set by the test,
// and invites whose token is "good" (anything else is refused with
// "invite expired").
type fakeMembers struct {
	self    peer.ID
	admin   bool
	changed chan struct{}
	// observed counts Observe calls.
	observed atomic.Int64

	mu     sync.Mutex
	access map[peer.ID]Access
	names  map[peer.ID]string
}

func newFakeMembers(self peer.ID, admin bool, members ...peer.ID) *fakeMembers {
	f := &fakeMembers{self: self, admin: admin, changed: make(chan struct{}, 1), access: map[peer.ID]Access{}, names: map[peer.ID]string{}}
	for _, p := range members {
		f.access[p] = AccessMember
	}
	return f
}

func (f *fakeMembers) Access(p peer.ID) Access {
	if p == f.self {
		return AccessMember
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.access[p]
}

func (f *fakeMembers) CanRedeem() bool { return f.admin }

func (f *fakeMembers) Redeem(_ context.Context, token []byte, p peer.ID, name string) (string, error) {
	if string(token) != "good" {
		return "", errors.New("invite expired")
	}
	f.mu.Lock()
	f.names[p] = name
	f.mu.Unlock()
	f.set(p, AccessMember)
	return "member", nil
}

func (f *fakeMembers) Changed() <-chan struct{} { return f.changed }

func (f *fakeMembers) Observe(context.Context, *history.PutResult) { f.observed.Add(1) }

// set changes what the list says of p, and says the list changed.
func (f *fakeMembers) set(p peer.ID, a Access) {
	f.mu.Lock()
	f.access[p] = a
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// memberNode starts a node for r whose member list names members (and r
// itself); admin says whether it may redeem invites.
func memberNode(t *testing.T, r *replica, admin bool, members []peer.ID, change func(*Config)) (*Node, *fakeMembers) {
	t.Helper()
	fm := newFakeMembers(r.ID.ID, admin, members...)
	nd := startNode(t, r, func(cfg *Config) {
		cfg.Members = fm
		if change != nil {
			change(cfg)
		}
	})
	return nd, fm
}

// connsTo counts nd's connections to p.
func connsTo(nd *Node, p peer.ID) int { return len(nd.Host().Network().ConnsToPeer(p)) }

// A stranger at a node that takes no new members is refused at the
// handshake: the node holds no connection to it, no stream gets through,
// and a replica that is the stranger is told why.
func TestStrangerIsRefusedByANonAdmin(t *testing.T) {
	r := newReplica(t)
	r.addHistory(1, 1, "Private")
	nd, _ := memberNode(t, r, false, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	stranger := newHostile(t)
	_ = stranger.Connect(ctx, info(nd.Host())) // libp2p's dial succeeds: the refusal comes after it
	if _, err := stranger.NewStream(ctx, nd.ID(), SyncProtocol); err == nil {
		t.Fatal("a stranger opened a sync stream")
	}
	if n := connsTo(nd, stranger.ID()); n != 0 {
		t.Fatalf("the node holds %d connections to a stranger", n)
	}

	other := startNode(t, newReplica(t), nil)
	if err := other.Connect(ctx, info(nd.Host())); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a stranger replica's dial: %v, want ErrNotMember", err)
	}
	outcomes, _ := other.SyncAll(ctx, []peer.AddrInfo{info(nd.Host())}, 2*time.Second, time.Second)
	if len(outcomes) != 1 || outcomes[0].Reached || !strings.Contains(outcomes[0].Err.Error(), "not a member of the wiki") {
		t.Fatalf("a stranger replica's sync: %+v", outcomes)
	}
	if st := nd.Stats(); st.SyncsServed != 0 {
		t.Fatalf("the node served %d syncs to strangers", st.SyncsServed)
	}
}

// A stranger at an admin's node gets through the gate (it may hold an
// invite), and then gets nothing but the join protocol: every other
// stream is refused, identify tells it nothing, no gossip reaches it
// (a member's does), and its connection is closed after its window.
func TestStrangerAtAnAdminGetsOnlyTheJoinProtocol(t *testing.T) {
	r, m := newReplica(t), newReplica(t)
	pages := r.addHistory(1, 1, "Private")
	gossiping := func(cfg *Config) {
		cfg.Gossip, cfg.SyncOnConnect, cfg.WatchCommits, cfg.PollInterval = true, true, true, 20*time.Millisecond
	}
	nd, _ := memberNode(t, r, true, []peer.ID{m.ID.ID}, gossiping)
	nd.gate.window = 4 * time.Second
	events := nd.Subscribe()
	nm, _ := memberNode(t, m, false, []peer.ID{r.ID.ID}, gossiping)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	// The stranger runs GossipSub on the wiki's topic, as a member would.
	stranger := newHostile(t)
	ps, err := pubsub.NewGossipSub(ctx, stranger, pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(HeadsTopic(r.Store.Wiki()))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	connectNodes(t, nm, nd)
	if err := stranger.Connect(ctx, info(nd.Host())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the admin's node to hold the stranger's connection", func() bool { return connsTo(nd, stranger.ID()) == 1 })

	for _, proto := range []protocol.ID{SyncProtocol, AckProtocol, identify.ID, identify.IDPush, pubsub.GossipSubID_v11, pubsub.GossipSubID_v12} {
		s, err := stranger.NewStream(ctx, nd.ID(), proto)
		if err == nil {
			_, err = s.Read(make([]byte, 1))
			s.Reset()
		}
		if err == nil {
			t.Errorf("a stranger read from a %s stream", proto)
		}
	}
	if protos, _ := stranger.Peerstore().GetProtocols(nd.ID()); len(protos) != 0 {
		t.Errorf("the stranger learned the node's protocols: %v", protos)
	}
	if agent, err := stranger.Peerstore().Get(nd.ID(), "AgentVersion"); err == nil {
		t.Errorf("the stranger learned the node's agent: %v", agent)
	}

	waitFor(t, 5*time.Second, "the member to be a topic peer", func() bool {
		return slices.Contains(nd.gossip.topic.ListPeers(), nm.ID())
	})
	c := r.edit(pages[0], "an edit members hear of")
	waitFor(t, 5*time.Second, "the edit to reach the member", func() bool {
		ok, _ := m.Store.Has(context.Background(), c)
		return ok
	})
	if connsTo(nd, stranger.ID()) != 1 {
		t.Fatal("the stranger was disconnected before the edit was published")
	}
	quiet, cancelQuiet := context.WithTimeout(ctx, time.Second)
	defer cancelQuiet()
	if msg, err := sub.Next(quiet); err == nil {
		t.Fatalf("the stranger received a gossip message from %s", msg.ReceivedFrom)
	}
	if peers := topic.ListPeers(); len(peers) != 0 {
		t.Fatalf("the stranger learned who is on the topic: %v", peers)
	}
	// Nor did the node's GossipSub open a stream to it (which would
	// carry the node's subscriptions, naming the wiki).
	if slices.Contains(nd.gossip.ps.ListPeers(""), stranger.ID()) {
		t.Fatal("the node's GossipSub counts the stranger a peer")
	}

	waitFor(t, 6*time.Second, "the stranger's window to end", func() bool { return connsTo(nd, stranger.ID()) == 0 })
	// The member's syncs only: on connecting, and again when one node's
	// announcement meets the other's joining the topic (node.go), which
	// depends on timing.
	if st := nd.Stats(); st.SyncsServed < 1 {
		t.Fatalf("the node served %d syncs, want the member's", st.SyncsServed)
	}
	for {
		select {
		case e := <-events:
			if e.Kind == EventServed && e.Peer != nm.ID() {
				t.Fatalf("the node served a sync to %s", e.Peer)
			}
			continue
		default:
		}
		break
	}
}

// An admin's node holds few strangers at once, and few from one address.
func TestStrangersAreFewAtOnce(t *testing.T) {
	r := newReplica(t)
	nd, _ := memberNode(t, r, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var strangers []peer.ID
	for range maxStrangersPerIP + 1 {
		s := newHostile(t)
		_ = s.Connect(ctx, info(nd.Host()))
		strangers = append(strangers, s.ID())
	}
	waitFor(t, 2*time.Second, "the first strangers' connections", func() bool {
		for _, p := range strangers[:maxStrangersPerIP] {
			if connsTo(nd, p) != 1 {
				return false
			}
		}
		return true
	})
	if connsTo(nd, strangers[maxStrangersPerIP]) != 0 {
		t.Fatalf("the node holds %d strangers from one address", maxStrangersPerIP+1)
	}
}

// A removed member's connection is closed as soon as the list says so,
// it is forgotten from the remembered peers, and it is refused both
// ways from then on.
func TestRemovedMemberIsCutOffAndRefusedBothWays(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	a.addHistory(2, 1, "A")
	dir := t.TempDir()
	na, fa := memberNode(t, a, true, []peer.ID{b.ID.ID}, func(cfg *Config) { cfg.RepoDir = dir })
	nb, _ := memberNode(t, b, false, []peer.ID{a.ID.ID}, nil)
	if err := RememberPeers(dir, []peer.AddrInfo{info(nb.Host())}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connectNodes(t, nb, na)
	if _, err := nb.SyncPeer(ctx, na.ID()); err != nil {
		t.Fatal(err)
	}

	fa.set(b.ID.ID, AccessRemoved)
	waitFor(t, time.Second, "the removed member's connection to close", func() bool {
		return connsTo(na, nb.ID()) == 0 && connsTo(nb, na.ID()) == 0
	})
	waitFor(t, time.Second, "the removed member to be forgotten", func() bool {
		ps, _ := LoadPeers(dir)
		return len(ps) == 0
	})

	if err := nb.Connect(ctx, info(na.Host())); !errors.Is(err, ErrNotMember) {
		t.Fatalf("the removed member's dial: %v, want ErrNotMember", err)
	}
	if _, err := nb.Host().NewStream(ctx, na.ID(), SyncProtocol); err == nil {
		t.Fatal("the removed member opened a stream")
	}
	if err := na.Connect(ctx, info(nb.Host())); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a dial of the removed member: %v, want ErrNotMember", err)
	}
	if err := na.Host().Connect(ctx, info(nb.Host())); err == nil {
		t.Fatal("the host dialled a removed member")
	}
	if _, err := na.SyncPeer(ctx, nb.ID()); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a sync with the removed member: %v, want ErrNotMember", err)
	}
	if connsTo(na, nb.ID()) != 0 {
		t.Fatal("the removed member is connected again")
	}
}

// The member list hears of every batch of revisions stored from peers,
// by a sync or from gossip, and of the repo's own commits.
func TestMembersObserveEveryStoredBatch(t *testing.T) {
	a, b := newReplica(t), newReplica(t)
	pages := a.addHistory(2, 1, "A")
	on := func(cfg *Config) { cfg.Gossip, cfg.WatchCommits, cfg.PollInterval = true, true, 20*time.Millisecond }
	na, fa := memberNode(t, a, false, []peer.ID{b.ID.ID}, on)
	nb, fb := memberNode(t, b, false, []peer.ID{a.ID.ID}, on)
	connectNodes(t, nb, na)
	if _, err := nb.SyncPeer(context.Background(), na.ID()); err != nil {
		t.Fatal(err)
	}
	if fb.observed.Load() == 0 {
		t.Fatal("a sync's batch was not observed")
	}
	waitFor(t, 5*time.Second, "the topic peers", func() bool { return len(nb.gossip.topic.ListPeers()) == 1 })
	before := fb.observed.Load()
	c := a.edit(pages[0], "gossiped")
	waitFor(t, 5*time.Second, "the edit to arrive", func() bool {
		ok, _ := b.Store.Has(context.Background(), c)
		return ok
	})
	waitFor(t, time.Second, "the gossiped batch to be observed", func() bool { return fb.observed.Load() > before })
	waitFor(t, time.Second, "the local commit to be observed", func() bool { return fa.observed.Load() > 0 })
}
