package p2p

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestVerifyAckRejectsForgeries(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	other, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	otherID, _ := peer.IDFromPrivateKey(other)
	revs := [][]byte{[]byte("rev-a")}
	sign := func(a Ack, k crypto.PrivKey) Ack {
		msg, _ := a.unsigned()
		a.Sig, _ = k.Sign(msg)
		return a
	}
	good := sign(Ack{Wiki: "w", Revs: revs, Peer: []byte(id), Time: 1}, key)
	if err := verifyAck(&good, id, "w", revs); err != nil {
		t.Fatalf("a genuine acknowledgement was refused: %v", err)
	}
	cases := map[string]Ack{
		"another signer":   sign(Ack{Wiki: "w", Revs: revs, Peer: []byte(id), Time: 1}, other),
		"another peer":     sign(Ack{Wiki: "w", Revs: revs, Peer: []byte(otherID), Time: 1}, other),
		"another wiki":     sign(Ack{Wiki: "x", Revs: revs, Peer: []byte(id), Time: 1}, key),
		"other revisions":  sign(Ack{Wiki: "w", Revs: [][]byte{[]byte("rev-b")}, Peer: []byte(id), Time: 1}, key),
		"tampered content": func() Ack { a := good; a.Time = 2; return a }(),
	}
	for name, a := range cases {
		if err := verifyAck(&a, id, "w", revs); err == nil {
			t.Errorf("%s: forged acknowledgement accepted", name)
		}
	}
}

// A peer that gets the revisions later than a frame's timeout, but
// within the wait asked for, confirms: the answer is read for the whole
// wait, not for frameTimeout.
func TestAckWaitsLongerThanAFrame(t *testing.T) {
	defer func(d time.Duration) { frameTimeout = d }(frameTimeout)
	frameTimeout = 200 * time.Millisecond
	ra, rb := newReplica(t), newReplica(t)
	a, b := startNode(t, ra, nil), startNode(t, rb, nil)
	connectNodes(t, a, b)
	c, blocks := ra.Batch(cid.Undef, "Late", "arrives after a frame's timeout\n")
	go func() {
		time.Sleep(600 * time.Millisecond)
		b.put(context.Background(), a.ID(), blocks, false)
	}()
	start := time.Now()
	if _, err := a.RequestAck(context.Background(), b.ID(), []cid.Cid{c}, 2*time.Second); err != nil {
		t.Fatalf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	// Stored by a sync or gossip, the answer comes at once, not at the
	// next look of a poll.
	c2, blocks2 := ra.Batch(cid.Undef, "Soon", "arrives at once\n")
	go func() {
		time.Sleep(50 * time.Millisecond)
		b.put(context.Background(), a.ID(), blocks2, false)
	}()
	start = time.Now()
	if _, err := a.RequestAck(context.Background(), b.ID(), []cid.Cid{c2}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("acknowledged %s after being asked", d)
	}
}

// A peer that never answers is waited for as long as the asker's
// context says, not for the wait plus a frame's timeout.
func TestAckRequestEndsWithItsContext(t *testing.T) {
	a, b := startNode(t, newReplica(t), nil), startNode(t, newReplica(t), nil)
	b.host.SetStreamHandler(AckProtocol, func(s network.Stream) {}) // reads nothing, answers nothing
	connectNodes(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c, _ := newReplica(t).Batch(cid.Undef, "Never", "held\n")
	start := time.Now()
	if _, err := a.RequestAck(ctx, b.ID(), []cid.Cid{c}, 5*time.Second); err == nil {
		t.Fatal("a silent peer confirmed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("asked for 300ms, waited %s", d)
	}
}
