package cli

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
	"peerwiki/p2p"
	"peerwiki/wiki"
)

// memberGate is the repo's member list as the node enforces it.
type memberGate struct {
	r       *wiki.Repo
	changed <-chan struct{}
}

func newMemberGate(r *wiki.Repo) memberGate { return memberGate{r: r, changed: r.MembersChanged()} }

func (g memberGate) Access(p peer.ID) p2p.Access {
	member, removed := g.r.Access(p)
	switch {
	case removed:
		return p2p.AccessRemoved
	case member:
		return p2p.AccessMember
	}
	return p2p.AccessStranger
}

func (g memberGate) CanRedeem() bool { return g.r.IsAdminHere() }

func (g memberGate) Redeem(ctx context.Context, token []byte, p peer.ID, name string) (string, error) {
	return g.r.Redeem(ctx, token, p, name)
}

func (g memberGate) Changed() <-chan struct{} { return g.changed }

func (g memberGate) Observe(ctx context.Context, res *history.PutResult) {
	g.r.ObserveReceived(ctx, res)
}
