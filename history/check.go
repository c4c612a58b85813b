package history

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/ipfs/go-cid"
)

type pendingRev struct {
	block Block
	rev   *Revision
}

// Checked is a batch whose checks that need no database (CIDs, decoding,
// signatures) have passed.
type Checked struct {
	revs   []pendingRev
	others map[cid.Cid]Block
	// pre holds storage encodings the single writer need not work out
	// while it holds the transaction: sent that way by a peer, or worked
	// out in parallel by Check (a block as a delta against another block
	// of the same batch).
	pre map[cid.Cid]encoded
	// local marks a batch made here: its clock is this machine's, so
	// MaxClockDrift does not apply.
	local bool
	// before stores the batch as the code before the title rule and the
	// head cap did; only tests of repos written then set it.
	before bool
	// verified are automatic merges recomputed already (verifyAutoOutside).
	verified map[cid.Cid]bool
	// keepOthers leaves the non-revision blocks no revision of the batch
	// used unstored: they belong to the rest of a split batch.
	keepOthers bool
	// shallow lets revisions whose parents are not here be stored, as a
	// shallow page's boundary (see AllowShallow).
	shallow bool
	// wait lets a revision whose parent is not here wait rather than fail
	// the batch, where a shallow replica may have sent it (see
	// WaitForHistory).
	wait bool
	// whole holds bodies compressed whole, for the writer to use if it
	// stores them without a delta base (see AllowShallow).
	whole map[cid.Cid]encoded
	// live marks an edit arriving live from a peer (see Live).
	live bool
}

// Live marks the batch as an edit arriving live from a peer, to be stored
// as soon as can be:
//   - the pages it changes are listed in unindexed rather than given their
//     search rows (searchlater.go): the store is about a quarter cheaper,
//     and the live edits of a few moments are indexed together; the
//     caller runs IndexPending soon after, and a search runs it first in
//     any case;
//   - a body is stored as a delta of its parent's only when the parent's
//     delta chain is under liveDeltaDepth, else whole (compressed):
//     making the delta rebuilt the parent from its chain, about 0.65 ms
//     for a page of ten revisions, on every edit's way to its reader.
//     The next edits of the page are deltas of this one.
func (c *Checked) Live() { c.live = true }

// liveDeltaDepth is the longest delta chain a live edit's body is stored
// against (deltaMaxDepth for any other write: a sync, an import, a local
// edit).
const liveDeltaDepth = 8

// encoded is a block's storage encoding: data is enc of the block, a
// delta against base when base is defined.
type encoded struct {
	enc  int
	base cid.Cid
	data []byte
}

// Check does Put's work that needs no database, in parallel for large
// batches, so that a receiver can check one batch while the previous one
// is being stored.
func (s *Store) Check(blocks []Block) (*Checked, error) {
	revs, others, err := s.checkBlocks(blocks, false)
	if err != nil {
		return nil, err
	}
	pre := map[cid.Cid]encoded{}
	preEncode(revs, others, pre)
	return &Checked{revs: revs, others: others, pre: pre}, nil
}

// preEncode works out, in parallel, the storage encodings the writer will
// want for blocks whose delta base is in the same batch and that pre does
// not hold yet: a revision against its first parent, its body against
// that parent's body. A fresh replica's sync is almost all such pairs, and
// encoding them (delta, then zstd) was a third of the single writer's time.
// So are the raw blocks the writer stores without a base (compressed
// whole): the body of a page's first revision, and blocks no revision of
// the batch names (a body whose revision comes in the next batch, a large
// body's chunks). A bundle carries them whole, where a sync carries them
// compressed already.
func preEncode(revs []pendingRev, others map[cid.Cid]Block, pre map[cid.Cid]encoded) {
	if len(revs) < 64 {
		return // not worth the goroutines
	}
	byCID := make(map[cid.Cid]pendingRev, len(revs))
	for _, p := range revs {
		byCID[p.block.Cid] = p
	}
	type job struct {
		block, base           cid.Cid
		data, baseOf          []byte
		hasBase, compressible bool
	}
	var jobs []job
	whole := func(c cid.Cid) { // a raw block of others, compressed whole
		if _, done := pre[c]; done || c.Prefix().Codec != CodecRaw {
			return
		}
		if b, ok := others[c]; ok {
			jobs = append(jobs, job{block: c, data: b.Data, compressible: true})
		}
	}
	named := make(map[cid.Cid]bool, len(revs))
	for _, p := range revs {
		named[p.rev.Body.Cid] = true
		if len(p.rev.Parents) == 0 {
			whole(p.rev.Body.Cid)
			continue
		}
		parent, ok := byCID[p.rev.Parents[0].Cid]
		if !ok {
			continue
		}
		if _, done := pre[p.block.Cid]; !done {
			jobs = append(jobs, job{p.block.Cid, parent.block.Cid, p.block.Data, parent.block.Data, true, false})
		}
		body, base := p.rev.Body.Cid, parent.rev.Body.Cid
		if body.Equals(base) || body.Prefix().Codec != CodecRaw {
			continue
		}
		if _, done := pre[body]; done {
			continue
		}
		b, okB := others[body]
		pb, okP := others[base]
		if okB && okP {
			jobs = append(jobs, job{body, base, b.Data, pb.Data, true, true})
		}
	}
	for c := range others {
		if !named[c] {
			whole(c)
		}
	}
	out := make([]encoded, len(jobs))
	parallelEach(len(jobs), func(i int) {
		out[i].enc, out[i].data = encodeStoredWith(zencParallel(), jobs[i].data, jobs[i].baseOf, jobs[i].hasBase, jobs[i].compressible)
		if isDeltaEnc(out[i].enc) {
			out[i].base = jobs[i].base
		}
	})
	for i, j := range jobs {
		pre[j.block] = out[i]
	}
}

// parallelEach runs f(0) ... f(n-1) on every core and returns when all
// are done.
func parallelEach(n int, f func(i int)) {
	if n <= 1 {
		// A goroutine each would cost more than the work: a local edit
		// checks one revision and its body.
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// verifyAutoOutside recomputes, on the committed store and outside any
// transaction, the batch's automatic merges whose parents are all stored
// already, and marks them verified. A forged one fails the batch; one it
// cannot check (a parent missing) is left for the transaction, which will
// say why.
func (s *Store) verifyAutoOutside(c *Checked) error {
	if c.local || s.opts.VerifyAuto == nil || !slices.ContainsFunc(c.revs, func(p pendingRev) bool { return p.rev.IsAuto() }) {
		return nil // most batches hold no automatic merge
	}
	inBatch := make(map[cid.Cid]bool, len(c.revs))
	for _, p := range c.revs {
		inBatch[p.block.Cid] = true
	}
	rd := s.Reader()
	for _, p := range c.revs {
		if !p.rev.IsAuto() || c.verified[p.block.Cid] || slices.ContainsFunc(p.rev.Parents, func(l Link) bool { return inBatch[l.Cid] }) {
			continue
		}
		err := s.opts.VerifyAuto(rd, p.block.Cid, p.rev)
		if errors.Is(err, ErrForgedMerge) {
			return fmt.Errorf("automatic merge %s: %w", p.block.Cid, err)
		} else if err == nil {
			if c.verified == nil {
				c.verified = map[cid.Cid]bool{}
			}
			c.verified[p.block.Cid] = true
		}
	}
	return nil
}

// costlyMergeText is how much body text a batch may bring before an
// automatic merge whose parents come in the same batch is recomputed
// outside the write transaction instead of inside it.
const costlyMergeText = 1 << 20

// part is a batch of some of c's revisions, stored as c says (shallow,
// waiting, live ...); with keepOthers it leaves the non-revision blocks
// its revisions do not use to another part. Every way a batch is split
// goes through it, so that none of what c says is lost on the way.
func (c *Checked) part(revs []pendingRev, keepOthers bool) *Checked {
	p := *c
	p.revs, p.keepOthers = revs, keepOthers
	return &p
}

// splitAt splits a batch before its first automatic merge that must be
// verified inside the transaction (a parent in the batch), when the batch
// brings enough text for that to be costly: first holds every revision
// lower than it (its parents among them), rest the others. The non-revision
// blocks go with both: first leaves those it does not use to rest.
func (c *Checked) splitAt() (first, rest *Checked, ok bool) {
	if c.local {
		return nil, nil, false
	}
	text := 0
	for _, b := range c.others {
		text += len(b.Data)
	}
	if text < costlyMergeText {
		return nil, nil, false
	}
	for _, p := range c.revs {
		if !p.rev.IsAuto() || c.verified[p.block.Cid] {
			continue
		}
		k := sort.Search(len(c.revs), func(j int) bool { return c.revs[j].rev.Height >= p.rev.Height })
		if k == 0 {
			continue
		}
		first, rest = c.part(c.revs[:k], true), c.part(c.revs[k:], c.keepOthers)
		return first, rest, true
	}
	return nil, nil, false
}

// checkBlocks does the work that needs no database, in parallel for large
// batches: CID match, decoding, signature checks (in batches).
func (s *Store) checkBlocks(blocks []Block, signedHere bool) ([]pendingRev, map[cid.Cid]Block, error) {
	type checked struct {
		rev    *Revision
		sig    sigCheck
		hasSig bool
		err    error
	}
	out := make([]checked, len(blocks))
	check := func(i int) {
		b := blocks[i]
		if err := b.Verify(); err != nil {
			out[i].err = err
			return
		}
		if b.Cid.Prefix().Codec != CodecDagCBOR {
			return
		}
		r, err := DecodeRevision(b.Data)
		if err != nil {
			// A dag-cbor block that is not a revision must be a chunk list.
			if _, cerr := decodeChunkList(b.Data); cerr == nil {
				return
			}
			out[i].err = fmt.Errorf("block %s: %w", b.Cid, err)
			return
		}
		if r.Wiki != s.wiki {
			out[i].err = fmt.Errorf("revision %s: %w (%s)", b.Cid, ErrWrongWiki, r.Wiki)
			return
		}
		if !r.IsAuto() {
			if signedHere {
				if len(r.Sig) == 0 {
					out[i].err = fmt.Errorf("revision %s: %w", b.Cid, ErrUnsigned)
					return
				}
			} else if out[i].sig, err = r.sigCheckOf(b.Data); err != nil {
				out[i].err = fmt.Errorf("revision %s: %w", b.Cid, err)
				return
			} else {
				out[i].hasSig = true
			}
		} else if s.opts.VerifyAuto == nil {
			out[i].err = fmt.Errorf("revision %s: %w", b.Cid, ErrUnsigned)
			return
		}
		out[i].rev = r
	}
	if len(blocks) < 64 {
		for i := range blocks {
			check(i)
		}
	} else {
		parallelEach(len(blocks), check)
	}
	// Signatures in batches, one per core.
	var sigs []sigCheck
	var sigOf []int // block index of each signature
	for i, c := range out {
		if c.hasSig {
			sigs = append(sigs, c.sig)
			sigOf = append(sigOf, i)
		}
	}
	per := max(minSigBatch, (len(sigs)+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
	parts := (len(sigs) + per - 1) / per
	bad := make([]int, parts)
	parallelEach(parts, func(p int) {
		from := p * per
		if i := verifyBatch(sigs[from:min(from+per, len(sigs))]); i >= 0 {
			bad[p] = from + i
		} else {
			bad[p] = -1
		}
	})
	for _, i := range bad {
		if i >= 0 {
			b := sigOf[i]
			out[b].err = fmt.Errorf("revision %s: %w", blocks[b].Cid, ErrBadSignature)
			break
		}
	}
	var revs []pendingRev
	others := map[cid.Cid]Block{}
	for i, c := range out {
		if c.err != nil {
			return nil, nil, c.err
		}
		if c.rev != nil {
			revs = append(revs, pendingRev{blocks[i], c.rev})
		} else {
			others[blocks[i].Cid] = blocks[i]
		}
	}
	// Parents first: height orders any DAG topologically.
	sort.SliceStable(revs, func(i, j int) bool {
		if revs[i].rev.Height != revs[j].rev.Height {
			return revs[i].rev.Height < revs[j].rev.Height
		}
		return revs[i].block.Cid.KeyString() < revs[j].block.Cid.KeyString()
	})
	return revs, others, nil
}
