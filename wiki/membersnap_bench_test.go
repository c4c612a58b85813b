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

// BenchmarkMemberSnapshot500 is what every command pays to read a member
// list of 500 (added by one admin) from its snapshot when it opens the
// repo.
func BenchmarkMemberSnapshot500(b *testing.B) {
	newID := func() peer.ID {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			b.Fatal(err)
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
	for i := range 499 {
		p := newID()
		m.list[p] = &Member{Peer: p, Name: fmt.Sprintf("member %d", i), Role: RoleMember, AddedBy: admin, Since: since}
	}
	r := &Repo{Dir: b.TempDir(), Config: Config{Wiki: "bench-wiki"}}
	r.saveMemberSnap(m)
	for b.Loop() {
		if got := r.loadMemberSnap(heads); got == nil || len(got.list) != 500 {
			b.Fatal("the snapshot did not load")
		}
	}
}
