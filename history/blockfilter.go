package history

import (
	"errors"
	"hash/maphash"
	"sync"

	"github.com/ipfs/go-cid"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// A Bloom filter of the CIDs a store holds (issue 19). A sync's writer
// asks, for every block of every batch, whether it is stored already
// (lookUpBatch), and in a fresh replica's join the answer is almost
// always no: 300,000 probes of the blocks' CID index for a 100,000-page
// shallow join, 1.6 s of its writer. A store that held at most
// filterFrom blocks when a process first wrote a large batch to it keeps
// the filter in that process for as long as the process's own commits
// are the only ones: the commit counter, read in each writing
// transaction, must be the one its last commit left. The writer then
// asks the database only for the CIDs the filter may hold. Every block
// the process stores goes into the filter as it is stored, so a rolled
// back transaction leaves only false positives, which cost a query. A
// commit by another process, or more CIDs than the filter was sized for,
// turns it off for good; so does a block the writer found stored after
// all (a constraint failure on insert: the batch fails, and its retry
// asks the database).
type blockFilter struct {
	mu      sync.Mutex
	state   int // filterUnknown, filterOn or filterOff
	bits    []uint64
	n       int
	validAt int64 // the commit counter at which it holds every stored CID
}

const (
	filterUnknown = iota
	filterOn
	filterOff
)

const (
	filterFrom = 4096      // the most blocks a store may hold for a filter
	filterBits = 1 << 24   // 2 MiB: about 1% false positives at filterMax
	filterMax  = 1_700_000 // CIDs; past it the filter is dropped
	filterK    = 7
)

var filterSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// use says whether the filter can answer for the transaction q (which
// holds the write lock), starting it on the store's first large write.
func (f *blockFilter) use(q querier) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.state {
	case filterOff:
		return false
	case filterUnknown:
		f.state = filterOff
		var n int
		if err := q.QueryRow(`SELECT count(*) FROM (SELECT 1 FROM blocks LIMIT ?)`, filterFrom+1).Scan(&n); err != nil || n > filterFrom {
			return false
		}
		rows, err := q.Query(`SELECT cid FROM blocks`)
		if err != nil {
			return false
		}
		f.bits = make([]uint64, filterBits/64)
		for rows.Next() {
			var b []byte
			if rows.Scan(&b) != nil {
				rows.Close()
				f.bits = nil
				return false
			}
			f.addBytes(b)
		}
		rows.Close()
		if rows.Err() != nil || q.QueryRow(`SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'commits'`).Scan(&f.validAt) != nil {
			f.bits = nil
			return false
		}
		f.state = filterOn
		return true
	}
	var now int64
	if err := q.QueryRow(`SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'commits'`).Scan(&now); err != nil || now != f.validAt {
		f.turnOff()
		return false
	}
	return true
}

func (f *blockFilter) turnOff() {
	f.state, f.bits = filterOff, nil
}

// off turns the filter off for good.
func (f *blockFilter) off() {
	f.mu.Lock()
	f.turnOff()
	f.mu.Unlock()
}

// add notes a block being stored.
func (f *blockFilter) add(c cid.Cid) {
	f.mu.Lock()
	if f.state == filterOn {
		f.addBytes(c.Bytes())
	}
	f.mu.Unlock()
}

func (f *blockFilter) addBytes(b []byte) {
	if f.n++; f.n > filterMax {
		f.turnOff()
		return
	}
	h1, h2 := maphash.Bytes(filterSeeds[0], b), maphash.Bytes(filterSeeds[1], b)|1
	for i := range uint64(filterK) {
		bit := (h1 + i*h2) % filterBits
		f.bits[bit/64] |= 1 << (bit % 64)
	}
}

// holdsNot reports the CIDs of cs the store surely does not hold, as a
// set; use must have said yes in the same transaction.
func (f *blockFilter) holdsNot(cs []cid.Cid) map[cid.Cid]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[cid.Cid]bool{}
	if f.state != filterOn {
		return out
	}
	for _, c := range cs {
		b := c.Bytes()
		h1, h2 := maphash.Bytes(filterSeeds[0], b), maphash.Bytes(filterSeeds[1], b)|1
		for i := range uint64(filterK) {
			bit := (h1 + i*h2) % filterBits
			if f.bits[bit/64]&(1<<(bit%64)) == 0 {
				out[c] = true
				break
			}
		}
	}
	return out
}

// committed notes a commit of this process that left the commit counter
// at counter (-1: one that did not count). Unless the counter was where
// this process's last commit left it, another process committed in
// between (a transaction that did not ask the filter does not look), and
// the filter turns off.
func (f *blockFilter) committed(counter int64) {
	if counter < 0 {
		return
	}
	f.mu.Lock()
	if f.state == filterOn {
		if counter == f.validAt+1 {
			f.validAt = counter
		} else {
			f.turnOff()
		}
	}
	f.mu.Unlock()
}

// insertFailed turns the filter off when err says a block it let through
// as new was stored after all.
func (f *blockFilter) insertFailed(err error) {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		f.off()
	}
}
