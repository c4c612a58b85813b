package history

import (
	"fmt"
	"math"
	"time"

	"github.com/ipfs/go-cid"
)

// A revision's time is a hybrid logical clock in milliseconds (Kulkarni et
// al., "Logical Physical Clocks", 2014): the author's wall clock, pushed
// past every parent's time so that a child always sorts after what it was
// built on. An HLC trusts the clocks it hears from only up to a maximum
// drift ε; a message further ahead of the receiver's physical clock is
// refused, or the sender could drag every clock that hears it into the
// future (a revision dated 2100 made every later edit of its page 2100 and
// won every last-writer-wins conflict; one dated 2^63-1 left no later time
// to give a child, and froze the page).
//
// MaxClockDrift is peerwiki's ε: a revision whose time runs more than this
// ahead of the receiver's clock, and that advanced the clock itself (its
// time is more than its parents allow at the least), is not stored; it is
// deferred, never punished: the sender's next sync offers it again, and it
// is taken once the receiver's clock has caught up. An hour is orders of
// magnitude more than the error of any clock kept by NTP, and less than
// any lead worth forging: a member whose clock runs an hour or more fast
// sees its edits wait on the others until it is fixed, and loses none.
// A revision that only carries a clock its parents already had (time =
// the least its parents allow) is never deferred, so the rule cannot stop
// honest edits built on a revision that was stored before this rule
// existed; fsck names those (FutureRevisions).
const MaxClockDrift = time.Hour

// MaxTime is the largest revision time. A child of a revision at MaxTime
// carries MaxTime too: the only case where a signed revision's time may
// equal its parents' instead of passing it.
const MaxTime = math.MaxInt64

// NextTime is the clock rule for a new signed revision built now on
// parents whose greatest time is parentsMax (ignored for a genesis:
// hasParents false): max(now, parentsMax + 1), saturating at MaxTime.
func NextTime(now time.Time, parentsMax int64, hasParents bool) int64 {
	t := now.UnixMilli()
	if hasParents {
		t = max(t, leastChildTime(parentsMax))
	}
	return t
}

// leastChildTime is the least time a signed child of revisions whose
// greatest time is parentsMax may carry.
func leastChildTime(parentsMax int64) int64 {
	if parentsMax == MaxTime {
		return MaxTime
	}
	return parentsMax + 1
}

// timeAllowed reports whether a revision's time is consistent with its
// parents': an automatic merge carries exactly their greatest time, a
// signed child at least the least child time.
func timeAllowed(rev *Revision, parentsMax int64) bool {
	if rev.Page == nil {
		return true
	}
	if rev.IsAuto() {
		return rev.Time == parentsMax
	}
	return rev.Time >= leastChildTime(parentsMax)
}

// aheadOfClock reports whether a revision runs more than MaxClockDrift
// ahead of now while advancing the clock itself, the case the receiver
// defers (see MaxClockDrift).
func aheadOfClock(rev *Revision, parentsMax int64, now time.Time) bool {
	limit := now.Add(MaxClockDrift).UnixMilli()
	if rev.Time <= limit {
		return false
	}
	if rev.Page == nil {
		return true
	}
	if rev.IsAuto() {
		return false // its time is its parents', checked when they came
	}
	return rev.Time != leastChildTime(parentsMax)
}

// FutureError says why a revision was deferred: it is dated more than
// MaxClockDrift ahead of the receiver's clock.
type FutureError struct {
	Rev  cid.Cid
	Time int64
	Now  time.Time
}

func (e *FutureError) Error() string {
	return fmt.Sprintf("revision %s is dated %s, %s ahead of this machine's clock (the limit is %s): not stored until then; check the clock of the machine that wrote it",
		e.Rev, FormatTime(e.Time), aheadBy(e.Time, e.Now), MaxClockDrift)
}

// FormatTime shows a revision time as UTC, or the raw number when it is
// beyond what time.Time prints.
func FormatTime(ms int64) string {
	if ms > maxPrintableTime {
		return fmt.Sprintf("%d ms after 1970", ms)
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05 UTC")
}

// maxPrintableTime is the last millisecond of year 9999.
const maxPrintableTime = 253402300799999

// aheadBy says how far t (ms) runs ahead of now, rounded for people.
func aheadBy(t int64, now time.Time) string {
	d := t - now.UnixMilli()
	const year = 365 * 24 * time.Hour
	switch {
	case d > int64(100*year/time.Millisecond):
		return "centuries"
	case d > int64(2*24*time.Hour/time.Millisecond):
		return fmt.Sprintf("%d days", d/int64(24*time.Hour/time.Millisecond))
	default:
		return (time.Duration(d) * time.Millisecond).Round(time.Second).String()
	}
}

// Stamp sets the height and time of a new signed revision built now on
// parents (none for a genesis): height 1 + the greatest parent height,
// time by NextTime. It is the one home of the rule putRevision checks.
func (r *Revision) Stamp(parents []*Revision, now time.Time) {
	var parentsMax int64
	r.Height = 1
	for _, p := range parents {
		r.Height = max(r.Height, p.Height+1)
		parentsMax = max(parentsMax, p.Time)
	}
	r.Time = NextTime(now, parentsMax, len(parents) > 0)
}

// StampMerge sets the height and time of an automatic merge of parents:
// it is a pure function of them, so it carries their greatest time.
func (r *Revision) StampMerge(parents []*Revision) {
	r.Height, r.Time = 1, 0
	for _, p := range parents {
		r.Height = max(r.Height, p.Height+1)
		r.Time = max(r.Time, p.Time)
	}
}
