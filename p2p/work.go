package p2p

import (
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// workShare is what one peer may make this node compute. Planning a sync
// costs a unit for each of the peer's heads that is not one of ours (a
// database look-up, 15-25 µs; ours are found in memory) and one for each
// revision planned (read, packed and sent). Each peer has a bucket of
// burst units, refilled at rate a second. A sync is planned only while the
// bucket is not empty, and its whole cost is charged, into debt if need
// be: one honest sync of any size goes through, and the peer's next one
// waits until the debt is paid.
type workShare struct {
	burst, rate float64
}

// defaultWorkShare: a million units is a first sync of a very large
// wiki (the debt rule lets a larger one through), and 2,000 a second is
// a twentieth of a core at most. An honest peer's syncs cost what changed
// since the last (its heads that are ours cost nothing), so they seldom
// come near it.
var defaultWorkShare = workShare{burst: 1_000_000, rate: 2_000}

// workBudget is the buckets of the peers.
type workBudget struct {
	share workShare
	mu    sync.Mutex
	peers map[peer.ID]*workBucket
}

type workBucket struct {
	units float64
	at    time.Time
	// refused is set while the peer is being refused, so that it is
	// logged once.
	refused bool
}

func newWorkBudget(share workShare) *workBudget {
	return &workBudget{share: share, peers: map[peer.ID]*workBucket{}}
}

// bucket returns p's bucket refilled up to now; w.mu is held.
func (w *workBudget) bucket(p peer.ID, now time.Time) *workBucket {
	b := w.peers[p]
	if b == nil {
		if len(w.peers) >= 4096 {
			w.forgetFull(now)
		}
		b = &workBucket{units: w.share.burst, at: now}
		w.peers[p] = b
	}
	b.units = min(w.share.burst, b.units+now.Sub(b.at).Seconds()*w.share.rate)
	b.at = now
	return b
}

// forgetFull drops the buckets that have filled up again: they are what a
// new one would be.
func (w *workBudget) forgetFull(now time.Time) {
	for p, b := range w.peers {
		if b.units+now.Sub(b.at).Seconds()*w.share.rate >= w.share.burst {
			delete(w.peers, p)
		}
	}
}

// allow reports whether p may have a sync planned at now. When it may
// not, wait is how long until it may, and first is set the first time in
// a row it is refused.
func (w *workBudget) allow(p peer.ID, now time.Time) (ok bool, wait time.Duration, first bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.bucket(p, now)
	if b.units > 0 {
		b.refused = false
		return true, 0, false
	}
	first = !b.refused
	b.refused = true
	return false, time.Duration((-b.units/w.share.rate + 1) * float64(time.Second)), first
}

// charge takes units of work from p's bucket.
func (w *workBudget) charge(p peer.ID, units int, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bucket(p, now).units -= float64(units)
}

// lookups is how many of theirs planning a sync must look up in the
// database: those not among ours. Both are sorted by bytes, as head sets
// are; a peer whose heads are not pays for them all, and so does one
// answered without our heads read (ours nil: see headsToCompare).
func lookups(theirs, ours []cid.Cid) int {
	n, j := 0, 0
	for _, c := range theirs {
		k := c.KeyString()
		for j < len(ours) && ours[j].KeyString() < k {
			j++
		}
		if j == len(ours) || ours[j] != c {
			n++
		}
	}
	return n
}
