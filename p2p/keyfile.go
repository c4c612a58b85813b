package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// A one-shot sync (a CI job's `sync`, a `sync` from the shell) of a large
// wiki read every head to build its key set as soon as the other side
// differed: 0.9 of the 1.1 s a sync of one new revision took at 100,000
// pages, where a running node updates its set in memory from the pages
// that changed. A node now leaves its key set beside the store as it
// closes (peerwiki.db-keys), and the next process starts from that: it
// reads the heads of the pages with revisions since (history.HeadsSince)
// and checks the result against the heads table's summary, exactly as a
// running node does, and reads every head only when that fails.
//
// The file is a cache: written whole to a temporary file and renamed,
// checksummed, bound to its store (savedKeys), and never trusted beyond
// what those checks and the summary confirm. A missing, damaged, foreign
// or stale one costs the full read it saves.

// keysMagic opens the file; the version is in it.
const keysMagic = "peerwiki keys 1\n"

// keysPath is the file beside the store.
func (n *Node) keysPath() string { return n.store.Path() + "-keys" }

// savedKeys is a key set as the file holds it, with what binds it to
// one store: the store's instance id (history.Store.Instance), and the
// CID of the last revision when it was read (block row ids are allocated
// in order and no block is ever deleted, so a store that holds it at that
// id holds every row the set was read from); and how many times it was
// carried on (updated and saved again) since it was last read whole, and
// when that was.
type savedKeys struct {
	ks       *keySet
	instance string
	lastRev  cid.Cid
	gen      int
	whole    time.Time // when it was last read whole
}

// maxKeyGenerations is how many times a saved set may be carried on
// (updated and saved again), and maxKeyAge how long after it was read
// whole, before a process reads the heads whole again: a bound on how
// long a set could stay wrong in a way none of the checks sees.
const (
	maxKeyGenerations = 64
	maxKeyAge         = 24 * time.Hour
)

// keySample is how many of a loaded set's heads are looked up in the
// store to check them (one query).
const keySample = 64

// encode is the file: the magic; the instance id and the last revision's
// CID, each with its length; the generation; the state the set was read
// in (commits, last revision, count and sums of the heads), when it was
// last read whole (Unix seconds) and the number of keys; each key with
// its revision and page row ids and its head's CID; and a SHA-256 of all
// that.
func (sk *savedKeys) encode() []byte {
	ks := sk.ks
	b := make([]byte, 0, len(keysMagic)+128+ks.Len()*(32+8+8+40)+32)
	b = append(b, keysMagic...)
	b = appendBytes(b, []byte(sk.instance))
	b = appendBytes(b, sk.lastRev.Bytes())
	b = binary.LittleEndian.AppendUint64(b, uint64(sk.gen))
	for _, v := range []int64{ks.commits, ks.lastRev, ks.count, ks.revSum, ks.pageSum, sk.whole.Unix(), int64(ks.Len())} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	for _, c := range ks.chunks {
		for i, k := range c.keys {
			e := c.ents[i]
			b = append(b, k[:]...)
			b = binary.LittleEndian.AppendUint64(b, uint64(e.rev))
			b = binary.LittleEndian.AppendUint64(b, uint64(e.page))
			b = appendBytes(b, e.head.Bytes())
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// readBytes takes a length-prefixed field (at most max bytes) off b.
func readBytes(b []byte, max int) (v, rest []byte, ok bool) {
	l, w := binary.Uvarint(b)
	if w <= 0 || l > uint64(max) || l > uint64(len(b)-w) {
		return nil, nil, false
	}
	return b[w : w+int(l)], b[w+int(l):], true
}

var errBadKeysFile = errors.New("not a key set file of this version, or damaged")

// decodeSavedKeys is encode undone, the set rebuilt (its digests and sums
// computed again) and checked against the summary it was saved with.
func decodeSavedKeys(data []byte) (*savedKeys, error) {
	if len(data) < len(keysMagic)+2+8+56+32 || !bytes.HasPrefix(data, []byte(keysMagic)) {
		return nil, errBadKeysFile
	}
	body, sum := data[:len(data)-32], data[len(data)-32:]
	if s := sha256.Sum256(body); !bytes.Equal(s[:], sum) {
		return nil, errBadKeysFile
	}
	b := body[len(keysMagic):]
	sk := &savedKeys{}
	inst, b, ok := readBytes(b, 64)
	if !ok {
		return nil, errBadKeysFile
	}
	sk.instance = string(inst)
	lr, b, ok := readBytes(b, 128)
	if !ok {
		return nil, errBadKeysFile
	}
	var err error
	if sk.lastRev, err = cid.Cast(lr); err != nil || len(b) < 8+56 {
		return nil, errBadKeysFile
	}
	sk.gen = int(binary.LittleEndian.Uint64(b))
	b = b[8:]
	var head [7]int64
	for i := range head {
		head[i] = int64(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	sk.whole = time.Unix(head[5], 0)
	n := head[6]
	if n < 0 || n > int64(len(b))/(32+8+8+1) || sk.gen < 0 {
		return nil, errBadKeysFile
	}
	its := make([]item, n)
	for i := range its {
		if len(b) < 32+16+1 {
			return nil, errBadKeysFile
		}
		it := &its[i]
		copy(it.key[:], b[:32])
		it.ent.rev = int64(binary.LittleEndian.Uint64(b[32:]))
		it.ent.page = int64(binary.LittleEndian.Uint64(b[40:]))
		hb, rest, ok := readBytes(b[48:], 128)
		if !ok {
			return nil, errBadKeysFile
		}
		if it.ent.head, err = cid.Cast(hb); err != nil {
			return nil, errBadKeysFile
		}
		b = rest
		if i > 0 && its[i-1].key.Compare(it.key) >= 0 {
			return nil, errBadKeysFile // saved sorted, each key once
		}
	}
	if len(b) != 0 {
		return nil, errBadKeysFile
	}
	ks := newKeySet(&history.HeadsChange{Commits: head[0], LastRev: head[1]}, its)
	if ks.count != head[2] || ks.revSum != head[3] || ks.pageSum != head[4] {
		return nil, errBadKeysFile
	}
	sk.ks = ks
	return sk, nil
}

// loadKeys returns the key set the file holds when it belongs to this
// store: the same instance, the last revision it names at its row, a
// sample of its heads at theirs, and not carried on too long; nil if
// there is none to use. localKeys then checks it against the heads as
// they are (the pages changed since, and the heads table's summary).
func (n *Node) loadKeys(ctx context.Context) (*keySet, int, time.Time) {
	data, err := os.ReadFile(n.keysPath())
	if err != nil {
		return nil, 0, time.Time{}
	}
	refuse := func(why error) (*keySet, int, time.Time) {
		n.log.Debug("the saved key set is not used", "file", n.keysPath(), "why", why)
		return nil, 0, time.Time{}
	}
	sk, err := decodeSavedKeys(data)
	if err != nil {
		return refuse(err)
	}
	if sk.gen+1 >= maxKeyGenerations || time.Since(sk.whole) > maxKeyAge || time.Until(sk.whole) > time.Minute {
		return refuse(errors.New("carried on long enough: read whole again"))
	}
	inst, err := n.store.Instance(ctx, false)
	if err != nil || inst == "" || inst != sk.instance {
		return refuse(errors.New("saved for another database"))
	}
	ks := sk.ks
	ids := []int64{ks.lastRev}
	want := map[int64]cid.Cid{ks.lastRev: sk.lastRev}
	step, at := max(1, ks.Len()/keySample), 0
	for _, c := range ks.chunks {
		for _, e := range c.ents {
			if at%step == 0 && len(ids) <= keySample {
				ids = append(ids, e.rev)
				want[e.rev] = e.head
			}
			at++
		}
	}
	got, err := n.store.BlockCIDs(ctx, ids)
	if err != nil {
		return refuse(err)
	}
	for id, c := range want {
		if !got[id].Equals(c) {
			return refuse(fmt.Errorf("block #%d is not the one it was", id))
		}
	}
	return ks, sk.gen + 1, sk.whole
}

// saveChangedPages is the most revisions stored since the node read its
// keys that saveKeys brings the set up to date with as the node closes
// (their pages' heads: a few milliseconds); after more (a join, a large
// sync) it saves nothing, and the next process that needs the keys reads
// them.
var saveChangedPages = 2000 // a variable for tests

// saveKeys leaves the node's key set in the file as it closes, brought up
// to date with the store first (the heads of the pages this process
// stored since it read them), unless the file holds that state already.
// Only a node that read its keys has any.
func (n *Node) saveKeys() {
	if !n.headsMu.TryLock() {
		return // a read of the keys still under way: no wait at exit
	}
	defer n.headsMu.Unlock()
	n.mu.Lock()
	ks := n.heads.keys
	n.mu.Unlock()
	if ks == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if cc, err := n.store.CommitCount(ctx); err != nil {
		return
	} else if cc != ks.commits {
		if k, err := n.store.RevisionsSince(ctx, ks.lastRev, saveChangedPages+1); err != nil || k > saveChangedPages {
			return // at least as many pages may have changed: not worth it here
		}
		if ks, _, _, err = n.updateKeys(ctx, ks, saveChangedPages); err != nil || ks == nil {
			return
		}
	}
	st := ks.state()
	n.noteKeySum(ks, st) // for the next no-op sync's summary (saveKeySum)
	if n.keysSaved == st {
		return
	}
	inst, err := n.store.Instance(ctx, true)
	if err != nil {
		return
	}
	last, err := n.store.BlockCIDs(ctx, []int64{ks.lastRev})
	if err != nil || !last[ks.lastRev].Defined() {
		return
	}
	sk := &savedKeys{ks: ks, instance: inst, lastRev: last[ks.lastRev], gen: n.keysGen, whole: n.keysWhole}
	if err := writeFileAtomic(n.keysPath(), sk.encode()); err != nil {
		n.log.Debug("could not save the key set", "err", err)
		return
	}
	n.keysSaved = st
}
