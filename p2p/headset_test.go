package p2p

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"peerwiki/history"
	"peerwiki/reconcile"
)

// syntheticHeads are n revision CIDs no store holds, sorted as a head
// set is: a wiki of n pages as far as the sync protocol can tell.
func syntheticHeads(n int) []cid.Cid {
	out := make([]cid.Cid, n)
	b := make([]byte, 32)
	for i := range out {
		rand.Read(b)
		out[i] = history.NewBlock(history.CodecDagCBOR, b).Cid
	}
	history.SortCIDs(out)
	return out
}

// readBlocksTillEnd reads a side's BLOCK and PACKED frames and returns
// its END.
func readBlocksTillEnd(t *testing.T, fc *frameConn) endMsg {
	t.Helper()
	for {
		ft, payload, err := fc.read()
		if err != nil {
			t.Fatalf("reading the blocks: %v", err)
		}
		switch ft {
		case frameBlock, framePacked:
		case frameEnd:
			var end endMsg
			if err := wireDec.Unmarshal(payload, &end); err != nil {
				t.Fatal(err)
			}
			return end
		default:
			t.Fatalf("frame type %d (%q) among the blocks", ft, clip(string(payload)))
		}
	}
}

func notPunished(t *testing.T, nd *Node, p interface{ String() string }) {
	t.Helper()
	if nd.Stats().Rejected != 0 {
		t.Fatalf("the node rejected %d peers", nd.Stats().Rejected)
	}
	for _, c := range nd.Host().Network().Peers() {
		if nd.bans.banned(c) {
			t.Fatalf("peer %s was banned", c)
		}
	}
}

// askWithKeys opens a sync on fc as an asker whose heads are keys, and
// reconciles: it returns the keys the answerer lacks and how many of its
// the asker lacks.
func askWithKeys(t *testing.T, fc *frameConn, keys []reconcile.Key) ([]reconcile.Key, int) {
	t.Helper()
	set := reconcile.NewMemSet(keys)
	in, first, err := reconcile.NewInitiator(set, reconcile.Config{FrameSize: reconFrame})
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.writeCBOR(frameHello, helloMsg{V: protoVersion, Wiki: historyWiki(), R: first}); err != nil || fc.flush() != nil {
		t.Fatalf("send the HELLO: %v", err)
	}
	have, needs, err := (&Node{}).reconcileWith(fc, in, set.Len(), nil)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return have, needs
}

// syntheticKeys are the keys of heads taken as one-revision pages.
func syntheticKeys(heads []cid.Cid) []reconcile.Key {
	out := make([]reconcile.Key, len(heads))
	for i, h := range heads {
		out[i] = headKey(h, h)
	}
	return out
}

// A wiki with more heads than one frame holds syncs both ways, and
// nobody is banned for the size of an honest head set: the asker's DIFF
// and the answerer's END each go on in HEADS frames.
func TestSyncHeadSetLargerThanAFrame(t *testing.T) {
	const n = 150_000
	big := syntheticHeads(n)
	honest := newReplica(t)
	honest.addHistory(3, 1, "Honest")
	nh := startNode(t, honest, nil)

	t.Run("asker", func(t *testing.T) {
		asker := newHostile(t)
		fc := syncStream(t, asker, nh, 30*time.Second)
		have, needs := askWithKeys(t, fc, syntheticKeys(big))
		if len(have) != n || needs != len(honest.heads()) {
			t.Fatalf("reconciled: the answerer lacks %d, the asker %d; want %d and %d", len(have), needs, n, len(honest.heads()))
		}
		frames := fc.stats.FramesOut
		err := fc.writeHeadSet(big, func(total int, first [][]byte) error {
			return fc.writeCBOR(frameDiff, diffMsg{N: total, Heads: first})
		})
		if err != nil || fc.flush() != nil {
			t.Fatalf("send the DIFF: %v", err)
		}
		if fc.stats.FramesOut-frames < 2 {
			t.Fatalf("a DIFF of %d heads went in %d frames", n, fc.stats.FramesOut-frames)
		}
		end := readBlocksTillEnd(t, fc)
		if end.Want != n || end.Revs != 3 {
			t.Fatalf("END wants %d heads and sent %d revisions; want %d and 3", end.Want, end.Revs, n)
		}
		theirs, err := fc.readHeadSet(end.N, end.Heads)
		history.SortCIDs(theirs)
		if err != nil || !sameHeads(theirs, honest.heads()) {
			t.Fatalf("the answerer's heads: %d, %v", len(theirs), err)
		}
		if err := fc.writeCBOR(frameEnd, endMsg{}); err != nil || fc.flush() != nil {
			t.Fatal(err)
		}
		if ft, _, err := fc.read(); err != nil || ft != frameDone {
			t.Fatalf("after the push: frame %d, %v; want DONE", ft, err)
		}
		notPunished(t, nh, asker.ID())
	})

	t.Run("answerer", func(t *testing.T) {
		answerer, pushed := listAnswerer(t, func(fc *frameConn, hello helloMsg) error {
			lack := make([]int, len(hello.Heads))
			for i := range lack {
				lack[i] = i
			}
			return fc.writeHeadSet(big, func(total int, first [][]byte) error {
				return fc.writeCBOR(frameEnd, endMsg{Want: 3, Lack: lack, N: total, Heads: first})
			})
		})
		if err := nh.Connect(context.Background(), info(answerer)); err != nil {
			t.Fatal(err)
		}
		res, err := nh.SyncPeer(context.Background(), answerer.ID())
		if err != nil {
			t.Fatalf("sync with a peer of %d heads: %v", n, err)
		}
		if res.Sent != 3 || <-pushed != 3 {
			t.Fatalf("pushed %d revisions, want 3", res.Sent)
		}
		notPunished(t, nh, answerer.ID())
	})
}

// listAnswerer is a peer that answers a list-mode HELLO with the END that
// end writes, then takes the asker's push and says DONE; the push's
// revision count goes to pushed.
func listAnswerer(t *testing.T, end func(fc *frameConn, hello helloMsg) error) (answerer host.Host, pushed chan int) {
	answerer, pushed = newHostile(t), make(chan int, 1)
	answerer.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		fc := newFrameConn(s, time.Now().Add(15*time.Second), nil)
		_, payload, err := fc.read()
		var hello helloMsg
		if err != nil || wireDec.Unmarshal(payload, &hello) != nil || hello.R != nil {
			s.Reset()
			return
		}
		if err := end(fc, hello); err != nil || fc.flush() != nil {
			return
		}
		pushedEnd := readBlocksTillEnd(t, fc)
		pushed <- pushedEnd.Revs
		fc.writeCBOR(frameDone, doneMsg{Revs: pushedEnd.Revs})
		fc.flush()
	})
	return answerer, pushed
}

// A set over reconcile.MaxItems is refused in one line before anything
// more is read, and its sender is not banned.
func TestHeadSetOverTheLimitIsRefused(t *testing.T) {
	honest := newReplica(t)
	nh := startNode(t, honest, nil)
	asker := newHostile(t)
	fc := syncStream(t, asker, nh, 5*time.Second)
	first := []byte{reconcile.Version}
	first = append(first, make([]byte, reconcile.SaltSize)...)
	first = binary.AppendUvarint(first, reconcile.MaxItems+1)
	first = binary.AppendUvarint(first, reconcile.DefaultFrameSize)
	first = append(first, 33)
	first = append(first, make([]byte, reconcile.FingerprintSize)...)
	fc.writeCBOR(frameHello, helloMsg{V: protoVersion, Wiki: historyWiki(), R: first})
	fc.flush()
	ft, payload, err := fc.read()
	if err != nil || ft != frameError || !strings.Contains(string(payload), "set too large") {
		t.Fatalf("reply %d %q, %v; want an error saying the set is too large", ft, payload, err)
	}
	notPunished(t, nh, asker.ID())
}

// A HELLO whose head set fits in one frame has the shape of version 3's,
// so that a version-3 node decodes it and says it speaks another version
// instead of banning the asker for an unknown field.
func TestHelloReadsAsVersion3(t *testing.T) {
	type helloV3 struct {
		V     int      `cbor:"v"`
		Wiki  string   `cbor:"wiki"`
		Sum   []byte   `cbor:"sum"`
		Heads [][]byte `cbor:"heads"`
	}
	b := cborFrame(frameHello, helloMsg{V: protoVersion, Wiki: "w", Sum: make([]byte, 32), Heads: encodeCIDs(syntheticHeads(3))})
	var old helloV3
	if err := wireDec.Unmarshal(b[1:], &old); err != nil || old.V != protoVersion || len(old.Heads) != 3 {
		t.Fatalf("a version-3 node reads %+v, %v", old, err)
	}
}

// The heads that syncs hold at once are bounded: past the pool, a sync is
// answered busy, and a finished sync gives its heads back.
func TestHeadPool(t *testing.T) {
	var pool headPool
	first := encodeCIDs(syntheticHeads(10))
	a := &frameConn{heads: &pool}
	if _, err := a.readHeadSet(0, first); err != nil || pool.held.Load() != 10 {
		t.Fatalf("read 10 heads: %v, pool holds %d", err, pool.held.Load())
	}
	pool.held.Add(maxSyncHeads - 15)
	b := &frameConn{heads: &pool}
	var ref *refusal
	if _, err := b.readHeadSet(0, first); !errors.As(err, &ref) || !ref.busy {
		t.Fatalf("read past the pool: %v, want busy", err)
	}
	a.release()
	if _, err := b.readHeadSet(0, first); err != nil {
		t.Fatalf("read after another sync gave its heads back: %v", err)
	}
	b.release()
	if got := pool.held.Load(); got != maxSyncHeads-15 {
		t.Fatalf("pool holds %d after both released, want %d", got, maxSyncHeads-15)
	}
}

// An answerer whose END wants more of the asker's heads than it lacks
// (it planned its answer, then a sync of its own stored what it wanted
// before it read its heads: seen in TestMultisite, where the inviter
// banned a new member's serve for it) is taken at its list, pushed to,
// and not punished.
func TestEndWantingMoreThanItLacksIsNoViolation(t *testing.T) {
	honest := newReplica(t)
	honest.addHistory(3, 1, "Honest")
	nh := startNode(t, honest, nil)
	answerer, pushed := listAnswerer(t, func(fc *frameConn, hello helloMsg) error {
		// It lacks none of the asker's heads, holds one more of its own,
		// and wants two.
		heads := append(append([][]byte(nil), hello.Heads...), syntheticHeads(1)[0].Bytes())
		return fc.writeCBOR(frameEnd, endMsg{Want: 2, N: len(heads), Heads: heads})
	})
	if err := nh.Connect(context.Background(), info(answerer)); err != nil {
		t.Fatal(err)
	}
	res, err := nh.SyncPeer(context.Background(), answerer.ID())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if res.Sent != 0 || <-pushed != 0 {
		t.Fatalf("pushed %d revisions to a peer that has them all", res.Sent)
	}
	notPunished(t, nh, answerer.ID())
}
