package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// AckProtocol asks a peer to confirm that it holds revisions: the answer
// is a statement signed with the peer's key, which the asker checks before
// it counts (synchronous confirmation, `--confirm N`).
const AckProtocol = protocol.ID("/peerwiki/ack/1.0.0")

// maxAckWait bounds how long a peer waits for revisions it was asked about.
const maxAckWait = 30 * time.Second

const (
	frameAskAck byte = 0x20 + iota
	frameAck
)

// errNotHeld is the answer of a peer that did not get the revisions
// within the wait it was given (or its own maxAckWait).
const errNotHeld = "revisions not held"

// ErrNotHeld is RequestAck's error when the peer answered that it does
// not hold the revisions (yet).
var ErrNotHeld = errors.New(errNotHeld)

type ackRequest struct {
	Wiki   string   `cbor:"wiki"`
	Revs   [][]byte `cbor:"revs"`
	WaitMS int64    `cbor:"wait"`
}

// Ack is a peer's signed statement that it holds revisions of a wiki.
type Ack struct {
	Wiki string   `cbor:"wiki"`
	Revs [][]byte `cbor:"revs"`
	Peer []byte   `cbor:"peer"`
	Time int64    `cbor:"time"`
	Sig  []byte   `cbor:"sig,omitempty"`
}

func (a Ack) unsigned() ([]byte, error) {
	a.Sig = nil
	em, err := cbor.CanonicalEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(a)
}

// handleAck answers an AckProtocol request once every revision asked
// about is stored here (or says no when the wait runs out).
func (n *Node) handleAck(s network.Stream) {
	if !n.isMember(s.Conn().RemotePeer()) {
		s.Reset()
		return
	}
	defer s.Close()
	fc := newFrameConn(s, time.Now().Add(maxAckWait+frameTimeout), nil)
	t, payload, err := fc.read()
	if err != nil || t != frameAskAck {
		s.Reset()
		return
	}
	var req ackRequest
	if err := wireDec.Unmarshal(payload, &req); err != nil || req.Wiki != n.wiki || len(req.Revs) == 0 || len(req.Revs) > 64 {
		fc.writeError("bad acknowledgement request")
		return
	}
	revs, err := decodeCIDs(req.Revs)
	if err != nil {
		fc.writeError("bad revision id")
		return
	}
	wait := min(time.Duration(req.WaitMS)*time.Millisecond, maxAckWait)
	deadline := time.Now().Add(wait)
	for {
		stored := n.stored.wait() // before looking: a store after the look wakes us
		held := true
		for _, c := range revs {
			if ok, err := n.store.Has(n.ctx, c); err != nil || !ok {
				held = false
				break
			}
		}
		if held {
			break
		}
		if time.Now().After(deadline) {
			fc.writeError(errNotHeld)
			return
		}
		// Revisions from peers wake us at once; a look every 20 ms finds
		// those another process on the repo stores.
		select {
		case <-n.ctx.Done():
			return
		case <-stored:
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Received revisions reach the disk a little after they are stored
	// (history.Store.SyncReceived): an acknowledgement waits for it.
	if err := n.store.SyncReceived(); err != nil {
		n.log.Warn("cannot make received revisions durable", "err", err)
		fc.writeError("cannot write to disk")
		return
	}
	ack := Ack{Wiki: n.wiki, Revs: req.Revs, Peer: []byte(n.ID()), Time: time.Now().UnixMilli()}
	msg, err := ack.unsigned()
	if err != nil {
		return
	}
	if ack.Sig, err = n.cfg.Identity.Key.Sign(msg); err != nil {
		return
	}
	if err := fc.writeCBOR(frameAck, ack); err == nil {
		fc.flush()
	}
}

// RequestAck asks peer p to confirm that it holds revs, waiting up to wait
// for them to arrive there. It returns the peer's signed statement after
// checking the signature, the wiki, the revisions and the signer.
func (n *Node) RequestAck(ctx context.Context, p peer.ID, revs []cid.Cid, wait time.Duration) (*Ack, error) {
	if err := n.checkMember(p); err != nil {
		return nil, err
	}
	s, err := n.host.NewStream(ctx, p, AckProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	// The stream's reads heed deadlines, not ctx: both bound it.
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	deadline := time.Now().Add(wait + frameTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	fc := newFrameConn(s, deadline, nil)
	req := ackRequest{Wiki: n.wiki, WaitMS: wait.Milliseconds()}
	for _, c := range revs {
		req.Revs = append(req.Revs, c.Bytes())
	}
	if err := fc.writeCBOR(frameAskAck, req); err != nil {
		return nil, err
	}
	if err := fc.flush(); err != nil {
		return nil, err
	}
	// The peer answers once it holds them, which may take the whole wait
	// (not only the frameTimeout a frame of a sync gets).
	t, payload, err := fc.readWithin(wait + frameTimeout)
	if err != nil {
		return nil, err
	}
	if t == frameError {
		if string(payload) == errNotHeld {
			return nil, ErrNotHeld
		}
		return nil, fmt.Errorf("peer %s: %s", p, clip(string(payload)))
	}
	if t != frameAck {
		return nil, protoErr("unexpected frame type %d", t)
	}
	var ack Ack
	if err := wireDec.Unmarshal(payload, &ack); err != nil {
		return nil, protoErr("bad acknowledgement: %v", err)
	}
	if err := verifyAck(&ack, p, n.wiki, req.Revs); err != nil {
		return nil, err
	}
	return &ack, nil
}

// verifyAck checks that ack is p's signed statement about exactly revs.
func verifyAck(ack *Ack, p peer.ID, wiki string, revs [][]byte) error {
	if ack.Wiki != wiki || peer.ID(ack.Peer) != p || len(ack.Revs) != len(revs) {
		return errors.New("acknowledgement is not about what was asked, or not from that peer")
	}
	for i := range revs {
		if !bytes.Equal(ack.Revs[i], revs[i]) {
			return errors.New("acknowledgement names other revisions")
		}
	}
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("acknowledgement signer: %v", err)
	}
	msg, err := ack.unsigned()
	if err != nil {
		return err
	}
	if ok, err := pub.Verify(msg, ack.Sig); err != nil || !ok {
		return errors.New("acknowledgement signature does not verify")
	}
	return nil
}
