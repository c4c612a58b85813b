package wiki

import (
	"bytes"
	"testing"
)

// The rendezvous secret is a function of the founding operation and the
// removals, whatever order they were learnt in: every member computes
// the same one, and a removal changes it.
func TestRendezvousSecretFollowsFoundingAndRemovals(t *testing.T) {
	a, b, c := testPeer(t, 0), testPeer(t, 1), testPeer(t, 2)
	d := newOpDAG(t)
	if s := replay(d.ops, founderIs(a)).RendezvousSecret(); s != nil {
		t.Fatalf("an unfounded list has a secret: %x", s)
	}
	f := d.add(a, memberOp{Op: "found"})
	x := d.add(a, memberOp{Op: "add", Peer: b.String(), Role: RoleMember}, f)
	y := d.add(a, memberOp{Op: "add", Peer: c.String(), Role: RoleMember}, x)
	before := replay(d.ops, founderIs(a)).RendezvousSecret()
	if len(before) != 32 {
		t.Fatalf("secret %x", before)
	}
	// An addition leaves it (new members receive the list).
	if again := replay(d.ops, founderIs(a)).RendezvousSecret(); !bytes.Equal(again, before) {
		t.Fatal("the secret is not a function of the operations")
	}
	// Two concurrent removals: one new secret, the same for both orders.
	d.add(a, memberOp{Op: "remove", Peer: b.String()}, y)
	d.add(a, memberOp{Op: "remove", Peer: c.String()}, y)
	after := replay(d.ops, founderIs(a)).RendezvousSecret()
	if bytes.Equal(after, before) {
		t.Fatal("a removal leaves the rendezvous secret as it was")
	}
	if again := replay(d.ops, founderIs(a)).RendezvousSecret(); !bytes.Equal(again, after) {
		t.Fatal("the secret depends on the replay's order")
	}
	// Another wiki (another founding operation) has another secret.
	e := newOpDAG(t)
	e.n = 100
	e.add(a, memberOp{Op: "found"})
	if bytes.Equal(replay(e.ops, founderIs(a)).RendezvousSecret(), before) {
		t.Fatal("two wikis share a secret")
	}
}
