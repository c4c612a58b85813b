package p2p

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// peerBook is a running node's knowledge of the other replicas: who is
// connected since when, where each listens and what it is called (from
// identify, which a node answers for members only), and the remembered
// peers of the repo, which it keeps up to date with every member met,
// whichever side dialled. Strangers (a joiner at an admin's node) are
// neither shown nor remembered, and the node forgets removed members
// (forgetPeers).
type peerBook struct {
	dir string
	// learned is told of a replica's listen addresses as they are heard
	// (the daemon keeps it connected from then on).
	learned func(peer.AddrInfo)
	// member says who is a member (set by follow).
	member func(peer.ID) bool

	mu   sync.Mutex
	live map[peer.ID]*livePeer
}

type livePeer struct {
	name  string
	addrs []ma.Multiaddr
	since time.Time // zero: not connected now
}

func newPeerBook(dir string, learned func(peer.AddrInfo)) *peerBook {
	return &peerBook{dir: dir, learned: learned, live: map[peer.ID]*livePeer{}}
}

func (b *peerBook) entry(p peer.ID) *livePeer {
	e := b.live[p]
	if e == nil {
		e = &livePeer{}
		b.live[p] = e
	}
	return e
}

// follow records n's connections and identifications until n stops.
func (b *peerBook) follow(n *Node) error {
	b.member = n.isMember
	return n.onHostEvents([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerConnectednessChanged)}, func(e any) {
		switch ev := e.(type) {
		case event.EvtPeerConnectednessChanged:
			b.connectedness(ev.Peer, ev.Connectedness == network.Connected)
		case event.EvtPeerIdentificationCompleted:
			b.identified(ev.Peer, ev.ListenAddrs, ev.AgentVersion)
		}
	})
}

func (b *peerBook) connectedness(p peer.ID, connected bool) {
	// Strangers (a joiner, and the relays and DHT peers a node with
	// wide-area networking holds connections to) are not replicas.
	if !b.isMember(p) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entry(p)
	switch {
	case connected && e.since.IsZero():
		e.since = time.Now()
	case !connected:
		e.since = time.Time{}
	}
}

// identified records where p listens and remembers it there. A replica
// that listens nowhere (a one-shot command's host) is not remembered
// anew, only seen.
func (b *peerBook) identified(p peer.ID, listen []ma.Multiaddr, agent string) {
	if !b.isMember(p) {
		return
	}
	addrs := dialable(listen)
	name := agentName(agent)
	b.mu.Lock()
	e := b.entry(p)
	if e.since.IsZero() {
		e.since = time.Now()
	}
	if name != "" {
		e.name = name
	}
	if len(addrs) > 0 {
		e.addrs = addrs
	}
	b.mu.Unlock()
	if len(addrs) == 0 && !b.remembered(p) {
		return
	}
	_ = rememberSeen(b.dir, []seenPeer{{info: peer.AddrInfo{ID: p, Addrs: addrs}, name: name}})
	if len(addrs) > 0 && b.learned != nil {
		b.learned(peer.AddrInfo{ID: p, Addrs: addrs})
	}
}

func (b *peerBook) isMember(p peer.ID) bool { return b.member == nil || b.member(p) }

func (b *peerBook) remembered(p peer.ID) bool {
	ps, _ := LoadPeers(b.dir)
	for _, r := range ps {
		if r.ID == p.String() {
			return true
		}
	}
	return false
}

// name is what p is called, when known.
func (b *peerBook) name(p peer.ID) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.live[p]; e != nil && e.name != "" {
		return e.name
	}
	return ""
}

// states lists every replica known: remembered ones, and the ones met
// while the node runs.
func (b *peerBook) states(connected func(peer.ID) bool) []PeerState {
	remembered, _ := LoadPeers(b.dir)
	out := rememberedStates(remembered)
	idx := map[peer.ID]int{}
	for i, s := range out {
		idx[s.ID] = i
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for p, e := range b.live {
		i, ok := idx[p]
		if !ok {
			if !connected(p) || !b.isMember(p) {
				continue // met once, gone, never remembered; or no replica
			}
			out = append(out, PeerState{ID: p, Addrs: []ma.Multiaddr{}})
			i = len(out) - 1
			idx[p] = i
		}
		s := &out[i]
		if e.name != "" {
			s.Name = e.name
		}
		if len(e.addrs) > 0 {
			s.Addrs = e.addrs
		}
		if connected(p) {
			s.Connected, s.Since = true, e.since
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// forgetPeers removes from the remembered peers of the repo in dir those
// drop says to (removed members), and returns them.
func forgetPeers(dir string, drop func(peer.ID) bool) ([]peer.ID, error) {
	peersFileMu.Lock()
	defer peersFileMu.Unlock()
	ps, err := LoadPeers(dir)
	if err != nil {
		return nil, err
	}
	var keep []RememberedPeer
	var gone []peer.ID
	for _, rp := range ps {
		if id, err := peer.Decode(rp.ID); err == nil && drop(id) {
			gone = append(gone, id)
			continue
		}
		keep = append(keep, rp)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if keep == nil {
		keep = []RememberedPeer{}
	}
	b, _ := json.MarshalIndent(keep, "", "  ")
	return gone, writeFileAtomic(filepath.Join(dir, PeersFile), append(b, '\n'))
}

// RememberedStates are the remembered peers of the repo in dir, as a node
// that is not running knows them: none connected.
func RememberedStates(dir string) ([]PeerState, error) {
	ps, err := LoadPeers(dir)
	if err != nil {
		return nil, err
	}
	return rememberedStates(ps), nil
}

func rememberedStates(ps []RememberedPeer) []PeerState {
	out := []PeerState{}
	for _, p := range ps {
		id, err := peer.Decode(p.ID)
		if err != nil {
			continue
		}
		s := PeerState{ID: id, Name: p.Name, Addrs: []ma.Multiaddr{}, Remembered: true}
		for _, a := range p.Addrs {
			if m, err := ma.NewMultiaddr(a); err == nil {
				s.Addrs = append(s.Addrs, m)
			}
		}
		s.LastSeen, _ = time.Parse(time.RFC3339, p.LastSeen)
		out = append(out, s)
	}
	return out
}

// dialable keeps the addresses another replica could dial: not an
// unspecified address (0.0.0.0), at most 8, relayed ones among them
// (CodeAddrs).
func dialable(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if !manet.IsIPUnspecified(a) {
			out = append(out, a)
		}
	}
	return sortDialable(CodeAddrs(out, 8))
}

// sortDialable puts the addresses other machines can dial first, then
// relayed ones (through a relay: slower, a relay's resources), then
// link-local and loopback ones.
func sortDialable(addrs []ma.Multiaddr) []ma.Multiaddr {
	rank := func(a ma.Multiaddr) int {
		switch {
		case manet.IsIPLoopback(a) && !isRelayed(a):
			return 3
		case manet.IsIP6LinkLocal(a) && !isRelayed(a):
			return 2
		case isRelayed(a):
			return 1
		}
		return 0
	}
	out := append([]ma.Multiaddr{}, addrs...)
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// The identify agent of a peerwiki node names its replica, so that
// messages can say "carol" rather than a peer id: members only ever see
// it (a node answers a stranger's identify request no more than any
// other of its streams, see gateStreams), and the name is in every
// revision the replica signs anyway.
const agentPrefix = "peerwiki/"

func agentFor(name string) string {
	return agentPrefix + "1 (" + clipName(name) + ")"
}

func agentName(agent string) string {
	rest, ok := strings.CutPrefix(agent, agentPrefix)
	if !ok {
		return ""
	}
	_, name, ok := strings.Cut(rest, " (")
	if !ok || !strings.HasSuffix(name, ")") {
		return ""
	}
	return clipName(strings.TrimSuffix(name, ")"))
}

// clipName bounds a display name to 64 bytes, on a rune boundary.
func clipName(s string) string {
	if len(s) <= 64 {
		return s
	}
	s = s[:64]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
