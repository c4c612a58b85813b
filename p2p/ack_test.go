package p2p

import (
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
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
