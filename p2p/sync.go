package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

// SyncResult is what one sync with a peer did.
type SyncResult struct {
	Peer peer.ID
	// Sent and Received count revisions: sent to the peer, and received
	// from it that were new here.
	Sent, Received int
	// Blocks counts new blocks of any kind stored from the peer.
	Blocks int
	// Deferred counts revisions from the peer not stored for now
	// (history.PutResult.Deferred): dated too far ahead, or past a
	// page's cap of heads.
	Deferred int
	// Equal reports that both sides already had the same heads.
	Equal bool
	// History counts revisions of history this shallow replica fetched
	// from the peer after the sync (see shallow.go).
	History int
	// Conflicts are pages that became divergent through what arrived.
	Conflicts []cid.Cid
	// Wire counts frames and bytes on the stream.
	Wire     wireStats
	Duration time.Duration
}

// badData reports errors that mean the peer sent something invalid (as
// opposed to a local failure such as a busy database).
func badData(err error) bool {
	for _, e := range []error{errProtocol, history.ErrCIDMismatch, history.ErrNotCanonical, history.ErrBadCID,
		history.ErrTooLarge, history.ErrBadSignature, history.ErrUnsigned, history.ErrMalformed,
		history.ErrMissingParent, history.ErrMissingBody, history.ErrWrongWiki, history.ErrInvalidUTF8,
		history.ErrBadPacking, history.ErrForgedMerge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// put stores blocks that came from p in one transaction and applies the
// wiki's policies to pages that became divergent. Blocks that came by
// gossip are a live edit, stored as soon as can be (history.Checked.Live;
// the gossip worker then has their search rows written).
func (n *Node) put(ctx context.Context, p peer.ID, blocks []history.Block, viaGossip bool) (*history.PutResult, error) {
	checked, err := n.store.Check(blocks)
	if err != nil {
		return nil, err
	}
	return n.putPrechecked(ctx, p, blocks, checked, viaGossip)
}

// putPrechecked is put for blocks whose store checks passed already
// (checked, from history.Store.Check of blocks).
func (n *Node) putPrechecked(ctx context.Context, p peer.ID, blocks []history.Block, checked *history.Checked, viaGossip bool) (*history.PutResult, error) {
	for _, b := range blocks {
		n.markFromNetwork(b.Cid, viaGossip)
	}
	if viaGossip {
		checked.Live()
	}
	return n.putChecked(ctx, p, checked, viaGossip)
}

// putChecked is put for a batch whose CPU-only checks have passed.
func (n *Node) putChecked(ctx context.Context, p peer.ID, checked *history.Checked, viaGossip bool) (*history.PutResult, error) {
	n.storing.Add(1)
	res, err := n.store.PutChecked(ctx, checked)
	if err == nil && len(res.Revisions) > 0 {
		n.recordOwnWAL()
	}
	n.storing.Add(-1)
	if err != nil {
		return nil, err
	}
	n.afterStore(ctx, p, res, viaGossip)
	return res, nil
}

// afterStore is what follows a commit of what came from p.
func (n *Node) afterStore(ctx context.Context, p peer.ID, res *history.PutResult, viaGossip bool) {
	committed := time.Now()
	// The member list may have changed with what arrived: a removal
	// takes effect before anything more is exchanged.
	n.observe(ctx, res)
	if len(res.Revisions) > 0 {
		n.log.Debug("stored", "peer", p, "revisions", len(res.Revisions), "blocks", res.Blocks,
			"committed_us", committed.UnixMicro(), "last", res.Revisions[len(res.Revisions)-1], "us", time.Now().UnixMicro())
		n.emit(Event{Kind: EventReceived, Peer: p, Revisions: res.Revisions, Gossip: viaGossip})
		n.stored.fire()
		n.storedFromPeer(viaGossip)
	}
	if len(res.Deferred) > 0 {
		// Not the sender's fault as such (a clock ahead of ours, a page at
		// its cap of heads): they are offered again by its next sync.
		n.log.Info("revisions from a peer wait", "peer", p, "revisions", len(res.Deferred), "why", clip(res.Deferred[0].Err.Error()))
	}
	if len(res.Divergent) > 0 && n.cfg.AfterReceive != nil {
		if err := n.cfg.AfterReceive(ctx, res.Divergent); err != nil {
			n.log.Warn("applying conflict policy failed", "pages", len(res.Divergent), "err", err)
		}
	}
}

// batchGroup stores a sync's run of batches in fewer transactions
// (history.BeginGroup): a batch that history.Groupable allows joins the
// open group, which commits once it holds history.GroupBlocks blocks,
// when a writer waits its turn (history.Store.WritersWaiting, looked at
// after each batch and every groupLook between them), when the
// sync's next batch takes longer than groupGap to come, at the sync's
// end, or before a batch that must be stored alone. Its results hold
// once it commits: only then is the node told. The price: a bad block
// fails its whole group, up to GroupBlocks good ones of the same sync
// with it (they come again with the next sync).
//
// A group used to commit whenever the next batch was not waiting yet. In
// a fresh replica's join the store is quicker than the network and the
// checks, so that was nearly every batch: about 240 commits in a
// 100,000-page shallow join, each writing the pages of the indexes whose
// keys are random (CIDs, titles) to the log again; the log took 2.3
// frames for every page it held, and was copied into the database about
// twice as often as it needed to be.
type batchGroup struct {
	n      *Node
	p      peer.ID
	bulk   *history.Bulk
	res    []*history.PutResult // of its batches, in turn
	blocks int
}

// groupGap is how long an open group waits for the sync's next batch
// before it commits what it holds: the network or the sender may be
// slower than the store, and a group holds the write lock (a variable
// for tests).
var groupGap = 100 * time.Millisecond

// groupLook is how often an open group that waits for the next batch
// looks whether a writer waits for it.
const groupLook = 10 * time.Millisecond

// next returns the sync's next checked batch (false once there are no
// more). While a group is open it waits groupGap at most, and commits
// the group then, or sooner when a writer waits its turn (an error of
// that commit is returned with a nil batch and true), and waits on.
func (g *batchGroup) next(ctx context.Context, batches <-chan *history.Checked) (*history.Checked, bool, error) {
	if g.bulk != nil {
		look := time.NewTicker(groupLook)
		defer look.Stop()
		gap := time.NewTimer(groupGap)
		defer gap.Stop()
	wait:
		for {
			select {
			case c, ok := <-batches:
				return c, ok, nil
			case <-look.C:
				if g.n.store.WritersWaiting() {
					break wait
				}
			case <-gap.C:
				break wait
			}
		}
		if err := g.commit(ctx); err != nil {
			return nil, true, err
		}
	}
	c, ok := <-batches
	return c, ok, nil
}

// put stores c, in the group when it may.
func (g *batchGroup) put(ctx context.Context, c *history.Checked) (*history.PutResult, error) {
	n := g.n
	ok, err := n.store.Groupable(ctx, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := g.commit(ctx); err != nil {
			return nil, err
		}
		return n.putChecked(ctx, g.p, c, false)
	}
	if g.bulk == nil {
		n.storing.Add(1)
		if g.bulk, err = n.store.BeginGroup(ctx); err != nil {
			n.storing.Add(-1)
			return nil, err
		}
		g.res, g.blocks = nil, 0
	}
	r, err := g.bulk.Put(c)
	if err != nil {
		g.rollback()
		return nil, err
	}
	g.res = append(g.res, r)
	g.blocks += r.Blocks
	if g.blocks >= history.GroupBlocks || n.store.WritersWaiting() {
		if err := g.commit(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// commit commits the open group, if any, and tells the node.
func (g *batchGroup) commit(ctx context.Context) error {
	if g.bulk == nil {
		return nil
	}
	n := g.n
	br, err := g.bulk.Commit(ctx)
	if err == nil && br.Revisions > 0 {
		n.recordOwnWAL()
	}
	n.storing.Add(-1)
	g.bulk = nil
	if err != nil {
		return err
	}
	res := history.InTurn(g.res...)
	g.res = nil
	res.Divergent = br.Divergent // as the group left them
	n.afterStore(ctx, g.p, res, false)
	return nil
}

// rollback ends the open group storing nothing of it.
func (g *batchGroup) rollback() {
	if g.bulk != nil {
		g.bulk.Rollback()
		g.n.storing.Add(-1)
		g.bulk = nil
	}
}

// receiveBlocks reads BLOCK frames until END; a second goroutine checks
// each batch (hashes, signatures) and a third stores it, so the network,
// the CPU checks and the database overlap. A bad block fails its whole
// batch (nothing of it is stored) and the sync.
func (n *Node) receiveBlocks(ctx context.Context, fc *frameConn, p peer.ID, first byte, firstPayload []byte, res *SyncResult) (endMsg, error) {
	batches := make(chan []history.Packed, 1)
	checkedBatches := make(chan *history.Checked, 1)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	var conflicts []cid.Cid
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(checkedBatches)
		u := history.NewUnpacker()
		for b := range batches {
			if failed.Load() != nil {
				continue
			}
			for _, p := range b {
				n.markFromNetwork(p.Cid, false)
			}
			c, err := n.store.CheckPacked(u, b)
			if err != nil {
				failed.Store(&err)
				continue
			}
			c.WaitForHistory()
			if fc.shallow {
				c.AllowShallow()
			}
			checkedBatches <- c
		}
	}()
	go func() {
		defer wg.Done()
		g := &batchGroup{n: n, p: p}
		defer func() {
			if failed.Load() != nil {
				g.rollback()
			} else if err := g.commit(ctx); err != nil {
				failed.Store(&err)
			}
		}()
		for {
			c, ok, err := g.next(ctx, checkedBatches)
			if !ok {
				return
			}
			if err != nil {
				failed.Store(&err)
				continue
			}
			if failed.Load() != nil {
				continue
			}
			r, err := g.put(ctx, c)
			if err != nil {
				failed.Store(&err)
				continue
			}
			res.Received += len(r.Revisions)
			res.Deferred += len(r.Deferred)
			res.Blocks += r.Blocks
			conflicts = append(conflicts, r.Divergent...)
			if n.cfg.Progress != nil {
				n.cfg.Progress(p, res.Received)
			}
		}
	}()
	finish := func() error {
		close(batches)
		wg.Wait()
		if res.Received >= mergeSearchAfter && res.Received >= n.headsBefore() {
			n.store.MergeSearchIndex(ctx)
		}
		res.Conflicts = append(res.Conflicts, conflicts...)
		if e := failed.Load(); e != nil {
			return fmt.Errorf("store blocks from %s: %w", p, *e)
		}
		return nil
	}
	var batch []history.Packed
	size, limit := 0, firstBatch
	t, payload := first, firstPayload
	for {
		switch t {
		case frameBlock, framePacked:
			b, err := decodeBlock(payload, t == framePacked)
			if err != nil {
				finish()
				return endMsg{}, err
			}
			fc.recycle() // b holds a copy
			batch = append(batch, b)
			size += len(b.Data)
			if len(batch) >= limit || size >= batchBytes {
				batches <- batch
				batch, size = nil, 0
				limit = min(2*limit, batchBlocks)
			}
		case frameEnd:
			var end endMsg
			if err := wireDec.Unmarshal(payload, &end); err != nil {
				finish()
				return endMsg{}, protoErr("bad END frame: %v", err)
			}
			if len(batch) > 0 {
				batches <- batch
			}
			return end, finish()
		case frameError:
			finish()
			return endMsg{}, fc.peerError(payload)
		default:
			finish()
			return endMsg{}, protoErr("unexpected frame type %d", t)
		}
		if failed.Load() != nil {
			return endMsg{}, finish()
		}
		var err error
		if t, payload, err = fc.read(); err != nil {
			finish()
			return endMsg{}, err
		}
	}
}

// sendPlan streams the blocks of a plan and the END frame, with heads
// (our head set, when end.Want > 0) after it as a head set goes.
func (n *Node) sendPlan(ctx context.Context, fc *frameConn, plan *history.SyncPlan, end endMsg, heads []cid.Cid) error {
	err := n.store.SendPlanPacked(ctx, plan, func(b history.Packed) error {
		end.Blocks++
		return fc.writeBlock(b)
	})
	if err != nil {
		return err
	}
	end.Revs = plan.Revisions() // a deepening's plan is whole once sent
	if end.Want == 0 {
		err = fc.writeCBOR(frameEnd, end)
	} else {
		err = fc.writeHeadSet(heads, func(total int, first [][]byte) error {
			end.N, end.Heads = total, first
			return fc.writeCBOR(frameEnd, end)
		})
	}
	if err != nil {
		return err
	}
	return fc.flush()
}

// SyncPeer runs one sync with a connected (or dialable) peer: it pulls
// what the peer has and we lack, then pushes what we have and it lacks.
// Only one sync per peer runs at a time; a second call waits its turn.
// A shallow replica then fetches the history it lacks (maybeDeepen).
func (n *Node) SyncPeer(ctx context.Context, p peer.ID) (SyncResult, error) {
	res, err := n.syncPeerOnce(ctx, p)
	if err == nil {
		n.indexSearch(ctx) // free when nothing waits
		res.History = n.maybeDeepen(ctx, p)
	}
	return res, err
}

// indexSearch writes the search rows that large batches left for later
// (history.IndexPending): after a sync that brought pages, before any
// history it fetches, so that the pages are found by search as soon as
// can be. One at a time; a second call waits and then finds little left.
func (n *Node) indexSearch(ctx context.Context) {
	if n.cfg.LeaveSearchIndex {
		return
	}
	start := time.Now()
	done, err := n.indexPending(ctx, false)
	if err != nil {
		n.log.Warn("indexing pages for search failed (the next search does it)", "indexed", done, "err", err)
	} else if done > 0 {
		n.log.Info("indexed pages for search", "pages", done, "ms", time.Since(start).Milliseconds())
	}
}

// indexPending writes the search rows left for later
// (history.IndexPending, or with brief IndexPendingBrief), one call at a
// time; its writes to the log are no commit for the watcher to look for.
func (n *Node) indexPending(ctx context.Context, brief bool) (int, error) {
	n.indexing.Lock()
	defer n.indexing.Unlock()
	n.storing.Add(1)
	defer n.storing.Add(-1)
	var done int
	var err error
	if brief {
		done, err = n.store.IndexPendingBrief(ctx)
	} else {
		done, err = n.store.IndexPending(ctx, nil)
	}
	n.recordOwnWAL()
	return done, err
}

func (n *Node) syncPeerOnce(ctx context.Context, p peer.ID) (SyncResult, error) {
	done, err := n.peerTurn(ctx, p)
	if err != nil {
		return SyncResult{Peer: p}, err
	}
	defer done()
	res, err := n.syncOnce(ctx, p)
	if err != nil {
		n.punish(p, err)
	}
	return res, err
}

// peerTurn waits for p's turn (one sync or deepening with a peer at a
// time) and returns what ends it.
func (n *Node) peerTurn(ctx context.Context, p peer.ID) (done func(), err error) {
	lock := n.peerLock(p)
	select {
	case lock <- struct{}{}:
		return func() { <-lock }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// openSync opens a sync stream to p, whose frames are bound by ctx's
// deadline and the node's progress rule.
func (n *Node) openSync(ctx context.Context, p peer.ID) (network.Stream, *frameConn, error) {
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, SyncProtocol)
	if err != nil {
		return nil, nil, fmt.Errorf("open sync stream to %s: %w", p, err)
	}
	dl, _ := ctx.Deadline()
	return s, newFrameConn(s, dl, newProgressMeter(n.cfg.progress)), nil
}

func (n *Node) peerLock(p peer.ID) chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.locks[p]
	if l == nil {
		l = make(chan struct{}, 1)
		n.locks[p] = l
	}
	return l
}

func (n *Node) syncOnce(ctx context.Context, p peer.ID) (res SyncResult, err error) {
	start := time.Now()
	res.Peer = p
	if err := n.checkMember(p); err != nil {
		return res, err
	}
	n.syncsRun.Add(1)
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	s, fc, err := n.openSync(ctx, p)
	if err != nil {
		return res, err
	}
	fc.heads = &n.peerHeads
	defer func() {
		fc.release()
		res.Wire = *fc.stats
		res.Duration = time.Since(start)
		if err == nil {
			s.Close()
		} else {
			s.Reset()
		}
	}()
	if err := n.ask(ctx, fc, p, &res); err != nil {
		return res, err
	}
	w := fc.stats
	n.log.Debug("synced", "peer", p, "received", res.Received, "sent", res.Sent, "equal", res.Equal,
		"ms", float64(time.Since(start).Microseconds())/1000, "bytes_in", w.BytesIn, "bytes_out", w.BytesOut,
		"block_bytes_in", w.BlockBytesIn, "block_bytes_out", w.BlockBytesOut, "frames", w.FramesIn+w.FramesOut)
	return res, nil
}

// ask is the asker's side of a sync with p on fc: the reconciliation
// of our heads with p's (or, for a small head set, HELLO with our heads),
// then what p sends, then, when p lacks some of our heads, the push of
// what it lacks.
func (n *Node) ask(ctx context.Context, fc *frameConn, p peer.ID, res *SyncResult) error {
	if lz := n.cachedKeys(ctx); lz != nil && lz.Len() > listHeads {
		return n.askReconcile(ctx, fc, p, res, lz)
	}
	ks, err := n.localKeys(ctx)
	if err != nil {
		return err
	}
	if ks.Len() > listHeads {
		return n.askReconcile(ctx, fc, p, res, ks)
	}
	hs := ks.heads()
	// A replica with nothing yet asks for the current versions first.
	shallow := 0
	if n.cfg.Shallow {
		if shallow, err = n.shallowMode(ctx); err != nil {
			return err
		}
		fc.shallow = shallow > 0
	}
	err = fc.writeHeadSet(hs.heads, func(total int, first [][]byte) error {
		return fc.writeCBOR(frameHello, helloMsg{V: protoVersion, Wiki: n.wiki, Sum: hs.sum[:], N: total, Heads: first, Shallow: shallow})
	})
	if err != nil {
		return err
	}
	if err := fc.flush(); err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	t, payload, err := fc.read()
	if err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	if t == frameEqual {
		res.Equal = true
		return nil
	}
	end, err := n.receiveBlocks(ctx, fc, p, t, payload, res)
	if err != nil {
		return err
	}
	if end.Want == 0 {
		return nil
	}
	// Its heads: ours but those it lacks, and those we lack.
	lacks := make([]bool, len(hs.heads))
	for i, x := range end.Lack {
		if x < 0 || x >= len(hs.heads) || (i > 0 && x <= end.Lack[i-1]) {
			return protoErr("END lacks position %d of a list of %d heads", x, len(hs.heads))
		}
		lacks[x] = true
	}
	// An END that wants more of our heads than it lacks is no violation:
	// the answerer planned from its store, then read its heads after a
	// sync of its own (with us, as a new member's serve does) stored what
	// it wanted, and we banned an honest peer for its timing (older
	// answerers send it so). What we push is planned from its heads
	// either way.
	theirs, err := fc.readHeadSet(end.N, end.Heads)
	if err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	for i, c := range hs.heads {
		if !lacks[i] {
			theirs = append(theirs, c)
		}
	}
	history.SortCIDs(theirs)
	plan, err := n.planFor(ctx, p, theirs, hs.heads)
	return n.push(ctx, fc, p, res, plan, err)
}

// push sends p what plan (planned with err) says it lacks, once p has
// sent what we lacked, and reads its DONE.
func (n *Node) push(ctx context.Context, fc *frameConn, p peer.ID, res *SyncResult, plan *history.SyncPlan, err error) error {
	var ref *refusal
	if errors.As(err, &ref) {
		fc.writeError(ref.msg)
		return fmt.Errorf("push to %s: %w", p, err)
	} else if err != nil {
		return err
	}
	if err := n.sendPlan(ctx, fc, plan, endMsg{}, nil); err != nil {
		return fmt.Errorf("push to %s: %w", p, err)
	}
	res.Sent = plan.Revisions()
	t, payload, err := fc.read()
	if err != nil {
		return fmt.Errorf("push to %s: %w", p, err)
	}
	if t != frameDone {
		if t == frameError {
			return fmt.Errorf("push: %w", fc.peerError(payload))
		}
		return protoErr("expected DONE, got frame type %d", t)
	}
	var done doneMsg
	if err := wireDec.Unmarshal(payload, &done); err != nil {
		return protoErr("bad DONE frame: %v", err)
	}
	if done.Err != "" {
		return fmt.Errorf("push to %s: the peer refused: %s", p, clip(done.Err))
	}
	return nil
}

// handleSync answers a peer's sync.
func (n *Node) handleSync(s network.Stream) {
	start := time.Now()
	p := s.Conn().RemotePeer()
	meter := newProgressMeter(n.cfg.progress)
	fc := newFrameConn(s, time.Now().Add(syncTimeout), meter)
	fc.heads = &n.peerHeads
	defer fc.release()
	if n.bans.banned(p) || !n.isMember(p) {
		s.Reset()
		return
	}
	in := &inboundSync{meter: meter, stream: s}
	if !n.enterInbound(p, in) {
		fc.writeError("busy: try again later")
		s.Close()
		return
	}
	defer n.leaveInbound(p, in)
	n.syncsServed.Add(1)
	ctx, cancel := context.WithTimeout(n.ctx, syncTimeout)
	defer cancel()
	res := SyncResult{Peer: p}
	var ref *refusal
	if err := n.answer(ctx, fc, p, &res); errors.As(err, &ref) {
		// Not hostile: another build, or more than this node gives one
		// peer. Close (not reset) so that the one-line reason reaches it.
		if ref.busy {
			n.log.Debug("refused a sync", "peer", p, "reason", ref.msg)
		} else {
			n.log.Info("refused a sync", "peer", p, "reason", ref.msg)
		}
		fc.writeError(ref.msg)
		s.Close()
		return
	} else if err != nil {
		if in.evicted.Load() || errors.Is(err, errTooSlow) {
			n.log.Debug("cut off a stalled sync", "peer", p, "evicted", in.evicted.Load(), "err", err)
		}
		if badData(err) {
			fc.writeError("rejected: " + err.Error())
		}
		s.Reset()
		n.punish(p, err)
		return
	}
	s.Close()
	res.Wire = *fc.stats
	res.Duration = time.Since(start)
	if res.Received > 0 {
		// What the peer pushed may have left pages for later; the
		// peer's turn is over (its next sync is not kept waiting).
		n.leaveInbound(p, in)
		n.indexSearch(n.ctx)
	}
	n.emit(Event{Kind: EventServed, Peer: p, Sync: &res})
	if res.Received > 0 || res.Sent > 0 {
		n.log.Info("sync served", "peer", p, "sent", res.Sent, "received", res.Received)
	}
	// What the sync protocol cost, both ways: every frame with its length
	// prefix (not libp2p's own framing), and how much of it was blocks.
	w := fc.stats
	n.log.Debug("sync answered", "peer", p, "equal", res.Equal, "sent", res.Sent, "received", res.Received,
		"ms", float64(res.Duration.Microseconds())/1000, "bytes_in", w.BytesIn, "bytes_out", w.BytesOut,
		"block_bytes_in", w.BlockBytesIn, "block_bytes_out", w.BlockBytesOut, "frames", w.FramesIn+w.FramesOut)
}

func (n *Node) answer(ctx context.Context, fc *frameConn, p peer.ID, res *SyncResult) error {
	t, payload, err := fc.read()
	if err != nil {
		return err
	}
	if t != frameHello {
		return protoErr("expected HELLO, got frame type %d", t)
	}
	var version struct {
		V int `cbor:"v"`
	}
	if err := versionDec.Unmarshal(payload, &version); err != nil {
		return protoErr("bad HELLO frame: %v", err)
	}
	if version.V != protoVersion {
		return refuse("unsupported sync version %d (this node speaks %d)", version.V, protoVersion)
	}
	var hello helloMsg
	if err := wireDec.Unmarshal(payload, &hello); err != nil {
		return protoErr("bad HELLO frame: %v", err)
	}
	// Not hostile, only misdirected: with no private network, a node of
	// another wiki can be dialled at an address this one once had. (A
	// member list keeps such a node out at the gate; without one, this
	// says why.)
	if hello.Wiki != n.wiki {
		return refuse("this node replicates another wiki")
	}
	if len(hello.Deepen) > 0 {
		if hello.R != nil || hello.N != 0 || len(hello.Heads) != 0 || len(hello.Sum) != 0 || hello.Shallow != 0 {
			return protoErr("a HELLO asking for history and for more")
		}
		return n.answerDeepen(ctx, fc, p, res, hello.Deepen)
	}
	if hello.R != nil {
		if hello.Shallow != 0 {
			return protoErr("a shallow HELLO with a reconciliation")
		}
		if hello.N != 0 || len(hello.Heads) != 0 || len(hello.Sum) != 0 {
			return protoErr("a HELLO with both a reconciliation and a head list")
		}
		return n.answerReconcile(ctx, fc, p, res, hello.R)
	}
	if hello.N != 0 || len(hello.Heads) > maxListHeads {
		// A larger set goes by reconciliation.
		return protoErr("a HELLO listing %d heads, more than %d", max(hello.N, len(hello.Heads)), maxListHeads)
	}
	theirs, err := fc.readHeadSet(0, hello.Heads)
	if err != nil {
		return err
	}
	hs, equal, err := n.headsToCompare(ctx, theirs, hello.Sum)
	if err != nil {
		return err
	}
	if equal {
		res.Equal = true
		if err := fc.write(frameEqual, nil); err != nil {
			return err
		}
		return fc.flush()
	}
	var plan *history.SyncPlan
	switch hello.Shallow {
	case 0:
		plan, err = n.planFor(ctx, p, theirs, hs.heads)
	case shallowUnlessSmall, shallowAlways:
		plan, err = n.planShallowFor(ctx, p, theirs, hs.heads, hello.Shallow == shallowAlways)
	default:
		return protoErr("a HELLO asking for shallow mode %d", hello.Shallow)
	}
	if err != nil {
		return err
	}
	end := endMsg{Want: len(plan.Unknown)}
	var mine []cid.Cid
	if end.Want > 0 {
		// The heads it lacks, and the positions of its list that are
		// not heads here: the asker's plan needs our heads.
		if hs.heads == nil {
			ks, err := n.localKeys(ctx)
			if err != nil {
				return err
			}
			hs = ks.heads()
		}
		listed := make(map[string]int, len(theirs))
		for i, c := range theirs {
			listed[c.KeyString()] = i
		}
		found := make([]bool, len(theirs))
		for _, c := range hs.heads {
			if i, ok := listed[c.KeyString()]; ok {
				found[i] = true
			} else {
				mine = append(mine, c)
			}
		}
		for i, ok := range found {
			if !ok {
				end.Lack = append(end.Lack, i)
			}
		}
		// Our heads may have moved on since the plan (a sync of our own
		// stored what it lacked): we want no more than we lack now.
		end.Want = min(end.Want, len(end.Lack))
		if end.Want == 0 {
			end.Lack, mine = nil, nil
		}
	}
	return n.answerPlan(ctx, fc, p, res, plan, end, mine)
}

// headsToCompare says whether our heads are the HELLO's list theirs
// (with their sum), and returns them when it had to read them. The list
// of a new replica (a join lists its wiki's two system pages, or none)
// is much shorter than our head set: told by counting our heads, its
// answer does not wait for our heads as keys, which a node reads whole
// once after it starts (1-3 s for 100,000 heads, all of it before a
// join's first block) and sorts. The answer reads them later only if
// the asker lists heads we lack (see answer).
func (n *Node) headsToCompare(ctx context.Context, theirs []cid.Cid, sum []byte) (headList, bool, error) {
	if count, err := n.store.HeadCount(ctx); err != nil || count != len(theirs) {
		return headList{}, false, err
	}
	ks, err := n.localKeys(ctx)
	if err != nil {
		return headList{}, false, err
	}
	hs := ks.heads()
	return hs, len(theirs) == ks.Len() && string(sum) == string(hs.sum[:]), nil
}

// answerPlan sends the asker what plan says it lacks and END (with our
// heads mine when end.Want > 0), then, when it wants, takes its push.
func (n *Node) answerPlan(ctx context.Context, fc *frameConn, p peer.ID, res *SyncResult, plan *history.SyncPlan, end endMsg, mine []cid.Cid) error {
	planned := plan.Revisions()
	err := n.sendPlan(ctx, fc, plan, end, mine)
	// A plan planned as it goes out (PlanShallow) was charged for its
	// first part: the rest is charged once sent, or cut short.
	if more := plan.Revisions() - planned; more > 0 {
		n.work.charge(p, more, time.Now())
	}
	if err != nil {
		return err
	}
	res.Sent = plan.Revisions()
	if end.Want == 0 {
		return nil
	}
	t, payload, err := fc.read()
	if err != nil {
		return err
	}
	_, err = n.receiveBlocks(ctx, fc, p, t, payload, res)
	done := doneMsg{Revs: res.Received}
	if err != nil {
		done.Err = err.Error()
	}
	if werr := fc.writeCBOR(frameDone, done); werr == nil {
		_ = fc.flush()
	}
	return err
}

// planFor plans what to send p for its heads, within p's share of this
// node's work (see workShare).
func (n *Node) planFor(ctx context.Context, p peer.ID, theirs, ours []cid.Cid) (*history.SyncPlan, error) {
	if err := n.allowWork(p); err != nil {
		return nil, err
	}
	plan, err := n.store.PlanSync(ctx, theirs)
	units := lookups(theirs, ours)
	if err == nil {
		units += plan.Revisions()
	}
	n.work.charge(p, units, time.Now())
	return plan, err
}

// allowWork refuses, busy, a peer over its share of this node's work.
func (n *Node) allowWork(p peer.ID) error {
	if ok, wait, first := n.work.allow(p, time.Now()); !ok {
		wait = wait.Round(time.Second)
		if first {
			n.log.Warn("a peer asks this node for more work than its share; answering it busy for a while", "peer", p, "for", wait)
		}
		return busy("slow down: this node has worked a lot for you lately; try again in %s", wait)
	}
	return nil
}

// banTime is how long a misbehaving peer stays disconnected.
const banTime = 10 * time.Minute

// punish disconnects and bans a peer whose error shows it sent invalid
// data; other errors (timeouts, resets) are only logged.
func (n *Node) punish(p peer.ID, err error) {
	if !badData(err) {
		n.log.Debug("sync failed", "peer", p, "err", err)
		return
	}
	n.rejected.Add(1)
	n.log.Warn("rejected a peer: it sent invalid data; disconnected", "peer", p, "err", clip(err.Error()))
	n.emit(Event{Kind: EventRejected, Peer: p, Err: err})
	n.bans.ban(p, banTime)
	_ = n.host.Network().ClosePeer(p)
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
