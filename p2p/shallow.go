package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

// Shallow joins and deepening (issue 19; history/shallow.go has the
// store's side). A replica that has nothing yet and runs with
// Config.Shallow asks, in its HELLO, for the current version of every
// page first (history.Store.PlanShallow on the answerer): the wiki is
// readable and writable when that sync ends. Then, after every sync with
// a peer while history is missing (unless the replica keeps shallow, see
// history.ShallowState.Keep),
// it deepens: HELLO frames listing what its boundary revisions lack,
// answered with that history, parents first (PlanDeepen), until nothing
// is missing or the peer has nothing more to give.
//
// Both are asked for by this side: an answerer can send a revision
// without its parents only into a stream that asked for it
// (frameConn.shallow). A deepening request is bounded like a head list
// (deepenWants CIDs, a frame), charged to the asker's share of work as a
// sync is, and answered with what is here: an answerer that is shallow
// itself sends what it has, never more than it holds, and the asker
// stops when a round brings nothing.

// Shallow modes of a HELLO: the current versions first unless the whole
// history is small (a plain join: one round trip is then cheaper), or
// whatever its size (join --shallow, which wants no history).
const (
	shallowUnlessSmall = 1
	shallowAlways      = 2
)

// shallowMode is the mode this replica asks for: none once it holds a
// page.
func (n *Node) shallowMode(ctx context.Context) (int, error) {
	holds, err := n.store.HoldsPages(ctx)
	if err != nil || holds {
		return 0, err
	}
	st, err := n.store.Shallow(ctx)
	if err != nil {
		return 0, err
	}
	if st.Keep {
		return shallowAlways, nil
	}
	return shallowUnlessSmall, nil
}

// deepenWants is how many missing parents a deepening's first round asks
// for: 38 bytes each in its HELLO, about 160 KB. A round whose first
// block came within deepenQuick asks for twice as many the next time, up
// to maxDeepenWants: an answerer that plans as it sends (PlanDeepen)
// answers a round of any size at once, and every round costs the asker
// a round trip with its writer idle; one that plans a round before its
// first block (an older build) stays well under the 5 s a sync may wait
// without progress.
const (
	deepenWants = 4096
	deepenQuick = 500 * time.Millisecond
)

// maxDeepenWants bounds the revisions one deepening HELLO may ask for
// (600 KB of it); more is a protocol violation.
const maxDeepenWants = 16384

// deepenRounds bounds the rounds of one deepening (each brings the
// history of up to deepenWants pages).
const deepenRounds = 1000

// shallowWholeUpTo: a plain join of a wiki of at most this many
// revisions gets the whole history at once (a 1,000-page wiki of 10
// revisions a page clones in a second or two, shallow first or not).
const shallowWholeUpTo = 20_000

// deepenRetry is how long a peer that had none of the history asked for
// is left alone before the next attempt.
const deepenRetry = 10 * time.Minute

// errNoHistory is a deepening round that brought nothing.
var errNoHistory = errors.New("the peer has none of the missing history")

// deepening is a node's one deepening at a time, and the peers that had
// nothing to give lately.
type deepening struct {
	mu      sync.Mutex
	running bool
	futile  map[peer.ID]time.Time
}

// wantsHistory says whether this replica should fetch missing history
// now.
func (n *Node) wantsHistory(ctx context.Context) bool {
	want, err := n.store.WantsHistory(ctx)
	return err == nil && want
}

// maybeDeepen fetches from p the history this replica lacks, when it
// lacks some and wants it, and returns how many revisions came. Errors
// are logged: the sync before it succeeded.
func (n *Node) maybeDeepen(ctx context.Context, p peer.ID) int {
	if !n.wantsHistory(ctx) {
		return 0
	}
	d := &n.deep
	d.mu.Lock()
	if d.running || time.Since(d.futile[p]) < deepenRetry {
		d.mu.Unlock()
		return 0
	}
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	if len(n.cfg.Listen) == 0 {
		n.dropKeys()
	}
	start := time.Now()
	got, err := n.deepen(ctx, p)
	if errors.Is(err, errNoHistory) {
		d.mu.Lock()
		if d.futile == nil {
			d.futile = map[peer.ID]time.Time{}
		}
		d.futile[p] = time.Now()
		d.mu.Unlock()
	}
	if err != nil && !errors.Is(err, errNoHistory) {
		n.log.Warn("fetching the history failed", "peer", p, "received", got, "err", err)
		n.punish(p, err)
	} else {
		n.log.Info("fetched history", "peer", p, "received", got, "ms", time.Since(start).Milliseconds(),
			"complete", err == nil)
	}
	return got
}

// deepen runs deepening rounds with p until no history is missing, p has
// none of it, or deepenRounds.
func (n *Node) deepen(ctx context.Context, p peer.ID) (int, error) {
	total, size := 0, deepenWants
	for range deepenRounds {
		wants, err := n.store.ShallowWants(ctx, size)
		if err != nil || len(wants) == 0 {
			return total, err
		}
		got, first, err := n.deepenOnce(ctx, p, wants)
		total += got
		if err != nil {
			return total, err
		}
		if got == 0 {
			return total, errNoHistory
		}
		if first < deepenQuick {
			size = min(2*size, maxDeepenWants)
		}
	}
	return total, nil
}

// deepenOnce asks p for the history below wants and stores it; first is
// how long its first frame took.
func (n *Node) deepenOnce(ctx context.Context, p peer.ID, wants []cid.Cid) (got int, first time.Duration, err error) {
	done, err := n.peerTurn(ctx, p)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	s, fc, err := n.openSync(ctx, p)
	if err != nil {
		return 0, 0, err
	}
	fc.shallow = true
	defer fc.release()
	var res SyncResult
	err = func() error {
		if err := fc.writeCBOR(frameHello, helloMsg{V: protoVersion, Wiki: n.wiki, Deepen: encodeCIDs(wants)}); err != nil {
			return err
		}
		if err := fc.flush(); err != nil {
			return err
		}
		asked := time.Now()
		t, payload, err := fc.read()
		if err != nil {
			return err
		}
		first = time.Since(asked)
		_, err = n.receiveBlocks(ctx, fc, p, t, payload, &res)
		return err
	}()
	if err != nil {
		s.Reset()
		return res.Received, first, fmt.Errorf("fetch history from %s: %w", p, err)
	}
	s.Close()
	return res.Received, first, nil
}

// answerDeepen answers a deepening request: the history below want.
func (n *Node) answerDeepen(ctx context.Context, fc *frameConn, p peer.ID, res *SyncResult, want [][]byte) error {
	if err := n.allowWork(p); err != nil {
		return err
	}
	if len(want) > maxDeepenWants {
		return protoErr("a deepening request for %d revisions, more than %d", len(want), maxDeepenWants)
	}
	cs, err := decodeCIDs(want)
	if err != nil {
		return protoErr("bad deepening request: %v", err)
	}
	plan, err := n.store.PlanDeepen(ctx, cs)
	if err != nil {
		n.work.charge(p, len(cs), time.Now())
		return err
	}
	// The history is planned as it goes out: charged once sent (or cut
	// short), for what was planned.
	err = n.sendPlan(ctx, fc, plan, endMsg{}, nil)
	n.work.charge(p, len(cs)+plan.Revisions(), time.Now())
	if err != nil {
		return err
	}
	res.Sent = plan.Revisions()
	return nil
}

// planShallowFor is planFor for a HELLO that asked for the current
// versions first.
func (n *Node) planShallowFor(ctx context.Context, p peer.ID, theirs, ours []cid.Cid, always bool) (*history.SyncPlan, error) {
	if err := n.allowWork(p); err != nil {
		return nil, err
	}
	whole := n.cfg.shallowWhole
	if always {
		whole = 0
	}
	plan, err := n.store.PlanShallow(ctx, theirs, whole)
	units := lookups(theirs, ours)
	if err == nil {
		units += plan.Revisions()
	}
	n.work.charge(p, units, time.Now())
	return plan, err
}
