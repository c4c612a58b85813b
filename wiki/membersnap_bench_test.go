package wiki

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// A snapshot holds as many used and revoked invites as admins made: more
// than a decoder's default bounds is still read, not replayed past.
func TestMemberSnapshotOfManyInvites(t *testing.T) {
	m, heads := snapshotMembers(t, 3)
	for i := range 200_000 {
		m.uses[fmt.Sprintf("invite-%d", i)] = 1
		m.revoked[fmt.Sprintf("revoked-%d", i)] = true
	}
	r := &Repo{Dir: t.TempDir(), Config: Config{Wiki: "bench-wiki"}}
	r.saveMemberSnap(m)
	got := r.loadMemberSnap(heads)
	if got == nil || len(got.uses) != 200_000 || len(got.revoked) != 200_000 || len(got.list) != 3 {
		t.Fatal("the snapshot of 200,000 invites was not read")
	}
}

// BenchmarkMemberSnapshot500 is what every command pays to read a member
// list of 500 (added by one admin) from its snapshot when it opens the
// repo.
func BenchmarkMemberSnapshot500(b *testing.B) {
	m, heads := snapshotMembers(b, 500)
	r := &Repo{Dir: b.TempDir(), Config: Config{Wiki: "bench-wiki"}}
	r.saveMemberSnap(m)
	for b.Loop() {
		if got := r.loadMemberSnap(heads); got == nil || len(got.list) != 500 {
			b.Fatal("the snapshot did not load")
		}
	}
}

// snapshotMembers is a founded list of n members, all but the founder
// added by the founder, and the members page's heads it is for.
func snapshotMembers(tb testing.TB, n int) (*Members, []cid.Cid) {
	newID := func() peer.ID {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			tb.Fatal(err)
		}
		return id
	}
	admin := newID()
	h, _ := multihash.Sum([]byte("members"), multihash.SHA2_256, -1)
	heads := []cid.Cid{cid.NewCidV1(cid.DagCBOR, h)}
	m := &Members{Founded: true, Founder: admin, list: map[peer.ID]*Member{}, frontiers: map[peer.ID]frontierList{},
		uses: map[string]int{}, revoked: map[string]bool{}, heads: heads}
	since := time.UnixMilli(1_796_000_000_000).UTC()
	m.list[admin] = &Member{Peer: admin, Name: "admin", Role: RoleAdmin, Since: since}
	for i := range n - 1 {
		p := newID()
		m.list[p] = &Member{Peer: p, Name: fmt.Sprintf("member %d", i), Role: RoleMember, AddedBy: admin, Since: since}
	}
	return m, heads
}
