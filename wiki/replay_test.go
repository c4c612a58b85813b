package wiki

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"peerwiki/history"
)

// opDAG builds membership operations for replay tests without a store.
type opDAG struct {
	t   *testing.T
	ops map[cid.Cid]*memberRevision
	n   int
}

func newOpDAG(t *testing.T) *opDAG { return &opDAG{t: t, ops: map[cid.Cid]*memberRevision{}} }

func (d *opDAG) add(author peer.ID, op memberOp, parents ...cid.Cid) cid.Cid {
	d.n++
	sum := sha256.Sum256(fmt.Appendf(nil, "op %d", d.n))
	m, _ := mh.Encode(sum[:], mh.SHA2_256)
	c := cid.NewCidV1(history.CodecDagCBOR, m)
	d.ops[c] = &memberRevision{cid: c, author: author, name: string(author)[:4], time: int64(d.n), parents: parents, op: op, valid: true}
	return c
}

func testPeer(t *testing.T, i int) peer.ID {
	t.Helper()
	id, err := history.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_ = i
	return id.ID
}

func peerOf(s string) peer.ID { return peer.ID(s) }

func founderIs(p peer.ID) founderCheck { return func(a peer.ID, _ memberOp) bool { return a == p } }

func TestReplayFoundAddRemove(t *testing.T) {
	a, b, c := testPeer(t, 0), testPeer(t, 1), testPeer(t, 2)
	d := newOpDAG(t)
	f := d.add(a, memberOp{Op: "found"})
	x := d.add(a, memberOp{Op: "add", Peer: b.String(), Name: "bob", Role: RoleMember, Invite: "i1"}, f)
	y := d.add(a, memberOp{Op: "add", Peer: c.String(), Name: "carol", Role: RoleAdmin}, x)
	// A second found, by anyone, is ignored; b is not an admin.
	d.add(b, memberOp{Op: "found"}, y)
	d.add(b, memberOp{Op: "remove", Peer: c.String()}, y)
	m := replay(d.ops, founderIs(a))
	if !m.Founded || m.Founder != a || !m.IsAdmin(a) || !m.IsMember(b) || m.IsAdmin(b) || !m.IsAdmin(c) {
		t.Fatalf("list: %+v", m.List())
	}
	if m.Uses("i1") != 1 {
		t.Fatalf("invite uses %d", m.Uses("i1"))
	}
	// Removing c, then re-adding c, leaves c removed.
	r := d.add(a, memberOp{Op: "remove", Peer: c.String()}, y)
	d.add(a, memberOp{Op: "add", Peer: c.String(), Name: "carol", Role: RoleMember}, r)
	m = replay(d.ops, founderIs(a))
	if !m.IsRemoved(c) {
		t.Fatal("a removal must be permanent")
	}
}

func TestReplayLastAdminStays(t *testing.T) {
	a, b := testPeer(t, 0), testPeer(t, 1)
	d := newOpDAG(t)
	f := d.add(a, memberOp{Op: "found"})
	x := d.add(a, memberOp{Op: "add", Peer: b.String(), Role: RoleMember}, f)
	d.add(a, memberOp{Op: "remove", Peer: a.String()}, x)
	d.add(a, memberOp{Op: "role", Peer: a.String(), Role: RoleMember}, x)
	m := replay(d.ops, founderIs(a))
	if !m.IsAdmin(a) {
		t.Fatal("the last admin was removed or demoted")
	}
}

func TestReplayRemovalBeatsConcurrentChangeOfTheRemoved(t *testing.T) {
	a, dd, e := testPeer(t, 0), testPeer(t, 1), testPeer(t, 2)
	d := newOpDAG(t)
	f := d.add(a, memberOp{Op: "found"})
	x := d.add(a, memberOp{Op: "add", Peer: dd.String(), Role: RoleAdmin}, f)
	// D, concurrently with its removal, adds E as an admin, and E removes A.
	o := d.add(dd, memberOp{Op: "add", Peer: e.String(), Role: RoleAdmin}, x)
	d.add(e, memberOp{Op: "remove", Peer: a.String()}, o)
	d.add(a, memberOp{Op: "remove", Peer: dd.String()}, x)
	m := replay(d.ops, founderIs(a))
	if !m.IsRemoved(dd) || !m.IsAdmin(a) {
		t.Fatalf("want D removed and A admin: %+v", m.List())
	}
	if _, ok := m.Get(e); ok {
		t.Fatal("D's concurrent add of E must be void")
	}
}

func TestReplayMutualRemovalIsDecidedTheSameEverywhere(t *testing.T) {
	a, b := testPeer(t, 0), testPeer(t, 1)
	d := newOpDAG(t)
	f := d.add(a, memberOp{Op: "found"})
	x := d.add(a, memberOp{Op: "add", Peer: b.String(), Role: RoleAdmin}, f)
	d.add(a, memberOp{Op: "remove", Peer: b.String()}, x)
	d.add(b, memberOp{Op: "remove", Peer: a.String()}, x)
	m := replay(d.ops, founderIs(a))
	// Concurrent removals: the one by the lower author id is taken first,
	// and its target's concurrent removal is void.
	first, second := a, b
	if string(b) < string(a) {
		first, second = b, a
	}
	if !m.IsAdmin(first) || !m.IsRemoved(second) {
		t.Fatalf("want %s admin and %s removed: %+v", first, second, m.List())
	}
	for range 20 { // map order must not matter
		again := replay(d.ops, founderIs(a))
		if again.IsRemoved(first) || !again.IsRemoved(second) {
			t.Fatal("replay is not deterministic")
		}
	}
}

// The removed member's concurrent change comes first in the replay order
// (its parents were ready earlier): it is voided when the removal is
// reached, and the replay runs again without it.
func TestReplayVoidsAnEarlierConcurrentChangeOfTheRemoved(t *testing.T) {
	a, dd, e, z := testPeer(t, 0), testPeer(t, 1), testPeer(t, 2), testPeer(t, 3)
	d := newOpDAG(t)
	f := d.add(a, memberOp{Op: "found"})
	x := d.add(a, memberOp{Op: "add", Peer: dd.String(), Role: RoleAdmin}, f)
	o := d.add(dd, memberOp{Op: "add", Peer: e.String(), Role: RoleAdmin}, x)
	d.add(e, memberOp{Op: "add", Peer: z.String(), Role: RoleMember}, o)
	// Ada's removal sits two operations deep, so D's add is replayed first.
	y := d.add(a, memberOp{Op: "revoke", Invite: "i"}, x)
	d.add(a, memberOp{Op: "remove", Peer: dd.String()}, y)
	m := replay(d.ops, founderIs(a))
	if !m.IsRemoved(dd) {
		t.Fatal("D not removed")
	}
	for _, p := range []struct {
		id   string
		name string
	}{{string(e), "E"}, {string(z), "Z (added by E)"}} {
		if _, ok := m.Get(peerOf(p.id)); ok {
			t.Fatalf("%s must not be a member: D's add was concurrent with D's removal", p.name)
		}
	}
}

// The list stops growing at MaxMembers: further additions are not
// applied, and which ones are is the replay order's to say, the same on
// every replica.
func TestReplayMemberCap(t *testing.T) {
	a := testPeer(t, 0)
	d := newOpDAG(t)
	last := d.add(a, memberOp{Op: "found"})
	var added []peer.ID
	for i := 1; i <= MaxMembers+5; i++ {
		p := testPeer(t, i)
		added = append(added, p)
		last = d.add(a, memberOp{Op: "add", Peer: p.String(), Name: fmt.Sprint("m", i), Role: RoleMember}, last)
	}
	m := replay(d.ops, founderIs(a))
	if n := len(m.List()); n != MaxMembers {
		t.Fatalf("%d members listed, want %d", n, MaxMembers)
	}
	// The founder and the first MaxMembers-1 additions.
	if !m.IsMember(added[MaxMembers-2]) || m.IsMember(added[MaxMembers-1]) {
		t.Fatal("the first additions count, the ones past the cap do not")
	}
}
