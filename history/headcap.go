package history

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// MaxPageHeads is the most concurrent heads a page takes. Every head is a
// version someone must see and a policy must merge, and every write to
// the page re-reads its heads: 20,000 heads sent by one member made each
// batch take 30 s and the page unreadable. A team's concurrent offline
// edits of one page stay far below this.
//
// At the cap, a batch from elsewhere that would leave a page with more
// heads than MaxPageHeads (and more than it had) stores none of its
// revisions of that page: they are deferred (PutResult.Deferred), never
// lost, and taken once a member's merge or resolution has brought the
// count down (that merge arrives with the revisions it merges, in the
// same batch, which leaves the page with fewer heads). A local write that
// would pass the cap is refused with ErrTooManyHeads.
const MaxPageHeads = 128

// ErrTooManyHeads refuses a local write that would give a page more than
// MaxPageHeads heads.
var ErrTooManyHeads = errors.New("too many heads")

// HeadLimitError says why a revision was deferred: its page is at the cap.
type HeadLimitError struct {
	Page  cid.Cid
	Heads int // the page's heads after the batch, had it been stored
}

func (e *HeadLimitError) Error() string {
	return fmt.Sprintf("page %s would have %d concurrent heads, more than the %d a page takes: its new revisions wait until a member resolves its conflict",
		e.Page, e.Heads, MaxPageHeads)
}

func (e *HeadLimitError) Is(target error) bool { return target == ErrTooManyHeads }

// capHeads applies MaxPageHeads to the batch before any of it is written:
// for each page, the heads it would have after the batch are its current
// heads less those the batch builds on, plus the batch's revisions that
// no other revision of the batch builds on.
func (w *writer) capHeads(revs []pendingRev) error {
	if w.before {
		return nil
	}
	type pageBatch struct {
		revs []pendingRev
	}
	pages := map[cid.Cid]*pageBatch{}
	var order []cid.Cid
	named := map[cid.Cid]bool{} // revisions some revision of the batch builds on
	for _, p := range revs {
		if _, err := w.blockID(p.block.Cid); err == nil {
			continue // stored already
		}
		pg := p.rev.PageID(p.block.Cid)
		if pages[pg] == nil {
			pages[pg] = &pageBatch{}
			order = append(order, pg)
		}
		pages[pg].revs = append(pages[pg].revs, p)
		for _, l := range p.rev.Parents {
			named[l.Cid] = true
		}
	}
	for _, pg := range order {
		b := pages[pg]
		// The heads the batch adds: its revisions of the page that none
		// of it builds on, but for history arriving below a boundary.
		added := 0
		for _, p := range b.revs {
			if !named[p.block.Cid] && !w.joinsBoundary(p.block.Cid, p.rev, pg) {
				added++
			}
		}
		if added == 0 {
			// It keeps at most the heads it has: no need to read them (a
			// query a page of a deepening, a tenth of its writer's time).
			continue
		}
		current, err := w.pageHeads(pg)
		if err != nil {
			return err
		}
		after := added
		for _, h := range current {
			if !named[h] {
				after++
			}
		}
		if after <= MaxPageHeads || after <= len(current) {
			continue
		}
		why := &HeadLimitError{Page: pg, Heads: after}
		if w.local {
			return fmt.Errorf("%w: page %s would have %d heads, the most a page takes is %d; merge or resolve its conflict first",
				ErrTooManyHeads, pg, after, MaxPageHeads)
		}
		for _, p := range b.revs {
			w.deferRev(p.block.Cid, why)
		}
	}
	return nil
}

// pageHeads returns a page's current heads (none for a page not stored).
func (w *writer) pageHeads(page cid.Cid) ([]cid.Cid, error) {
	id, err := w.blockID(page)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return scanCIDs(w.q.Query(`SELECT b.cid FROM heads h JOIN blocks b ON b.id = h.rev WHERE h.page = ?`, id))
}

// recentlyDeferred remembers, for a while, the revisions a store deferred,
// so that a child arriving in a later batch of the same sync is deferred
// with its parent instead of being refused for a missing parent (which
// would get an honest sender banned). Bounded: past maxRemembered the
// oldest are forgotten.
type recentlyDeferred struct {
	mu   sync.Mutex
	at   map[cid.Cid]time.Time
	why  map[cid.Cid]error
	fifo []cid.Cid
}

const (
	maxRemembered    = 1 << 16
	rememberDeferred = 30 * time.Minute
)

func (d *recentlyDeferred) add(c cid.Cid, why error, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.at == nil {
		d.at, d.why = map[cid.Cid]time.Time{}, map[cid.Cid]error{}
	}
	if _, ok := d.at[c]; !ok {
		d.fifo = append(d.fifo, c)
	}
	d.at[c], d.why[c] = now, why
	for len(d.fifo) > maxRemembered {
		delete(d.at, d.fifo[0])
		delete(d.why, d.fifo[0])
		d.fifo = d.fifo[1:]
	}
}

// lookup returns why c was deferred, if it was within rememberDeferred.
func (d *recentlyDeferred) lookup(c cid.Cid, now time.Time) (error, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.at[c]
	if !ok || now.Sub(at) > rememberDeferred {
		return nil, false
	}
	return d.why[c], true
}
