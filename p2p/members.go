package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

// Who may replicate a wiki is the wiki's own signed, replicated member
// list (package wiki keeps it; p2p only enforces it). A node talks to a
// peer only as the list says:
//
//   - a member: everything (sync, acknowledgements, gossip, presence);
//   - a removed member: nothing, both ways; its connections are closed as
//     soon as the list says so, it is forgotten from the remembered peers
//     and never dialled again;
//   - a stranger (never a member): only the join protocol, and only on a
//     node whose identity may redeem invites (an admin's), a few
//     strangers at a time; a stranger's connection is closed after its
//     join exchange or joinWindow, whichever comes first. The gate lets
//     a node dial a stranger (a joiner dials its inviter, whom its empty
//     member list does not know yet), but nothing but a join is
//     exchanged on that connection either, and a node dials only members
//     of its own accord (remembered peers, mDNS).
//
// The list is checked after the Noise handshake (the connection gater,
// gate.go), on every inbound stream (strangers see a node that speaks
// only the join protocol), by both sides of a sync, and by GossipSub
// (gossip.go).

// Access is what the member list says of a peer.
type Access int

// What the member list says of a peer.
const (
	AccessStranger Access = iota // never a member
	AccessMember                 // a current member
	AccessRemoved                // was a member, removed
)

func (a Access) String() string {
	switch a {
	case AccessMember:
		return "member"
	case AccessRemoved:
		return "removed"
	}
	return "stranger"
}

// Membership is the wiki's member list as a node needs it (package wiki
// implements it). A node asks Access on every connection and every
// inbound stream, and GossipSub on every message: it must answer from
// memory, without blocking on the store.
type Membership interface {
	// Access says what the member list says of p now; the node's own id
	// is always AccessMember.
	Access(p peer.ID) Access
	// CanRedeem reports whether this node's identity may redeem invites
	// (it is an admin): only then does the node let strangers through
	// its gate, to join.
	CanRedeem() bool
	// Redeem checks an invite token presented by p (who calls itself
	// name: valid UTF-8 of at most 128 bytes, otherwise as the stranger
	// sent it) and adds p to the member list, returning the role p was
	// given. Its error's text is told to the joiner, as one line of at
	// most 256 bytes: it must say why without giving away anything a
	// stranger should not learn.
	Redeem(ctx context.Context, token []byte, p peer.ID, name string) (role string, err error)
	// Changed receives after the member list changed (a removal or an
	// addition, received or made here). The node is its one receiver; a
	// change made while the node is busy may be reported by one receive
	// with later ones.
	Changed() <-chan struct{}
	// Observe is called after every batch of revisions received from a
	// peer is stored (by a sync or from gossip), since the member list
	// may have changed; res is what the store did with the batch. A node
	// that watches its repo's commits (Config.WatchCommits) also calls
	// it with the revisions other processes on the repo committed (only
	// res.Revisions is set then).
	Observe(ctx context.Context, res *history.PutResult)
}

// TrustInviter is m, except that inviter counts as a member while m
// says it is a stranger (never when removed). A replica that has just
// joined knows nothing of the member list until its first sync brings
// it, and that sync is with its inviter: it runs with this until the
// list it received names the inviter. A nil m stays nil (everyone is a
// member).
func TrustInviter(m Membership, inviter peer.ID) Membership {
	if m == nil {
		return nil
	}
	return trustInviter{m, inviter}
}

type trustInviter struct {
	Membership
	inviter peer.ID
}

func (t trustInviter) Access(p peer.ID) Access {
	a := t.Membership.Access(p)
	if a == AccessStranger && p == t.inviter {
		return AccessMember
	}
	return a
}

// ErrNotMember is the error of a sync or an acknowledgement request
// refused because the other side is not a member of the wiki (as this
// node's member list says, or as the peer's says of this node).
var ErrNotMember = errors.New("not a member of the wiki")

// access is what the node's member list says of p: everyone is a member
// without a list, and the node itself always is.
func (n *Node) access(p peer.ID) Access { return n.gate.access(p) }

// isMember reports whether p is a current member of the wiki.
func (n *Node) isMember(p peer.ID) bool { return n.access(p) == AccessMember }

// checkMember is the error for talking to p, which must be a member.
func (n *Node) checkMember(p peer.ID) error {
	switch n.access(p) {
	case AccessMember:
		return nil
	case AccessRemoved:
		return fmt.Errorf("peer %s: %w (it was removed)", p, ErrNotMember)
	}
	return fmt.Errorf("peer %s: %w (this replica's member list does not name it)", p, ErrNotMember)
}

// memberPeers are the members the node is connected to.
func (n *Node) memberPeers() []peer.ID {
	return filter(n.host.Network().Peers(), n.isMember)
}

// observe tells the member list that a batch from a peer was stored (a
// batch that stored no revision changed nothing).
func (n *Node) observe(ctx context.Context, res *history.PutResult) {
	if n.cfg.Members != nil && len(res.Revisions) > 0 {
		n.cfg.Members.Observe(ctx, res)
	}
}

// observeLocal tells the member list of revisions the commit watcher
// found that were not received from peers: commits of the repo's other
// processes (an admin's `members remove` next to a running node takes
// effect at once) and of this one.
func (n *Node) observeLocal(revs []history.NewRevision) {
	res := &history.PutResult{}
	for _, r := range revs {
		if !n.isFromNetwork(r.Cid) {
			res.Revisions = append(res.Revisions, r.Cid)
			if !slices.ContainsFunc(res.Pages, r.Page.Equals) {
				res.Pages = append(res.Pages, r.Page) // the list rereads itself only for its page
			}
		}
	}
	n.observe(n.ctx, res)
}

// watchMembers enforces the member list whenever it changes, until the
// node stops.
func (n *Node) watchMembers() {
	if n.cfg.Members == nil {
		return
	}
	changed := n.cfg.Members.Changed()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-changed:
				n.enforceMembers()
			}
		}
	}()
}

// enforceMembers makes the list's removals take effect at once: every
// connection to a removed peer is closed, and so is every connection to
// a stranger that is not one admitted to join (a member's connection,
// say, when the list no longer names it); removed peers are forgotten
// from the remembered ones, and never dialled again (keepConnected and
// mDNS look at the list before every dial).
func (n *Node) enforceMembers() {
	for _, c := range n.host.Network().Conns() {
		p := c.RemotePeer()
		switch n.access(p) {
		case AccessRemoved:
			n.log.Info("closed the connection of a removed member", "peer", p)
			c.Close()
		case AccessStranger:
			// A stranger's connection this node dialled (a relay, a
			// DHT peer) stays: nothing but strangers' protocols reach
			// it.
			if !n.gate.joining(c) && c.Stat().Direction != network.DirOutbound {
				n.log.Info("closed the connection of a peer the member list no longer names", "peer", p)
				c.Close()
			}
		}
	}
	if n.cfg.RepoDir != "" {
		forgot, err := forgetPeers(n.cfg.RepoDir, func(p peer.ID) bool { return n.access(p) == AccessRemoved })
		if err != nil {
			n.log.Warn("could not forget removed members from the remembered peers", "err", err)
		}
		for _, p := range forgot {
			n.log.Info("forgot a removed member", "peer", p)
		}
	}
	n.mu.Lock()
	for p := range n.found {
		if n.access(p) == AccessRemoved {
			delete(n.found, p)
		}
	}
	n.mu.Unlock()
}
