package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-msgio"

	"peerwiki/history"
)

// newHostile is a raw libp2p host of a member of the wiki (with no
// member list, everyone is one): it can connect, and then says whatever
// a test makes it say.
func newHostile(t *testing.T) host.Host {
	t.Helper()
	id, err := history.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHost(hostConfig{key: id.Key, listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func blockFrame(c cid.Cid, data []byte) []byte {
	b := []byte{frameBlock}
	b = binary.AppendUvarint(b, uint64(len(c.Bytes())))
	b = append(b, c.Bytes()...)
	return append(b, data...)
}

// packedFrame is a PACKED frame: data in encoding enc, against base.
func packedFrame(c cid.Cid, enc byte, base cid.Cid, data []byte) []byte {
	b := []byte{framePacked}
	b = binary.AppendUvarint(b, uint64(len(c.Bytes())))
	b = append(b, c.Bytes()...)
	b = append(b, enc)
	if base.Defined() {
		b = binary.AppendUvarint(b, uint64(len(base.Bytes())))
		b = append(b, base.Bytes()...)
	} else {
		b = append(b, 0)
	}
	return append(b, data...)
}

// literalDelta is a storage delta (history's format) that copies nothing
// from its base: the target's length, then one literal run.
func literalDelta(target []byte) []byte {
	d := binary.AppendUvarint(nil, uint64(len(target)))
	d = binary.AppendUvarint(d, uint64(len(target))<<1)
	return append(d, target...)
}

func cborFrame(t byte, v any) []byte {
	b, err := cbor.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append([]byte{t}, b...)
}

// goodAndBad returns the frames of a valid new page followed by the bad
// frames, so a test can check that the good part of the batch is not
// stored either.
func (r *replica) validPageFrames(title string) ([][]byte, []cid.Cid) {
	_, blocks := r.Batch(cid.Undef, title, "valid body of "+title)
	var frames [][]byte
	var cids []cid.Cid
	for _, b := range blocks {
		frames = append(frames, blockFrame(b.Cid, b.Data))
		cids = append(cids, b.Cid)
	}
	return frames, cids
}

// forgeable is a valid new page of evil's, as a batch, and its revision
// decoded, to be tampered with.
func forgeable(t *testing.T, evil *replica) ([]history.Block, *history.Revision) {
	t.Helper()
	blk, bodies := evil.Make(cid.Undef, "Forged", "forged body")
	rev, err := history.DecodeRevision(blk.Data)
	if err != nil {
		t.Fatal(err)
	}
	return append(bodies, blk), rev
}

// badFrames are the ways a peer can send invalid blocks or frames.
func badFrames(t *testing.T, evil *replica) map[string][][]byte {
	t.Helper()
	// A revision whose bytes were changed after signing, re-addressed so
	// the CID matches: a forged signature.
	blocks, rev := forgeable(t, evil)
	rev.Title = "Tampered"
	tampered, err := rev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	forged := history.NewBlock(history.CodecDagCBOR, tampered)
	// A revision whose parent was never sent, of a page whose genesis was.
	// (Of a page not here at all, it waits: a shallow replica sends such
	// pages not knowing that the asker lacks them; see history/shallow.go.)
	orphanGenesis := evil.signedRevision(cid.Undef, nil, 1, evil.Clock, "Orphan", "orphan genesis")
	orphanPage := orphanGenesis[len(orphanGenesis)-1].Cid
	missing := history.NewBlock(history.CodecDagCBOR, []byte("x")).Cid
	orphan := append(orphanGenesis, evil.signedRevision(orphanPage, []cid.Cid{missing}, 2, evil.Clock+1, "Orphan", "orphan body")...)
	// A revision of another wiki.
	other := *rev
	other.Wiki = "another-wiki"
	other.Title = "Forged"
	if err := other.Sign(evil.ID.Key); err != nil {
		t.Fatal(err)
	}
	otherBlock, _ := other.Block()
	big := bytes.Repeat([]byte("x"), history.MaxBlockSize+1)
	bigBlock := history.NewBlock(history.CodecRaw, big)
	return map[string][][]byte{
		"bytes not matching the CID": {blockFrame(blocks[0].Cid, []byte("not the body"))},
		"forged signature":           {blockFrame(blocks[0].Cid, blocks[0].Data), blockFrame(forged.Cid, forged.Data)},
		"oversized block":            {blockFrame(bigBlock.Cid, bigBlock.Data)},
		"missing parent":             blockFrames(orphan),
		"another wiki":               {blockFrame(blocks[0].Cid, blocks[0].Data), blockFrame(otherBlock.Cid, otherBlock.Data)},
		"garbage frame":              {{0x99, 1, 2, 3}},
		"garbage block frame":        {{frameBlock, 0xff, 0xff, 0xff}},
		"unsupported CID":            {blockFrame(cid.NewCidV0(forged.Cid.Hash()), forged.Data)},
		"empty frame":                {{}},
		"packed delta against a block the stream did not carry": {
			packedFrame(forged.Cid, 3, blocks[0].Cid, literalDelta(forged.Data))},
		"packed bytes not matching the CID": {blockFrame(blocks[0].Cid, blocks[0].Data),
			packedFrame(blocks[1].Cid, 3, blocks[0].Cid, literalDelta([]byte("not the revision")))},
		"packed delta that does not decode": {blockFrame(blocks[0].Cid, blocks[0].Data),
			packedFrame(blocks[1].Cid, 3, blocks[0].Cid, []byte{0xff, 0xff})},
		"packed zstd that does not decode":    {packedFrame(blocks[0].Cid, 1, cid.Undef, []byte("not zstd"))},
		"packed block of an unknown encoding": {packedFrame(blocks[0].Cid, 9, cid.Undef, blocks[0].Data)},
		"malformed packed frame":              {{framePacked, 1}},
	}
}

func TestRejectsBadBlocksFromAnswerer(t *testing.T) {
	evil := newReplica(t)
	for name, bad := range badFrames(t, evil) {
		t.Run(name, func(t *testing.T) {
			honest, friend := newReplica(t), newReplica(t)
			honest.addHistory(2, 2, "Honest")
			nh := startNode(t, honest, nil)
			before := honest.blocks()
			hostile := newHostile(t)
			good, goodCIDs := evil.validPageFrames("Good part of a bad batch")
			hostile.SetStreamHandler(SyncProtocol, func(s network.Stream) {
				defer s.Close()
				r := msgio.NewVarintReaderSize(s, MaxFrame)
				if _, err := r.ReadMsg(); err != nil {
					return
				}
				w := msgio.NewVarintWriter(s)
				for _, f := range append(good, bad...) {
					if err := w.WriteMsg(f); err != nil {
						return
					}
				}
				w.WriteMsg(cborFrame(frameEnd, endMsg{}))
			})
			if err := nh.Connect(context.Background(), info(hostile)); err != nil {
				t.Fatal(err)
			}
			_, err := nh.SyncPeer(context.Background(), hostile.ID())
			if err == nil {
				t.Fatal("sync with a hostile peer succeeded")
			}
			if !badData(err) {
				t.Fatalf("error %v is not classed as bad data", err)
			}
			if got := honest.blocks(); got != before {
				t.Fatalf("stored %d blocks from a bad batch", got-before)
			}
			for _, c := range goodCIDs {
				if ok, _ := honest.Store.Has(context.Background(), c); ok {
					t.Fatal("the valid part of a bad batch was stored")
				}
			}
			waitFor(t, 10*time.Second, "the hostile peer to be disconnected", func() bool {
				return nh.Host().Network().Connectedness(hostile.ID()) != network.Connected
			})
			if err := hostile.Connect(context.Background(), info(nh.Host())); err == nil {
				waitFor(t, 10*time.Second, "the banned peer to be dropped", func() bool {
					return nh.Host().Network().Connectedness(hostile.ID()) != network.Connected
				})
			}
			// Everyone else is still served.
			nf := startNode(t, friend, nil)
			connectNodes(t, nf, nh)
			if _, err := nf.SyncPeer(context.Background(), nh.ID()); err != nil {
				t.Fatalf("an honest peer was not served after the attack: %v", err)
			}
			if !sameHeads(friend.heads(), honest.heads()) {
				t.Fatal("honest peer did not converge")
			}
		})
	}
}

func TestRejectsOversizedFrame(t *testing.T) {
	honest := newReplica(t)
	nh := startNode(t, honest, nil)
	hostile := newHostile(t)
	hostile.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		msgio.NewVarintReaderSize(s, MaxFrame).ReadMsg()
		var hdr []byte
		hdr = binary.AppendUvarint(hdr, MaxFrame+1)
		s.Write(hdr)
		s.Write(make([]byte, 64<<10))
	})
	if err := nh.Connect(context.Background(), info(hostile)); err != nil {
		t.Fatal(err)
	}
	if _, err := nh.SyncPeer(context.Background(), hostile.ID()); err == nil || !badData(err) {
		t.Fatalf("oversized frame: err = %v", err)
	}
	if honest.blocks() != 0 {
		t.Fatal("stored something")
	}
}

func TestRejectsGarbageAndBadPushFromAsker(t *testing.T) {
	evil := newReplica(t)
	randomHead := history.NewBlock(history.CodecDagCBOR, []byte("a head the honest node lacks")).Cid
	cases := map[string]func(w msgio.Writer){
		"garbage": func(w msgio.Writer) { w.WriteMsg([]byte("GET / HTTP/1.1\r\n\r\n")) },
		"not cbor": func(w msgio.Writer) {
			w.WriteMsg([]byte{frameHello, 0xff, 0x00})
		},
		"bad push": func(w msgio.Writer) {
			w.WriteMsg(cborFrame(frameHello, helloMsg{V: protoVersion, Wiki: historyWiki(), Sum: make([]byte, 32), Heads: [][]byte{randomHead.Bytes()}}))
			good, _ := evil.validPageFrames("Pushed")
			for _, f := range good {
				w.WriteMsg(f)
			}
			w.WriteMsg(blockFrame(randomHead, []byte("wrong bytes")))
			w.WriteMsg(cborFrame(frameEnd, endMsg{}))
		},
		"a deepening of too many revisions": func(w msgio.Writer) {
			want := make([][]byte, maxDeepenWants+1)
			for i := range want {
				want[i] = history.NewBlock(history.CodecDagCBOR, fmt.Appendf(nil, "wanted %d", i)).Cid.Bytes()
			}
			w.WriteMsg(cborFrame(frameHello, helloMsg{V: protoVersion, Wiki: historyWiki(), Deepen: want}))
		},
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			honest := newReplica(t)
			honest.addHistory(1, 1, "Honest")
			nh := startNode(t, honest, nil)
			before := honest.blocks()
			hostile := newHostile(t)
			fc := syncStream(t, hostile, nh, 5*time.Second)
			send(fc.w)
			fc.flush()
			// Read whatever comes back until the honest side closes or resets.
			for range 100 {
				if _, _, err := fc.read(); err != nil {
					break
				}
			}
			waitFor(t, 10*time.Second, "the hostile asker to be rejected", func() bool {
				return nh.Stats().Rejected == 1 && nh.Host().Network().Connectedness(hostile.ID()) != network.Connected
			})
			if honest.blocks() != before {
				t.Fatal("stored blocks from a hostile asker")
			}
		})
	}
}

func historyWiki() string { return "testwiki" }

func TestRejectsBadGossip(t *testing.T) {
	honest, evil := newReplica(t), newReplica(t)
	honest.addHistory(1, 1, "Honest")
	nh := startNode(t, honest, func(cfg *Config) { cfg.Gossip = true })
	before := honest.blocks()

	blocks, rev := forgeable(t, evil)
	rev.Title = "Tampered"
	tampered, _ := rev.Encode()
	forged := history.NewBlock(history.CodecDagCBOR, tampered)
	sum := make([]byte, 32)
	rand.Read(sum)
	msg := func(a announcement) []byte {
		b, _ := cbor.Marshal(a)
		return b
	}
	cases := map[string][]byte{
		"garbage":    []byte("\x00\x01garbage"),
		"oversized":  msg(announcement{Wiki: historyWiki(), Sum: sum, Heads: [][]byte{forged.Cid.Bytes()}, Blocks: []wireBlock{{Cid: blocks[0].Cid.Bytes(), Data: bytes.Repeat([]byte("y"), MaxAnnouncement)}}}),
		"bad cid":    msg(announcement{Wiki: historyWiki(), Sum: sum, Heads: [][]byte{forged.Cid.Bytes()}, Blocks: []wireBlock{{Cid: blocks[0].Cid.Bytes(), Data: []byte("other bytes")}}}),
		"forged sig": msg(announcement{Wiki: historyWiki(), Sum: sum, Heads: [][]byte{forged.Cid.Bytes()}, Blocks: []wireBlock{{Cid: blocks[0].Cid.Bytes(), Data: blocks[0].Data}, {Cid: forged.Cid.Bytes(), Data: forged.Data}}}),
		"other wiki": msg(announcement{Wiki: "other", Sum: sum, Heads: [][]byte{forged.Cid.Bytes()}}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			rejected := nh.Stats().Rejected
			hostile := newHostile(t)
			ps, err := pubsub.NewGossipSub(context.Background(), hostile, pubsub.WithFloodPublish(true), pubsub.WithMaxMessageSize(pubsubMaxMessage))
			if err != nil {
				t.Fatal(err)
			}
			topic, err := ps.Join(HeadsTopic(historyWiki()))
			if err != nil {
				t.Fatal(err)
			}
			if err := hostile.Connect(context.Background(), info(nh.Host())); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the topic to be joined", func() bool { return len(topic.ListPeers()) == 1 })
			if err := topic.Publish(context.Background(), data); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the message to be rejected", func() bool {
				return nh.Stats().Rejected > rejected && nh.Host().Network().Connectedness(hostile.ID()) != network.Connected
			})
			if honest.blocks() != before {
				t.Fatal("stored blocks from a bad gossip message")
			}
		})
	}
}

// A peer of another sync version (an older build, whose automatic merges
// would not all recompute here), or of another wiki (dialled at an
// address where this one's replica once listened), is told so in one
// line and not banned: it is not hostile, only out of date or
// misdirected.
func TestOtherSyncVersionOrWikiIsRefusedNotBanned(t *testing.T) {
	for name, c := range map[string]struct {
		hello helloMsg
		want  string
	}{
		"another version": {helloMsg{V: protoVersion - 1, Wiki: historyWiki(), Sum: make([]byte, 32)}, fmt.Sprintf("unsupported sync version %d", protoVersion-1)},
		"another wiki":    {helloMsg{V: protoVersion, Wiki: "other", Sum: make([]byte, 32)}, "this node replicates another wiki"},
	} {
		t.Run(name, func(t *testing.T) {
			honest := newReplica(t)
			honest.addHistory(1, 1, "Honest")
			nh := startNode(t, honest, nil)
			before := honest.blocks()
			old := newHostile(t)
			fc := syncStream(t, old, nh, 5*time.Second)
			fc.writeCBOR(frameHello, c.hello)
			fc.flush()
			ft, reply, err := fc.read()
			if err != nil || ft != frameError {
				t.Fatalf("reply = %d %q, %v; want an error frame", ft, reply, err)
			}
			if !strings.Contains(string(reply), c.want) {
				t.Fatalf("reply %q does not say %q", reply, c.want)
			}
			if nh.Stats().Rejected != 0 || nh.bans.banned(old.ID()) {
				t.Fatal("the peer was treated as hostile")
			}
			if honest.blocks() != before {
				t.Fatal("stored something")
			}
		})
	}
}

// A forged automatic merge is bad data like a bad signature: its sender
// is banned, and the node says so at warning level.
func TestForgedMergeIsWarnedAndBanned(t *testing.T) {
	log := &syncLog{}
	nh := startNode(t, newReplica(t), func(cfg *Config) { cfg.Logger = slog.New(slog.NewTextHandler(log, nil)) })
	rogue := newHostile(t)
	nh.punish(rogue.ID(), fmt.Errorf("store blocks from %s: %w: does not recompute", rogue.ID(), history.ErrForgedMerge))
	if !nh.bans.banned(rogue.ID()) || log.count("level=WARN") != 1 || log.count("forged automatic merge") != 1 {
		t.Fatalf("banned %v; log:\n%s", nh.bans.banned(rogue.ID()), log.buf.String())
	}
}

func blockFrames(bs []history.Block) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = blockFrame(b.Cid, b.Data)
	}
	return out
}
