package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

// olderAnnouncement is a heads message as builds before unsigned gossip
// read it: no nonce (their strict decoding refuses an unknown field).
type olderAnnouncement struct {
	Wiki     string      `cbor:"w"`
	Heads    [][]byte    `cbor:"h"`
	Blocks   []wireBlock `cbor:"b,omitempty"`
	Sum      []byte      `cbor:"s,omitempty"`
	Periodic bool        `cbor:"p,omitempty"`
}

// listener is a bare GossipSub peer on the wiki's topics, connected to
// nd: with older, as builds before unsigned gossip ran it (every message
// signed, and signatures required); otherwise as this build does, saying
// so with UnsignedHeadsProtocol. opts come after those.
func listener(t *testing.T, nd *Node, older bool, opts ...pubsub.Option) (host.Host, *pubsub.PubSub, *pubsub.Topic, *pubsub.Subscription) {
	t.Helper()
	h := newHostile(t)
	base := []pubsub.Option{pubsub.WithFloodPublish(true), pubsub.WithMaxMessageSize(pubsubMaxMessage)}
	if !older {
		base = append(base, pubsub.WithMessageSignaturePolicy(pubsub.LaxNoSign), pubsub.WithNoAuthor())
		h.SetStreamHandler(UnsignedHeadsProtocol, func(s network.Stream) { s.Reset() })
	}
	ps, err := pubsub.NewGossipSub(context.Background(), h, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	var topicOpts []pubsub.TopicOpt
	if !older {
		topicOpts = append(topicOpts, pubsub.WithTopicMessageIdFn(headsMessageID))
	}
	topic, err := ps.Join(HeadsTopic(historyWiki()), topicOpts...)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(context.Background(), info(nd.Host())); err != nil {
		t.Fatal(err)
	}
	// As a peer is met: its subscription, and identify's protocols.
	waitFor(t, 10*time.Second, "the listener on the node's topic", func() bool {
		nd.gossip.mu.Lock()
		_, on := nd.gossip.topicPeers[h.ID()]
		nd.gossip.mu.Unlock()
		protos, _ := nd.Host().Peerstore().GetProtocols(h.ID())
		return on && len(protos) > 0
	})
	return h, ps, topic, sub
}

func cidOf(t *testing.T, b []byte) cid.Cid {
	t.Helper()
	c, err := cid.Cast(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextHeads is the next heads message sub receives from nd.
func nextHeads(t *testing.T, sub *pubsub.Subscription) *pubsub.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("no heads message came: %v", err)
	}
	return m
}

func announceEdit(t *testing.T, r *replica, nd *Node, page cid.Cid, body string) cid.Cid {
	t.Helper()
	rev := r.edit(page, body)
	nd.announce([]history.NewRevision{{Cid: rev, Page: page, Head: true}}, true)
	return rev
}

// Between nodes of this build, GossipSub's signature is left out (it cost
// an edit's trip three Ed25519 operations): the message has no author,
// no sequence number and no signature, and a nonce of its own.
func TestHeadsGoUnsignedToPeersThatTakeThem(t *testing.T) {
	r := newReplica(t)
	page := r.addHistory(1, 1, "Note")[0]
	nd := startNode(t, r, func(cfg *Config) { cfg.Gossip = true })
	_, _, _, sub := listener(t, nd, false)

	rev := announceEdit(t, r, nd, page, "unsigned")
	m := nextHeads(t, sub)
	if m.Signature != nil || m.From != nil || m.Seqno != nil || m.Key != nil {
		t.Fatalf("announcement carries a signature or an author: sig %d bytes, from %q", len(m.Signature), m.From)
	}
	var a announcement
	if err := wireDec.Unmarshal(m.Data, &a); err != nil {
		t.Fatal(err)
	}
	if a.Nonce == 0 || len(a.Heads) != 1 || !rev.Equals(cidOf(t, a.Heads[0])) {
		t.Fatalf("announcement: nonce %d, heads %d", a.Nonce, len(a.Heads))
	}
	if nd.gossip.signed.Load() != 0 {
		t.Fatalf("%d announcements signed with no older peer", nd.gossip.signed.Load())
	}
}

// While a peer of an older build is on the topic, announcements are
// signed and carry nothing it would refuse; and what it publishes,
// signed, is taken and stored.
func TestHeadsAreSignedWhileAnOlderPeerListens(t *testing.T) {
	r, other := newReplica(t), newReplica(t)
	page := r.addHistory(1, 1, "Note")[0]
	nd := startNode(t, r, func(cfg *Config) { cfg.Gossip = true })
	h, _, topic, sub := listener(t, nd, true)

	// The older peer's pubsub takes the message only if it is signed.
	rev := announceEdit(t, r, nd, page, "signed for an older peer")
	m := nextHeads(t, sub)
	if m.Signature == nil || peer.ID(m.From) != nd.ID() {
		t.Fatalf("announcement to an older peer: sig %d bytes, from %q", len(m.Signature), m.From)
	}
	var a olderAnnouncement
	if err := wireDec.Unmarshal(m.Data, &a); err != nil {
		t.Fatalf("an older build would refuse it: %v", err)
	}
	if len(a.Heads) != 1 || !rev.Equals(cidOf(t, a.Heads[0])) {
		t.Fatalf("announcement names %d heads", len(a.Heads))
	}

	// The older peer's own announcement, signed by its pubsub.
	blocks, _ := forgeable(t, other)
	older := olderAnnouncement{Wiki: historyWiki(), Heads: [][]byte{blocks[len(blocks)-1].Cid.Bytes()}}
	for _, b := range blocks {
		older.Blocks = append(older.Blocks, wireBlock{Cid: b.Cid.Bytes(), Data: b.Data})
	}
	data, err := cbor.Marshal(older)
	if err != nil {
		t.Fatal(err)
	}
	if err := topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the older peer's revision stored", func() bool {
		ok, err := r.Store.Has(context.Background(), blocks[len(blocks)-1].Cid)
		return err == nil && ok
	})
	if nd.Host().Network().Connectedness(h.ID()) != network.Connected {
		t.Fatal("the older peer was cut off")
	}
}

// Presence says who is editing by its message's author, so it stays
// signed; an unsigned presence message naming another member as its
// author is refused, while the sender's own signed one is heard.
func TestUnsignedPresenceIsRefused(t *testing.T) {
	r, victim := newReplica(t), newReplica(t)
	nd := startNode(t, r, func(cfg *Config) { cfg.Gossip = true })
	// Unsigned messages from this pubsub name the victim as author.
	h, ps, _, _ := listener(t, nd, false, pubsub.WithMessageAuthor(victim.ID.ID))
	topic, err := ps.Join(PresenceTopic(historyWiki()))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the listener on the presence topic", func() bool {
		return len(topic.ListPeers()) == 1
	})
	say := func(name, page string, opts ...pubsub.PubOpt) {
		t.Helper()
		data, err := cbor.Marshal(presenceMsg{Wiki: historyWiki(), Name: name, LeaseMS: 60_000, Pages: []Editing{{Page: page, Since: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := topic.Publish(context.Background(), data, opts...); err != nil {
			t.Fatal(err)
		}
	}
	own := pubsub.WithSecretKeyAndPeerId(h.Peerstore().PrivKey(h.ID()), h.ID())
	heard := func(p peer.ID, page string) bool {
		nd.presence.mu.Lock()
		defer nd.presence.mu.Unlock()
		for _, e := range nd.presence.heard[p] {
			if e.Page == page {
				return true
			}
		}
		return false
	}
	say("victim", "Forged")
	say("mallory", "First", own)
	waitFor(t, 10*time.Second, "the signed presence heard", func() bool { return heard(h.ID(), "First") })
	say("mallory", "Second", own)
	waitFor(t, 10*time.Second, "the second signed presence heard", func() bool { return heard(h.ID(), "Second") })
	if heard(victim.ID.ID, "Forged") {
		t.Fatal("an unsigned presence message was taken as the victim's")
	}
}

// An unsigned heads message that names an author (and so would take
// that author's message ids in GossipSub's seen cache, were they counted
// by author) is refused, and its forwarder cut off.
func TestUnsignedHeadsNamingAnAuthorAreRefused(t *testing.T) {
	r, victim := newReplica(t), newReplica(t)
	r.addHistory(1, 1, "Note")
	nd := startNode(t, r, func(cfg *Config) { cfg.Gossip = true })
	h, _, topic, _ := listener(t, nd, false, pubsub.WithMessageAuthor(victim.ID.ID))
	rejected := nd.Stats().Rejected
	data, err := cbor.Marshal(announcement{Wiki: historyWiki(), Heads: [][]byte{r.heads()[0].Bytes()}, Nonce: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the message refused", func() bool {
		return nd.Stats().Rejected > rejected && nd.Host().Network().Connectedness(h.ID()) != network.Connected
	})
}

// Two replicas with the same heads say the same thing in their periodic
// announcements; each still goes out (the nonce sets them apart), where
// GossipSub would drop a node's own as the one it delivered already.
func TestPeriodicAnnouncementsOfConvergedReplicasBothGoOut(t *testing.T) {
	r := newReplica(t)
	r.addHistory(2, 1, "Note")
	nd := startNode(t, r, func(cfg *Config) { cfg.Gossip, cfg.ReannounceInterval = true, 300*time.Millisecond })
	h, _, topic, sub := listener(t, nd, false)
	hs, err := nd.localHeads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	same := announcement{Wiki: historyWiki(), Sum: hs.sum[:], Periodic: true, Heads: [][]byte{}}
	for _, c := range hs.heads {
		same.Heads = append(same.Heads, c.Bytes())
	}
	data, err := cbor.Marshal(same)
	if err != nil {
		t.Fatal(err)
	}
	if err := topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatal("no periodic announcement came from the node")
		}
		if m.ReceivedFrom == h.ID() {
			continue // the listener's own
		}
		var a announcement
		if err := wireDec.Unmarshal(m.Data, &a); err != nil || !a.Periodic {
			t.Fatalf("from the node: %+v (%v)", a, err)
		}
		return
	}
}

// A peer of an older build behind a node of this build (a line: this
// build, this build, the older one) refuses the unsigned announcement
// the middle node forwards; the middle node then announces what it
// received itself, signed, so the older peer hears of the edit by
// gossip rather than at the next periodic announcement.
func TestOlderPeerBehindANewOneHearsOfEdits(t *testing.T) {
	rs, nodes, pages := gossipNodes(t, 2, [][2]int{{0, 1}})
	_, _, _, sub := listener(t, nodes[1], true)
	waitFor(t, 3*meshWindow, "gossip meshes to form", func() bool {
		return !nodes[0].gossip.meshForming() && !nodes[1].gossip.meshForming()
	})
	rev := rs[0].edit(pages[0], "written two hops from the older peer")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatal("the older peer heard nothing of the edit")
		}
		var a olderAnnouncement
		if err := wireDec.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("an announcement the older peer would refuse: %v", err)
		}
		for _, h := range a.Heads {
			if rev.Equals(cidOf(t, h)) && !a.Periodic {
				if peer.ID(m.From) != nodes[1].ID() {
					t.Fatalf("announced by %s, want the middle node", peer.ID(m.From))
				}
				return
			}
		}
	}
}
