package p2p

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

// trickle takes one of nd's sync slots as a peer that moves next to
// nothing: it asks for a sync, then sends a small valid frame every
// interval (in its push a raw block, or, with inHello, a head of a DIFF
// announcing a thousand, once the reconciliation that opens the sync is
// done). The returned channel says when nd cut it off.
func trickle(t *testing.T, ctx context.Context, nd *Node, every time.Duration, inHello bool) (peer.ID, <-chan time.Time) {
	t.Helper()
	h := newHostile(t)
	fc := syncStream(t, h, nd, time.Minute)
	heads := syntheticHeads(1000)
	if inHello {
		askWithKeys(t, fc, syntheticKeys(heads))
		if err := fc.writeCBOR(frameDiff, diffMsg{N: len(heads), Heads: encodeCIDs(heads[:1])}); err != nil || fc.flush() != nil {
			t.Fatal(err)
		}
	} else {
		sum := history.HeadsHash(heads[:1])
		hello := helloMsg{V: protoVersion, Wiki: historyWiki(), Sum: sum[:], Heads: encodeCIDs(heads[:1])}
		if err := fc.writeCBOR(frameHello, hello); err != nil || fc.flush() != nil {
			t.Fatal(err)
		}
	}
	next := func(i int) error {
		if inHello {
			return fc.writeCBOR(frameHeads, headsMsg{Heads: encodeCIDs(heads[i+1 : i+2])})
		}
		b := make([]byte, 64)
		rand.Read(b)
		return fc.writeBlock(history.Packed{Cid: history.NewBlock(history.CodecRaw, b).Cid, Data: b})
	}
	if !inHello {
		// Take the answer, which wants the pushed head, and push slowly.
		end := readBlocksTillEnd(t, fc)
		if _, err := fc.readHeadSet(end.N, end.Heads); err != nil || end.Want != 1 {
			t.Fatalf("answer to a trickler: want %d, %v", end.Want, err)
		}
	}
	cut := make(chan time.Time, 1)
	go func() {
		// The node resets the stream when it cuts the sync off.
		var b [1]byte
		fc.s.Read(b[:])
		cut <- time.Now()
	}()
	go func() {
		for i := 0; i < len(heads)-1 && ctx.Err() == nil; i++ {
			if next(i) != nil || fc.flush() != nil {
				return
			}
			select {
			case <-time.After(every):
			case <-ctx.Done():
			}
		}
	}()
	return h.ID(), cut
}

// Peers that hold every sync slot by trickling cannot keep members
// waiting: a member that asks is served at once, in a slot one of them
// gives up, and every trickler is cut off once its window of waiting
// passes. Nobody is banned: a slow peer is not a hostile one.
func TestTricklersCannotHoldTheSlots(t *testing.T) {
	rule := progressRule{window: 3 * time.Second, minBytes: 32 << 10, evictAfter: time.Second}
	honest, member := newReplica(t), newReplica(t)
	honest.addHistory(20, 2, "Honest")
	member.addHistory(5, 1, "Member")
	nh := startNode(t, honest, func(cfg *Config) { cfg.progress = rule })
	nm := startNode(t, member, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	start := time.Now()
	cuts := map[peer.ID]<-chan time.Time{}
	for i := range maxInboundSyncs {
		id, cut := trickle(t, ctx, nh, 500*time.Millisecond, i%2 == 0)
		cuts[id] = cut
	}
	nh.mu.Lock()
	held := len(nh.inbound)
	nh.mu.Unlock()
	if held != maxInboundSyncs {
		t.Fatalf("the tricklers hold %d slots, want all %d", held, maxInboundSyncs)
	}

	connectNodes(t, nm, nh)
	asked := time.Now()
	res, err := nm.syncWhenFree(ctx, ctx, nh.ID())
	if err != nil {
		t.Fatalf("the member was not served while tricklers held the slots: %v", err)
	}
	if took := time.Since(asked); took > 2*rule.evictAfter+time.Second {
		t.Fatalf("the member was served after %s", took)
	}
	if res.Received != 40 || res.Sent != 5 || !sameHeads(honest.heads(), member.heads()) {
		t.Fatalf("the member's sync received %d and sent %d, want 40 and 5", res.Received, res.Sent)
	}
	for id, cut := range cuts {
		select {
		case at := <-cut:
			if d := at.Sub(start); d > rule.window+2*time.Second {
				t.Errorf("trickler %s held its slot %s, over its %s window", id, d, rule.window)
			}
		case <-time.After(rule.window + 2*time.Second):
			t.Fatalf("trickler %s still holds its slot", id)
		}
	}
	if nh.Stats().Rejected != 0 {
		t.Fatalf("%d slow peers were banned", nh.Stats().Rejected)
	}
	waitFor(t, 2*time.Second, "every slot to be free", func() bool {
		nh.mu.Lock()
		defer nh.mu.Unlock()
		return len(nh.inbound) == 0
	})
}
