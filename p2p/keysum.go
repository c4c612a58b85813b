package p2p

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"peerwiki/history"
	"peerwiki/reconcile"
)

// A replica's first sync in a process (a one-shot `sync`, a serve just
// started) reads every head to build its key set; when nothing changed
// on either side, all the other side needs of it is its size and the
// sum of its digests. The last full read leaves those in the store
// (history.KeySum); while the heads are as they were then, lazyKeys
// offers them as a reconcile.Set and reads the heads only when the
// reconciliation asks for more than the whole set's sum.

// reconKeys is the set a sync reconciles: a key set, or lazyKeys.
type reconKeys interface {
	reconcile.Set
	// full returns the key set itself, read now if need be.
	full() (*keySet, error)
}

func (ks *keySet) full() (*keySet, error) { return ks, nil }

// lazyKeys is a key set known by its size and digest sum until more is
// asked of it.
type lazyKeys struct {
	n   *Node
	ctx context.Context
	len int
	sum reconcile.Sum
	ks  *keySet
	err error
}

var errHeadsMoved = errors.New("the heads changed during the sync; sync again")

// cachedKeys returns the recorded summary of the heads as a lazy set,
// when the node has not read its heads yet and they are as recorded.
// Checking that reads the heads table's summary (10-20 ms at 100,000
// heads); a one-shot sync asks while it dials and again for each peer,
// so the answer is kept for as long as the commit counter stays.
func (n *Node) cachedKeys(ctx context.Context) *lazyKeys {
	n.mu.Lock()
	read, memo := n.heads.keys != nil, n.keySumSeen
	n.mu.Unlock()
	if read {
		return nil
	}
	cc, err := n.store.CommitCount(ctx)
	if err != nil {
		return nil
	}
	if memo == nil || memo.commits != cc {
		k, ok, err := n.store.CurrentKeySum(ctx)
		if err != nil || !ok || k.State.Commits != cc {
			return nil
		}
		b, err := k.SumBytes()
		if err != nil || len(b) != reconcile.SumSize {
			return nil
		}
		memo = &seenKeySum{commits: cc, len: k.Keys, sum: reconcile.SumFromBytes([reconcile.SumSize]byte(b))}
		n.mu.Lock()
		n.keySumSeen = memo
		n.mu.Unlock()
	}
	return &lazyKeys{n: n, ctx: ctx, len: memo.len, sum: memo.sum}
}

// seenKeySum is a recorded summary found to hold at a commit count.
type seenKeySum struct {
	commits int64
	len     int
	sum     reconcile.Sum
}

// noteKeySum keeps the summary of a key set read whole, for the next
// process; the node records it as it closes (a write in the middle of a
// sync would move the log under the node's own watcher and peers).
func (n *Node) noteKeySum(ks *keySet, st history.HeadsState) {
	sum, err := ks.Sum(0, ks.Len())
	if err != nil {
		return
	}
	b := sum.Bytes()
	k := &history.KeySum{State: st, Keys: ks.Len(), Sum: hex.EncodeToString(b[:])}
	n.mu.Lock()
	n.keySum = k
	n.mu.Unlock()
}

// saveKeySum records the last noted summary, if the heads are still as
// it says (the store may have moved on since).
func (n *Node) saveKeySum() {
	n.mu.Lock()
	k := n.keySum
	n.keySum = nil
	n.mu.Unlock()
	if k == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if now, err := n.store.HeadsNow(ctx); err != nil || now != k.State {
		return
	}
	if err := n.store.SaveKeySum(ctx, *k); err != nil {
		n.log.Debug("could not record the key set's summary", "err", err)
	}
}

func (l *lazyKeys) full() (*keySet, error) {
	if l.ks == nil && l.err == nil {
		l.ks, l.err = l.n.localKeys(l.ctx)
		if l.err == nil {
			// The first message went out with the recorded summary: the
			// set read now must be the one it summed.
			sum, err := l.ks.Sum(0, l.ks.Len())
			if err != nil || l.ks.Len() != l.len || sum != l.sum {
				l.ks, l.err = nil, errHeadsMoved
			}
		}
	}
	return l.ks, l.err
}

func (l *lazyKeys) Len() int { return l.len }

func (l *lazyKeys) Search(k reconcile.Key) (int, error) {
	if k == (reconcile.Key{}) {
		return 0, nil // the bottom of the key space: the whole set's start
	}
	ks, err := l.full()
	if err != nil {
		return 0, err
	}
	return ks.Search(k)
}

func (l *lazyKeys) Keys(dst []reconcile.Key, i, j int) ([]reconcile.Key, error) {
	ks, err := l.full()
	if err != nil {
		return dst, err
	}
	return ks.Keys(dst, i, j)
}

func (l *lazyKeys) Sum(i, j int) (reconcile.Sum, error) {
	if i == 0 && j == l.len && l.ks == nil {
		return l.sum, nil
	}
	ks, err := l.full()
	if err != nil {
		return reconcile.Sum{}, err
	}
	return ks.Sum(i, j)
}
