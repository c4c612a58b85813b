package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNoPeer is returned by SyncAll when no peer could be reached.
var ErrNoPeer = errors.New("could not reach any peer")

// PeerOutcome is what SyncAll did with one peer.
type PeerOutcome struct {
	Peer    peer.ID
	Reached bool
	Result  SyncResult
	Err     error
}

// SyncAll is a one-shot sync: it dials every peer in peers (and, while
// the node runs mDNS, every peer found on the LAN until the known peers
// are done, or within discover when there are none), runs
// one sync both ways with each peer it reaches, and returns when all of
// them are done. Peers that cannot be reached within reach are reported
// as such; ErrNoPeer is returned when none was reached.
func (n *Node) SyncAll(ctx context.Context, peers []peer.AddrInfo, reach, discover time.Duration) ([]PeerOutcome, error) {
	start := time.Now()
	// Read our head set while the dials are under way.
	go n.localHeads(ctx)
	var mu sync.Mutex
	pending := 0
	var out []PeerOutcome
	started := map[peer.ID]bool{}
	changed := make(chan struct{}, 1)
	reachCtx, cancelReach := context.WithTimeout(ctx, reach)
	defer cancelReach()
	run := func(info peer.AddrInfo) {
		mu.Lock()
		if started[info.ID] || info.ID == n.ID() {
			mu.Unlock()
			return
		}
		started[info.ID] = true
		pending++
		mu.Unlock()
		go func() {
			o := PeerOutcome{Peer: info.ID}
			if err := n.Connect(reachCtx, info); err != nil {
				o.Err = fmt.Errorf("could not reach %s within %s (%w): %s", info.ID, reach, dialFailure(err), firstLine(err))
			} else {
				o.Reached = true
				o.Result, o.Err = n.syncWhenFree(ctx, reachCtx, info.ID)
			}
			mu.Lock()
			out = append(out, o)
			pending--
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}()
	}
	var events <-chan Event
	if n.cfg.MDNS {
		events = n.Subscribe()
		n.mu.Lock()
		var found []peer.ID
		for id := range n.found {
			found = append(found, id)
		}
		n.mu.Unlock()
		for _, id := range found {
			run(peer.AddrInfo{ID: id, Addrs: n.host.Peerstore().Addrs(id)})
		}
	}
	for _, p := range peers {
		run(p)
	}
	// Finished when no sync is under way and, with mDNS, the discovery
	// window has passed with someone reached (or reach has passed).
	finished := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if pending > 0 {
			return false
		}
		if events == nil || ctx.Err() != nil {
			return true
		}
		reached := false
		for _, o := range out {
			reached = reached || o.Reached
		}
		// Known peers answered: no need to wait for more of the LAN.
		elapsed := time.Since(start)
		return (reached && (elapsed >= discover || len(peers) > 0)) || elapsed >= reach
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !finished() {
			select {
			case <-changed:
			case <-tick.C:
			}
		}
		close(done)
	}()
	for {
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			for _, o := range out {
				if o.Reached {
					return out, nil
				}
			}
			return out, ErrNoPeer
		case e := <-events:
			if e.Kind == EventFound && time.Since(start) < reach {
				run(peer.AddrInfo{ID: e.Peer, Addrs: n.host.Peerstore().Addrs(e.Peer)})
			}
		}
	}
}

// syncWhenFree syncs with p, and again while p answers busy, until
// patience runs out.
func (n *Node) syncWhenFree(ctx, patience context.Context, p peer.ID) (SyncResult, error) {
	backoff := 250 * time.Millisecond
	for {
		res, err := n.SyncPeer(ctx, p)
		if !errors.Is(err, ErrPeerBusy) {
			return res, err
		}
		select {
		case <-patience.Done():
			return res, err
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)))):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// errNoHandshake is why most dials fail: a peer with another wiki's key
// never completes the handshake, and looks exactly like an unreachable
// one.
var errNoHandshake = errors.New("wrong wiki key, or peer unreachable")

// dialFailure says why a dial failed. A node out of room for connections
// closes them as they come, and the handshake is cut short (a reset, a
// broken pipe, an end of stream) where a peer of another wiki lets it
// time out: that one is ErrPeerBusy.
func dialFailure(err error) error {
	for _, cut := range []error{syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, cut) {
			return peerBusy("the node is busy: it cut the connection short")
		}
	}
	return errNoHandshake
}

// AllBusy reports whether every peer in outcomes that could not be
// reached cut the connection short for want of room (ErrPeerBusy), so
// that the node is busy rather than of another wiki or unreachable.
func AllBusy(outcomes []PeerOutcome) bool {
	busy := false
	for _, o := range outcomes {
		if !o.Reached {
			if !errors.Is(o.Err, ErrPeerBusy) {
				return false
			}
			busy = true
		}
	}
	return busy
}
