package p2p

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// progressRule is the least a sync must move while it waits on its
// peer. A sync that waited window (blocked reading from the peer, or
// writing to it) without minBytes moving either way is cut off; one that
// waited evictAfter without moving them gives its slot to a newcomer when
// every slot is taken. Time this node spends computing does not count:
// only the peer can be too slow.
type progressRule struct {
	window     time.Duration
	minBytes   int64
	evictAfter time.Duration
}

// defaultProgress asks 32 KiB in 20 s of waiting: 1.6 KiB/s, well under
// a slow honest link (a GPRS phone moves 5 KiB/s, a busy relay more), and
// two orders of magnitude over a peer that trickles a block every 10 s to
// hold a slot. A sync waits on an honest peer for seconds at a time only
// while it plans its side (a second or two for 100,000 heads), so 5 s
// without progress marks a stalled one.
var defaultProgress = progressRule{window: 20 * time.Second, minBytes: 32 << 10, evictAfter: 5 * time.Second}

// errTooSlow cuts off a sync whose peer moved too little: a bad link or a
// peer holding a slot, never punished.
var errTooSlow = errors.New("too slow")

// progressMeter holds one sync to its progressRule. Each time minBytes
// have moved, it starts counting again.
type progressMeter struct {
	rule progressRule

	mu     sync.Mutex
	waited time.Duration // finished waits since the count started
	moved  int64
	since  time.Time // start of the wait under way; zero when not waiting
}

func newProgressMeter(rule progressRule) *progressMeter { return &progressMeter{rule: rule} }

// begin marks the start of a wait on the peer at now, and returns when
// the wait must end for the sync to keep to the rule.
func (m *progressMeter) begin(now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.since = now
	return now.Add(m.rule.window - m.waited)
}

// end closes the wait begun last, in which n bytes moved and err
// happened; it returns errTooSlow if the wait used up the window, and err
// otherwise.
func (m *progressMeter) end(now time.Time, n int, err error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waited += now.Sub(m.since)
	m.since = time.Time{}
	m.moved += int64(n)
	if m.moved >= m.rule.minBytes {
		m.waited, m.moved = 0, 0
		return err
	}
	if m.waited >= m.rule.window {
		return fmt.Errorf("%w: the peer moved %d bytes in %s of waiting, under %d KiB", errTooSlow, m.moved, m.rule.window, m.rule.minBytes>>10)
	}
	return err
}

// stalled is how long the sync has waited at now without moving
// minBytes.
func (m *progressMeter) stalled(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.waited
	if !m.since.IsZero() {
		d += now.Sub(m.since)
	}
	return d
}
