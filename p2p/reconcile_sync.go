package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
	"peerwiki/reconcile"
)

// The reconciliation mode of the sync protocol (see SyncProtocol): the
// two sides find the difference of their (page, head) sets with
// reconcile/, then trade the heads in it and plan from them what
// today's list mode plans from the whole head set.

// listHeads is the largest head set the asker sends whole in its HELLO
// (the list mode): one round trip and 40 bytes a head, where
// reconciliation takes about log8(n/8)+2 round trips and some 700 bytes a
// difference. 256 heads is 10 KB: less than 15 differences cost, and on a
// 50 ms path a round trip is worth more than that. A variable for tests
// and drills: PEERWIKI_SYNC_LIST_HEADS=0 makes every sync of this process
// reconcile (test/ runs the CLI's tests so).
var listHeads = func() int {
	if v, err := strconv.Atoi(os.Getenv("PEERWIKI_SYNC_LIST_HEADS")); err == nil && v >= 0 {
		return min(v, maxListHeads)
	}
	return maxListHeads
}()

// maxListHeads is the most heads a HELLO may list, whatever listHeads
// this node uses.
const maxListHeads = reconcile.SmallSet

// reconTime bounds the reconciliation of one sync; each message must also
// come within frameTimeout. Honest sides need a few round trips; a set of
// 100,000 against an empty one, 3.2 MB one way. (A variable for tests.)
var reconTime = 2 * time.Minute

const (
	// reconFrame is the reconciliation's message limit. A session holds
	// up to about 18 frames against a hostile peer (reconcile/doc.go,
	// "Bounds"), and a node answers up to maxInboundSyncs at once: 256 KiB
	// keeps that under 80 MB where the package's default, 1 MiB, would
	// allow 300. Honest sessions send far less a message unless the sets
	// are mostly different (a fresh replica's goes by the list mode).
	reconFrame = 256 << 10
	// reconSlack is the part of a reconciliation's byte budget that does
	// not grow with the sets (see reconBudget).
	reconSlack = 4 << 20
)

// reconBudget bounds the bytes (both ways) of a reconciliation between
// sets of a and b keys: 64 bytes a key (40 when every key differs, keys
// and their share of fingerprints, measured in reconcile's Large tests),
// and reconSlack. The package's own bounds (frames, messages) hold too;
// this one is the sync's, in bytes, against a peer that spends its
// messages to the full.
func reconBudget(a, b int) int64 { return reconSlack + 64*int64(a+b) }

// reconSide is an Initiator or a Responder.
type reconSide interface {
	Reply(msg []byte) (reconcile.Step, error)
	PeerSize() int
}

// reconcileWith runs a reconciliation with the peer on fc, from msg (the
// peer's first message, for the responder; nil for the initiator, which
// has sent its own) to the end: it returns the keys of ours the peer
// lacks and how many of its we lack. Against a peer that breaks the rules
// of reconcile/ or takes more than reconBudget bytes, it stops with a
// protocol violation (the peer is banned: an honest one stays within
// both); past reconTime, with an error that bans nobody; a set over the
// package's limit is refused. The sync then gives up: falling back to
// sending every head is what a peer that wastes the reconciliation would
// want.
func (n *Node) reconcileWith(fc *frameConn, side reconSide, ours int, msg []byte) (have []reconcile.Key, needs int, err error) {
	start := time.Now()
	saved := fc.deadline
	if d := start.Add(reconTime); d.Before(fc.deadline) {
		fc.deadline = d
	}
	defer func() { fc.deadline = saved }()
	// late says so of an i/o error past reconTime, reading or writing (a
	// peer that does not read its side fills the pipe): slow, perhaps on
	// purpose, but a slow link looks the same: cut off, not banned.
	late := func(err error) error {
		if time.Since(start) >= reconTime {
			return fmt.Errorf("the reconciliation did not end within %s: %w", reconTime, err)
		}
		return err
	}
	var bytes int64
	for {
		if msg == nil {
			t, payload, err := fc.read()
			if err != nil {
				return nil, 0, late(err)
			}
			switch t {
			case frameRecon:
				msg = payload
			case frameError:
				return nil, 0, fc.peerError(payload)
			default:
				return nil, 0, protoErr("expected RECON, got frame type %d", t)
			}
		}
		bytes += int64(len(msg))
		st, err := side.Reply(msg)
		switch {
		case errors.Is(err, reconcile.ErrTooLarge) || errors.Is(err, reconcile.ErrVersion):
			return nil, 0, refuse("%v", err)
		case errors.Is(err, reconcile.ErrMalformed) || errors.Is(err, reconcile.ErrRounds):
			return nil, 0, protoErr("%v", err)
		case err != nil:
			return nil, 0, err
		}
		have = append(have, st.Have...)
		needs += len(st.Need)
		if st.Msg != nil {
			bytes += int64(len(st.Msg))
			if err := fc.write(frameRecon, st.Msg); err != nil {
				return nil, 0, late(err)
			}
		}
		if bytes > reconBudget(ours, side.PeerSize()) {
			return nil, 0, protoErr("the reconciliation took more than %d bytes for sets of %d and %d keys",
				reconBudget(ours, side.PeerSize()), ours, side.PeerSize())
		}
		if st.Done {
			return have, needs, nil
		}
		if err := fc.flush(); err != nil {
			return nil, 0, late(err)
		}
		msg = nil
	}
}

// askReconcile is ask in the reconciliation mode, over our key set ks.
func (n *Node) askReconcile(ctx context.Context, fc *frameConn, p peer.ID, res *SyncResult, keys reconKeys) error {
	var cfg reconcile.Config
	if _, err := rand.Read(cfg.Salt[:]); err != nil {
		return err
	}
	cfg.FrameSize = reconFrame
	in, first, err := reconcile.NewInitiator(keys, cfg)
	if err != nil {
		return err
	}
	if err := fc.writeCBOR(frameHello, helloMsg{V: protoVersion, Wiki: n.wiki, R: first}); err != nil {
		return err
	}
	if err := fc.flush(); err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	have, needs, err := n.reconcileWith(fc, in, keys.Len(), nil)
	if err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	if len(have) == 0 && needs == 0 {
		res.Equal = true
		return fc.flush()
	}
	ks, err := keys.full()
	if err != nil {
		return err
	}
	mine := ks.entries(have)
	err = fc.writeHeadSet(headsOf(mine), func(total int, first [][]byte) error {
		return fc.writeCBOR(frameDiff, diffMsg{N: total, Heads: first})
	})
	if err == nil {
		err = fc.flush()
	}
	if err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	t, payload, err := fc.read()
	if err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	end, err := n.receiveBlocks(ctx, fc, p, t, payload, res)
	if err != nil {
		return err
	}
	if end.Want == 0 {
		return nil
	}
	if end.Want > len(have) {
		return protoErr("the peer wants %d heads of ours where it lacks %d", end.Want, len(have))
	}
	theirs, err := fc.readHeadSet(end.N, end.Heads)
	if err != nil {
		return fmt.Errorf("sync with %s: %w", p, err)
	}
	if len(theirs) != needs {
		return protoErr("the peer sent %d heads where it has %d we lack", len(theirs), needs)
	}
	plan, err := n.planDiff(ctx, p, ks, mine, theirs)
	return n.push(ctx, fc, p, res, plan, err)
}

// answerReconcile is answer in the reconciliation mode, from the asker's
// first message.
func (n *Node) answerReconcile(ctx context.Context, fc *frameConn, p peer.ID, res *SyncResult, first []byte) error {
	// A peer over its share is told so before any work for it.
	if err := n.allowWork(p); err != nil {
		return err
	}
	ks, err := n.localKeys(ctx)
	if err != nil {
		return err
	}
	resp, err := reconcile.NewResponder(ks, reconcile.Config{FrameSize: reconFrame})
	if err != nil {
		return err
	}
	have, needs, err := n.reconcileWith(fc, resp, ks.Len(), first)
	if err != nil {
		return err
	}
	if len(have) == 0 && needs == 0 {
		res.Equal = true
		return fc.flush()
	}
	if err := fc.flush(); err != nil {
		return err
	}
	t, payload, err := fc.read()
	if err != nil {
		return err
	}
	if t == frameError {
		return fc.peerError(payload)
	}
	if t != frameDiff {
		return protoErr("expected DIFF, got frame type %d", t)
	}
	var d diffMsg
	if err := wireDec.Unmarshal(payload, &d); err != nil {
		return protoErr("bad DIFF frame: %v", err)
	}
	if d.N > needs || (d.N == 0 && len(d.Heads) != needs) {
		return protoErr("a DIFF of %d heads where the peer has %d we lack", max(d.N, len(d.Heads)), needs)
	}
	theirs, err := fc.readHeadSet(d.N, d.Heads)
	if err != nil {
		return err
	}
	if len(theirs) != needs {
		return protoErr("a DIFF of %d heads where the peer has %d we lack", len(theirs), needs)
	}
	mine := ks.entries(have)
	plan, err := n.planDiff(ctx, p, ks, mine, theirs)
	if err != nil {
		return err
	}
	return n.answerPlan(ctx, fc, p, res, plan, endMsg{Want: len(plan.Unknown)}, headsOf(mine))
}

// keyedEntry is a head of the set and its key.
type keyedEntry struct {
	key reconcile.Key
	keyEntry
}

// entries returns the heads that keys (of the set) stand for.
func (ks *keySet) entries(keys []reconcile.Key) []keyedEntry {
	out := make([]keyedEntry, 0, len(keys))
	for _, k := range keys {
		if e, ok := ks.entry(k); ok {
			out = append(out, keyedEntry{k, e})
		}
	}
	return out
}

func headsOf(es []keyedEntry) []cid.Cid {
	out := make([]cid.Cid, len(es))
	for i, e := range es {
		out[i] = e.head
	}
	return out
}

// planDiff plans what to send p, whose heads are ours but mine (heads of
// ours it lacks), plus theirs (its heads that are not heads here), within
// p's share of this node's work (see workShare).
func (n *Node) planDiff(ctx context.Context, p peer.ID, ks *keySet, mine []keyedEntry, theirs []cid.Cid) (*history.SyncPlan, error) {
	if err := n.allowWork(p); err != nil {
		return nil, err
	}
	lacks := make(map[int64]bool, len(mine))
	known := map[int64][]int64{}
	for _, e := range mine {
		lacks[e.rev] = true
	}
	for _, e := range mine {
		if _, ok := known[e.page]; ok {
			continue
		}
		known[e.page] = []int64{}
		for _, o := range ks.pageHeads([8]byte(e.key[:8]), e.page) {
			if !lacks[o.rev] {
				known[e.page] = append(known[e.page], o.rev)
			}
		}
	}
	plan, err := n.store.PlanSyncPages(ctx, known, theirs)
	units := len(theirs)
	if err == nil {
		units += plan.Revisions()
	}
	n.work.charge(p, units, time.Now())
	return plan, err
}
