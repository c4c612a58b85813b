package p2p

import (
	"context"
	"crypto/sha256"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/reconcile"
)

// The node's own (page, head) pairs as the keys of set reconciliation
// (reconcile/), kept in memory between syncs.
//
// A key is SHA-256(page)[:8] || SHA-256(page || head)[:24], page and head
// being CID bytes (reconcile/doc.go, "Items"): a page's heads sit side by
// side, so a page edited on one side is one differing range. The set is
// an immutable snapshot (a session reads one while others are built):
// the sorted keys, the prefix sums of their digests and, for each key,
// which head it stands for. It is read again only when the store's commit
// counter has moved, and then only for the pages that gained a revision
// since (history.Store.HeadsSince), merged into a copy of the previous
// snapshot: an O(n) copy in memory and a hash for each changed head,
// where a rebuild reads every head from SQLite and hashes it three times.
// The result is checked against a summary of the whole heads table (the
// count, and the sums of the revision and page ids, read in the same
// transaction); heads that changed without a new revision (a page
// recounted after the member list changed: its heads replaced by others,
// which have other ids) do not match, and the set is then read whole.

// keyEntry is the head a key stands for.
type keyEntry struct {
	rev, page int64
	head      cid.Cid
}

// keySet is one snapshot of the node's heads as reconciliation keys. It
// is a reconcile.Set.
type keySet struct {
	commits, lastRev       int64
	count, revSum, pageSum int64
	keys                   []reconcile.Key
	pre                    []reconcile.Sum // pre[i]: sum of the digests of keys[:i]
	ents                   []keyEntry
	listOnce               sync.Once
	list                   headList
}

// headList is the head set sorted by CID bytes and its history.HeadsHash:
// what a HELLO of the list mode and gossip's periodic announcement carry.
type headList struct {
	heads []cid.Cid
	sum   [32]byte
}

// headState is the node's cache of its own heads (Node.heads): the
// current key set, nil until a sync or gossip first asks.
type headState struct {
	keys *keySet
}

// maxChangedPages is how many changed pages a key set is brought up to
// date with; beyond, it is read whole.
const maxChangedPages = 20_000

// headKey is the reconciliation key of a page's head.
func headKey(page, head cid.Cid) reconcile.Key {
	pb, hb := page.Bytes(), head.Bytes()
	var k reconcile.Key
	a := sha256.Sum256(pb)
	copy(k[:8], a[:8])
	h := sha256.New()
	h.Write(pb)
	h.Write(hb)
	var b [32]byte
	h.Sum(b[:0])
	copy(k[8:], b[:24])
	return k
}

// item is a key and its head, as a set is built (64 bytes; the digests
// go straight into the set's prefix sums once the keys are sorted).
type item struct {
	key reconcile.Key
	ent keyEntry
}

// items hashes rows into items.
func items(rows []history.HeadRow) []item {
	out := make([]item, len(rows))
	for i, r := range rows {
		out[i] = item{key: headKey(r.PageCID, r.Head), ent: keyEntry{rev: r.Rev, page: r.Page, head: r.Head}}
	}
	return out
}

// readItems reads the heads that changed since revision after (every
// head when after is negative) and hashes them into items on every core
// while the store reads on: at 100,000 heads the read and the hashing
// take about as long each.
func (n *Node) readItems(ctx context.Context, after int64) (*history.HeadsChange, []item, error) {
	parts := make(chan []history.HeadRow, 4)
	var mu sync.Mutex
	var done [][]item
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rows := range parts {
				its := items(rows)
				mu.Lock()
				done = append(done, its)
				mu.Unlock()
			}
		}()
	}
	ch, err := n.store.HeadsSinceEach(ctx, after, maxChangedPages, func(rows []history.HeadRow) { parts <- rows })
	close(parts)
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	var all []item
	if len(done) == 1 {
		all = done[0]
	} else {
		total := 0
		for _, d := range done {
			total += len(d)
		}
		all = make([]item, 0, total)
		for i, d := range done {
			all = append(all, d...)
			done[i] = nil
		}
	}
	return ch, all, nil
}

func sortItems(its []item) []item {
	slices.SortFunc(its, func(a, b item) int { return a.key.Compare(b.key) })
	// Two heads with one key would take a 2^-96 collision: keep one.
	return slices.CompactFunc(its, func(a, b item) bool { return a.key == b.key })
}

// newKeySet builds a set from every head.
func newKeySet(ch *history.HeadsChange, its []item) *keySet {
	its = sortItems(its)
	ks := &keySet{commits: ch.Commits, lastRev: ch.LastRev,
		keys: make([]reconcile.Key, len(its)), pre: make([]reconcile.Sum, len(its)+1), ents: make([]keyEntry, len(its))}
	for i, it := range its {
		ks.keys[i], ks.ents[i] = it.key, it.ent
	}
	// pre[i+1] holds key i's digest, on every core, then the running sum.
	work := func(from, to int) {
		for i := from; i < to; i++ {
			ks.pre[i+1] = reconcile.Digest(ks.keys[i])
		}
	}
	procs := runtime.GOMAXPROCS(0)
	if n := len(its); n < 4096 || procs == 1 {
		work(0, n)
	} else {
		var wg sync.WaitGroup
		per := (n + procs - 1) / procs
		for from := 0; from < n; from += per {
			wg.Add(1)
			go func(from, to int) {
				defer wg.Done()
				work(from, to)
			}(from, min(from+per, n))
		}
		wg.Wait()
	}
	for i := range its {
		ks.pre[i+1] = ks.pre[i].Add(ks.pre[i+1])
	}
	ks.summarise()
	return ks
}

// updated returns a copy of ks with the heads of ch's pages replaced by
// ch's rows.
func (ks *keySet) updated(ch *history.HeadsChange, fresh []item) *keySet {
	if len(ch.Pages) == 0 {
		// Nothing new: the same keys (a snapshot is never written to).
		return &keySet{commits: ch.Commits, lastRev: ch.LastRev, count: ks.count, revSum: ks.revSum, pageSum: ks.pageSum,
			keys: ks.keys, pre: ks.pre, ents: ks.ents}
	}
	changed := make(map[int64]bool, len(ch.Pages))
	for _, p := range ch.Pages {
		changed[p] = true
	}
	fresh = sortItems(fresh)
	n := len(ks.keys) + len(fresh)
	out := &keySet{commits: ch.Commits, lastRev: ch.LastRev,
		keys: make([]reconcile.Key, 0, n), pre: make([]reconcile.Sum, 1, n+1), ents: make([]keyEntry, 0, n)}
	add := func(k reconcile.Key, d reconcile.Sum, e keyEntry) {
		if l := len(out.keys); l > 0 && out.keys[l-1] == k {
			return
		}
		out.keys = append(out.keys, k)
		out.ents = append(out.ents, e)
		out.pre = append(out.pre, out.pre[len(out.pre)-1].Add(d))
	}
	j := 0
	for i, k := range ks.keys {
		for j < len(fresh) && fresh[j].key.Compare(k) < 0 {
			add(fresh[j].key, reconcile.Digest(fresh[j].key), fresh[j].ent)
			j++
		}
		if changed[ks.ents[i].page] {
			continue
		}
		add(k, ks.pre[i+1].Sub(ks.pre[i]), ks.ents[i])
	}
	for ; j < len(fresh); j++ {
		add(fresh[j].key, reconcile.Digest(fresh[j].key), fresh[j].ent)
	}
	out.summarise()
	return out
}

// summarise computes the summary HeadsChange checks a set against.
func (ks *keySet) summarise() {
	ks.count, ks.revSum, ks.pageSum = int64(len(ks.ents)), 0, 0
	for _, e := range ks.ents {
		ks.revSum += e.rev
		ks.pageSum += e.page
	}
}

func (ks *keySet) matches(ch *history.HeadsChange) bool {
	return ks.count == ch.Count && ks.revSum == ch.RevSum && ks.pageSum == ch.PageSum
}

// Len, Search, Keys and Sum make a keySet a reconcile.Set.
func (ks *keySet) Len() int { return len(ks.keys) }

func (ks *keySet) Search(k reconcile.Key) (int, error) {
	return sort.Search(len(ks.keys), func(i int) bool { return ks.keys[i].Compare(k) >= 0 }), nil
}

func (ks *keySet) Keys(dst []reconcile.Key, i, j int) ([]reconcile.Key, error) {
	if i < 0 || i > j || j > len(ks.keys) {
		return dst, errPositions
	}
	return append(dst, ks.keys[i:j]...), nil
}

func (ks *keySet) Sum(i, j int) (reconcile.Sum, error) {
	if i < 0 || i > j || j > len(ks.keys) {
		return reconcile.Sum{}, errPositions
	}
	return ks.pre[j].Sub(ks.pre[i]), nil
}

var errPositions = protoErr("key set positions out of range") // never: the package asks within Len

// entry returns the head key k stands for, if the set holds k.
func (ks *keySet) entry(k reconcile.Key) (keyEntry, bool) {
	i, _ := ks.Search(k)
	if i < len(ks.keys) && ks.keys[i] == k {
		return ks.ents[i], true
	}
	return keyEntry{}, false
}

// pageHeads returns the heads of the set on page (whose key starts with
// prefix, the page's 8 bytes).
func (ks *keySet) pageHeads(prefix [8]byte, page int64) []keyEntry {
	var lo reconcile.Key
	copy(lo[:], prefix[:])
	i, _ := ks.Search(lo)
	var out []keyEntry
	for ; i < len(ks.keys) && [8]byte(ks.keys[i][:8]) == prefix; i++ {
		if ks.ents[i].page == page {
			out = append(out, ks.ents[i])
		}
	}
	return out
}

// heads returns the head set sorted by CID bytes and its hash, built once
// for the snapshot.
func (ks *keySet) heads() headList {
	ks.listOnce.Do(func() {
		hs := make([]cid.Cid, len(ks.ents))
		for i, e := range ks.ents {
			hs[i] = e.head
		}
		slices.SortFunc(hs, func(a, b cid.Cid) int { return compareStrings(a.KeyString(), b.KeyString()) })
		ks.list = headList{heads: hs, sum: history.HeadsHash(hs)}
	})
	return ks.list
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// localKeys returns the node's heads as a key set, brought up to date
// when the store's commit counter has moved since it was read.
func (n *Node) localKeys(ctx context.Context) (*keySet, error) {
	// One reader at a time: a caller that waited finds the cache filled.
	n.headsMu.Lock()
	defer n.headsMu.Unlock()
	cc, err := n.store.CommitCount(ctx)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	ks := n.heads.keys
	n.mu.Unlock()
	if ks != nil && ks.commits == cc {
		return ks, nil
	}
	start := time.Now()
	after := int64(-1)
	if ks != nil {
		after = ks.lastRev
	}
	ch, its, err := n.readItems(ctx, after)
	if err != nil {
		return nil, err
	}
	var next *keySet
	if !ch.Full {
		if next = ks.updated(ch, its); !next.matches(ch) {
			next = nil
		}
	}
	if next == nil {
		if !ch.Full {
			if ch, its, err = n.readItems(ctx, -1); err != nil {
				return nil, err
			}
		}
		next = newKeySet(ch, its)
	}
	n.log.Debug("read the heads for reconciliation", "heads", next.Len(), "whole", ch.Full, "pages", len(ch.Pages),
		"ms", float64(time.Since(start).Microseconds())/1000)
	n.mu.Lock()
	n.heads = headState{keys: next}
	n.mu.Unlock()
	return next, nil
}

// localHeads returns the node's head set sorted by CID bytes, and its
// hash.
func (n *Node) localHeads(ctx context.Context) (headList, error) {
	ks, err := n.localKeys(ctx)
	if err != nil {
		return headList{}, err
	}
	return ks.heads(), nil
}

// headsBefore is how many heads the node's key set held when it was last
// read: before a sync under way, about what the store held. A sync merges
// the search index (history.Store.MergeSearchIndex, which rewrites all of
// it) only when it brought at least as many revisions, as a clone does;
// for 1,000 revisions into a wiki of 100,000 pages the merge took 2.7 s,
// and FTS4's automerge keeps up with a few batches.
func (n *Node) headsBefore() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.heads.keys == nil {
		return 0
	}
	return n.heads.keys.Len()
}
