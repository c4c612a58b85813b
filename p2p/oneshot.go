package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
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
	return n.syncAll(ctx, peers, reach, discover, true)
}

// syncAll is SyncAll, looking on the LAN too only when lan is set.
func (n *Node) syncAll(ctx context.Context, peers []peer.AddrInfo, reach, discover time.Duration, lan bool) ([]PeerOutcome, error) {
	start := time.Now()
	// Read our head set while the dials are under way, unless the
	// recorded summary stands in for it (keysum.go): a sync with
	// nothing new then needs none of it.
	go func() {
		if n.cachedKeys(ctx) == nil {
			n.localKeys(ctx)
		}
	}()
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
			// Dial first, so that an address nobody listens at says so
			// rather than that a stranger is not a member.
			if err := n.Connect(reachCtx, info); err != nil {
				o.Err = reachFailure(reachCtx, info.ID, reach, err)
			} else if err := n.checkMember(info.ID); err != nil {
				o.Err = err
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
	if n.cfg.MDNS && lan {
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
					n.passOn(ctx, reachCtx, out)
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

// passOn syncs once more with every peer whose sync ended before another
// one brought something new: the syncs run side by side, so what Carol
// sent reached Bob only at the next sync, or never while only Ada knows
// both (the inviter whom everyone else joined, syncing from a script). A
// second sync with a peer that lacks nothing ends at the first round
// trip of the reconciliation. Once is enough for what the first round
// brought; what arrives during the second waits for the next sync.
func (n *Node) passOn(ctx, patience context.Context, out []PeerOutcome) {
	brought := 0
	for _, o := range out {
		if o.Err == nil {
			brought += o.Result.Received
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		o := &out[i]
		if o.Err != nil || !o.Reached || brought == o.Result.Received {
			continue // nothing it was not the source of
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := n.syncWhenFree(ctx, patience, o.Peer)
			if err != nil {
				n.log.Info("passing on what other peers sent failed", "peer", o.Peer, "err", clip(err.Error()))
				return
			}
			o.Result.Sent += res.Sent
			o.Result.Received += res.Received
			o.Result.Blocks += res.Blocks
			o.Result.Deferred += res.Deferred
			o.Result.Conflicts = append(o.Result.Conflicts, res.Conflicts...)
			o.Result.Equal = o.Result.Equal && res.Equal
			o.Result.Duration += res.Duration
		}()
	}
	wg.Wait()
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

// reachError says why a peer was not reached.
type reachError struct {
	peer peer.ID
	// waited is the time waited, when the dial lasted all of it; a
	// refused connection fails at once, and saying it was waited for
	// would be a lie.
	waited time.Duration
	why    error  // dialFailure's
	detail string // what the dial said, when it said more than why
}

func (e *reachError) Error() string {
	if e.waited > 0 {
		return fmt.Sprintf("could not reach %s within %s (%v)", e.peer, FormatWait(e.waited), e.why)
	}
	return fmt.Sprintf("could not reach %s: %s", e.peer, e.reason())
}

func (e *reachError) Unwrap() error { return e.why }

// reason is why, and what the dial said when that says more.
func (e *reachError) reason() string {
	if e.detail == "" {
		return e.why.Error()
	}
	return e.why.Error() + ": " + e.detail
}

// reachFailure is why p was not reached by a dial that ended in err.
func reachFailure(reachCtx context.Context, p peer.ID, reach time.Duration, err error) error {
	e := &reachError{peer: p, why: dialFailure(err)}
	switch {
	case reachCtx.Err() != nil:
		e.waited = reach
	case errors.Is(e.why, errNoHandshake):
		e.detail = lastLine(err)
	}
	return e
}

// lastLine is the most specific line of a libp2p dial error, which lists
// each address's failure under a summary.
func lastLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	return clip(strings.TrimLeft(lines[len(lines)-1], " *"))
}

// roundWait prints a wait as people write it: 10s, 1m30s, 250ms.
func FormatWait(d time.Duration) string {
	switch {
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Millisecond)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

// errNoHandshake is why most dials fail: the peer never completes the
// handshake. A node of the peerwiki that kept its wiki private with a
// shared key (sync version 4) looks exactly like that: it waits for a
// key this one never sends.
var errNoHandshake = errors.New("peer unreachable, or it runs an older peerwiki")

// errShutOut is a dial that completed the handshake and was closed at
// once by the peer: its gate refused this replica.
var errShutOut = fmt.Errorf("the peer closed the connection after the handshake: this replica is %w there (not known there yet, or removed)", ErrNotMember)

// dialFailure says why a dial failed. A node out of room for connections
// closes them as they come, and the handshake is cut short (a reset, a
// broken pipe, an end of stream) where an unreachable peer lets it time
// out: that one is ErrPeerBusy.
func dialFailure(err error) error {
	if errors.Is(err, errShutOut) || errors.Is(err, ErrNotMember) || errors.Is(err, errLimitedOnly) {
		return err
	}
	for _, cut := range []error{syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, cut) {
			return peerBusy("the node is busy: it cut the connection short")
		}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errRefused
	}
	return errNoHandshake
}

// errRefused: nothing listens where the peer was last heard of (it is
// not running, or moved to another port).
var errRefused = errors.New("connection refused: no node listens at its address")

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

// SyncOnce is the sync of a command run while no node runs on the repo:
// a dial-only host of its own, for as long as the sync takes. Without
// req.Peers it tries the remembered replicas of cfg.RepoDir (and the LAN,
// with req.MDNS). The replicas reached are remembered. Its error is about
// the host; what each replica did is in the report.
func SyncOnce(ctx context.Context, cfg Config, req SyncRequest) (SyncReport, error) {
	targets := req.Peers
	if len(targets) == 0 {
		remembered, err := LoadPeers(cfg.RepoDir)
		if err != nil {
			return SyncReport{}, err
		}
		targets = AddrInfos(remembered)
		cfg.MDNS = req.MDNS
	}
	if len(targets) == 0 && !cfg.MDNS {
		return SyncReport{Peers: []PeerSync{}, Conflicts: []cid.Cid{}}, nil
	}
	cfg.Listen = nil
	if !cfg.LeaveSearchIndex && cfg.Store != nil {
		// A replica's first sync (a join, plain or shallow) leaves the
		// search rows of what it brings for later: the command returns
		// once the pages and their history are here, and the first
		// search (with progress), sync or node writes them. Writing them
		// here was 17-19 s of a 100,000-page join's 90, before the
		// history; no search misses a page either way (wiki.Repo.Search
		// indexes what waits first).
		if holds, err := cfg.Store.HoldsPages(ctx); err == nil && !holds {
			cfg.LeaveSearchIndex = true
		}
	}
	n, err := New(ctx, cfg)
	if err != nil {
		return SyncReport{}, err
	}
	defer n.Close()
	names := rememberedNames(cfg.RepoDir)
	rep := n.syncReport(ctx, targets, req.Timeout, len(req.Peers) == 0, names)
	var reached []seenPeer
	for _, p := range rep.Reached() {
		if p.Err == "" {
			reached = append(reached, seenPeer{info: peer.AddrInfo{ID: p.Peer, Addrs: dialable(n.host.Peerstore().Addrs(p.Peer))}, name: n.peerName(p.Peer)})
		}
	}
	if len(reached) > 0 && cfg.RepoDir != "" {
		if err := rememberSeen(cfg.RepoDir, reached); err != nil {
			n.log.Warn("could not remember peers", "err", err)
		}
	}
	return rep, nil
}

// ConfirmOnce is Confirm for a command run while no node runs on the
// repo: a dial-only host asks the remembered replicas, pushing the
// revisions to each one it reaches with a sync.
func ConfirmOnce(ctx context.Context, cfg Config, req ConfirmRequest) (ConfirmReport, error) {
	remembered, err := LoadPeers(cfg.RepoDir)
	if err != nil {
		return ConfirmReport{}, err
	}
	cfg.Listen = nil
	n, err := New(ctx, cfg)
	if err != nil {
		return ConfirmReport{}, err
	}
	defer n.Close()
	return n.confirmWith(ctx, AddrInfos(remembered), req, rememberedNames(cfg.RepoDir)), nil
}

// syncReport syncs with targets (and, with mDNS on, whoever turns up on
// the LAN) and reports on each; names says what a replica is called.
func (n *Node) syncReport(ctx context.Context, targets []peer.AddrInfo, timeout time.Duration, lan bool, names func(peer.ID) string) SyncReport {
	start := time.Now()
	outcomes, _ := n.syncAll(ctx, targets, timeout, min(timeout, 1500*time.Millisecond), lan)
	rep := SyncReport{Peers: []PeerSync{}, Conflicts: []cid.Cid{}}
	seen := map[cid.Cid]bool{}
	for _, o := range outcomes {
		ps := PeerSync{Peer: o.Peer, Name: n.peerName(o.Peer), Reached: o.Reached, Sent: o.Result.Sent, Received: o.Result.Received, History: o.Result.History}
		if ps.Name == "" {
			ps.Name = names(o.Peer)
		}
		var re *reachError
		switch {
		case errors.As(o.Err, &re):
			ps.Err, ps.Waited, ps.Busy = re.reason(), re.waited, errors.Is(re.why, ErrPeerBusy)
		case o.Err != nil:
			ps.Err, ps.Busy = firstLine(o.Err), errors.Is(o.Err, ErrPeerBusy)
		}
		rep.Peers = append(rep.Peers, ps)
		for _, c := range o.Result.Conflicts {
			if !seen[c] {
				seen[c] = true
				rep.Conflicts = append(rep.Conflicts, c)
			}
		}
	}
	rep.Duration = time.Since(start)
	if n.cfg.MDNS && lan && len(targets) == 0 {
		rep.Searched = rep.Duration
	}
	return rep
}

// peerName is what a connected peerwiki replica calls itself (its
// identify agent), or "".
func (n *Node) peerName(p peer.ID) string {
	v, err := n.host.Peerstore().Get(p, "AgentVersion")
	if err != nil {
		return ""
	}
	s, _ := v.(string)
	return agentName(s)
}

// rememberedNames looks up the names of the remembered replicas of dir.
func rememberedNames(dir string) func(peer.ID) string {
	ps, _ := LoadPeers(dir)
	names := map[string]string{}
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	return func(p peer.ID) string { return names[p.String()] }
}
