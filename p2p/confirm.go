package p2p

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// nudgeSync is how long a connected replica gets to confirm from gossip
// alone before the revisions are pushed to it with a sync.
const nudgeSync = 250 * time.Millisecond

// confirmWith asks each of targets, in parallel, for a signed
// acknowledgement that it holds req.Revs, dialling those not connected,
// and returns once req.Need of them answered or req.Wait has passed.
// names says what a replica is called when it does not say so itself.
func (n *Node) confirmWith(ctx context.Context, targets []peer.AddrInfo, req ConfirmRequest, names func(peer.ID) string) ConfirmReport {
	start := time.Now()
	deadline := start.Add(req.Wait)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	answers := make(chan ReplicaAck, len(targets))
	for _, t := range targets {
		go func() { answers <- n.askAck(ctx, t, req.Revs, req.Wait, deadline) }()
	}
	rep := ConfirmReport{Replicas: []ReplicaAck{}}
	confirmed := 0
	for range targets {
		a := <-answers
		if a.Name = n.peerName(a.Peer); a.Name == "" {
			a.Name = names(a.Peer)
		}
		rep.Replicas = append(rep.Replicas, a)
		if a.Confirmed {
			if confirmed++; confirmed >= req.Need {
				break // the others need not be waited for
			}
		}
	}
	rep.Waited = time.Since(start)
	sort.SliceStable(rep.Replicas, func(i, j int) bool {
		a, b := rep.Replicas[i], rep.Replicas[j]
		if a.Confirmed != b.Confirmed {
			return a.Confirmed
		}
		return a.Peer < b.Peer
	})
	return rep
}

// askAck gets one replica's acknowledgement of revs by deadline. The
// revisions reach it by gossip when the node announces its commits, and
// by a sync when it was not connected yet, has no gossip to get them
// from, or has not answered within nudgeSync.
func (n *Node) askAck(ctx context.Context, info peer.AddrInfo, revs []cid.Cid, wait time.Duration, deadline time.Time) ReplicaAck {
	a := ReplicaAck{Peer: info.ID}
	if info.ID == n.ID() {
		a.Why = "it is this replica"
		return a
	}
	if !n.isMember(info.ID) {
		a.Why = fmt.Sprintf("it is not a member of the wiki (%s)", n.access(info.ID))
		return a
	}
	push := n.gossip == nil
	if n.host.Network().Connectedness(info.ID) != network.Connected {
		if err := n.Connect(ctx, info); err != nil {
			if time.Now().After(deadline) {
				a.Why = fmt.Sprintf("could not be reached within %s", FormatWait(wait))
			} else {
				a.Why = fmt.Sprintf("could not be reached (%v)", dialFailure(err))
			}
			return a
		}
		push = true
	}
	if push {
		n.Trigger(info.ID)
	} else {
		nudge := time.AfterFunc(nudgeSync, func() { n.Trigger(info.ID) })
		defer nudge.Stop()
	}
	for {
		_, err := n.RequestAck(ctx, info.ID, revs, time.Until(deadline))
		switch {
		case err == nil:
			a.Confirmed = true
			return a
		case !time.Now().Before(deadline) || ctx.Err() != nil:
			a.Why = fmt.Sprintf("did not answer within %s", FormatWait(wait))
			return a
		case errors.Is(err, ErrNotHeld):
			// It waits at most maxAckWait itself: ask again.
			continue
		default:
			a.Why = "could not answer: " + firstLine(err)
			return a
		}
	}
}
