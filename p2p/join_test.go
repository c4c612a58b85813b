package p2p

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// joinAt redeems token at nd as the replica j.
func joinAt(t *testing.T, j *replica, nd *Node, token string) (JoinResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return Join(ctx, JoinConfig{Identity: j.ID, Wiki: historyWiki(), Token: []byte(token), Name: "newcomer", Peers: []peer.AddrInfo{info(nd.Host())}})
}

// A valid invite makes the joiner a member, the stranger's connection
// is closed after the exchange, and the joiner then syncs with its
// inviter, trusting it until the member list it receives names it.
func TestJoinRedeemsAndTheJoinerSyncs(t *testing.T) {
	admin, j := newReplica(t), newReplica(t)
	admin.addHistory(3, 2, "Wiki")
	nd, fm := memberNode(t, admin, true, nil, nil)
	res, err := joinAt(t, j, nd, "good")
	if err != nil {
		t.Fatal(err)
	}
	if res.Inviter.ID != nd.ID() || len(res.Inviter.Addrs) == 0 || res.Role != "member" {
		t.Fatalf("join result %+v", res)
	}
	if fm.Access(j.ID.ID) != AccessMember || fm.names[j.ID.ID] != "newcomer" {
		t.Fatalf("the joiner is %v, called %q", fm.Access(j.ID.ID), fm.names[j.ID.ID])
	}
	waitFor(t, 2*time.Second, "the join connection to close", func() bool { return connsTo(nd, j.ID.ID) == 0 })

	// The joiner's own list knows only itself until the first sync.
	own := newFakeMembers(j.ID.ID, false)
	nj := startNode(t, j, func(cfg *Config) { cfg.Members = TrustInviter(own, res.Inviter.ID) })
	outcomes, err := nj.SyncAll(context.Background(), []peer.AddrInfo{res.Inviter}, 5*time.Second, time.Second)
	if err != nil || len(outcomes) != 1 || outcomes[0].Err != nil {
		t.Fatalf("the first sync: %v %+v", err, outcomes)
	}
	if j.revisions() != 6 || own.observed.Load() == 0 {
		t.Fatalf("the joiner has %d revisions (want 6), observed %d batches", j.revisions(), own.observed.Load())
	}
	// Without the trust, the inviter is a stranger to the joiner.
	if TrustInviter(own, res.Inviter.ID).Access(nd.ID()) != AccessMember || own.Access(nd.ID()) != AccessStranger {
		t.Fatal("TrustInviter")
	}
	own.set(nd.ID(), AccessRemoved)
	if TrustInviter(own, res.Inviter.ID).Access(nd.ID()) != AccessRemoved || TrustInviter(nil, nd.ID()) != nil {
		t.Fatal("TrustInviter trusts a removed inviter, or makes a list of none")
	}
}

// A refused invite reports the redeemer's reason, quoted, and the
// stranger's connection is closed after the exchange.
func TestJoinRefusedReportsTheReason(t *testing.T) {
	admin, j := newReplica(t), newReplica(t)
	nd, fm := memberNode(t, admin, true, nil, nil)
	_, err := joinAt(t, j, nd, "stolen")
	if !errors.Is(err, ErrInviteRefused) || err.Error() != fmt.Sprintf("invite refused by %s: %q", nd.ID(), "invite expired") {
		t.Fatalf("a refused invite: %v", err)
	}
	if fm.Access(j.ID.ID) != AccessStranger {
		t.Fatal("a refused joiner was added")
	}
	waitFor(t, 2*time.Second, "the join connection to close", func() bool { return connsTo(nd, j.ID.ID) == 0 })
}

// Only an admin's node redeems: a node without a member list answers
// so, and a member's node does not let a stranger in at all.
func TestJoinWhereNoOneRedeems(t *testing.T) {
	nobody := startNode(t, newReplica(t), nil)
	_, err := joinAt(t, newReplica(t), nobody, "good")
	// Not a refusal of the invite: another peer of the code may redeem it.
	if !errors.Is(err, ErrNoInviter) || !strings.Contains(err.Error(), errCannotRedeem) {
		t.Fatalf("a node that cannot redeem: %v", err)
	}
	r := newReplica(t)
	member, _ := memberNode(t, r, false, nil, nil)
	_, err = joinAt(t, newReplica(t), member, "good")
	if !errors.Is(err, ErrNoInviter) || !strings.Contains(err.Error(), "only an admin's node takes new members") {
		t.Fatalf("a member's node: %v", err)
	}
	// Nobody listens there at all.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gone := peer.AddrInfo{ID: member.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}}
	_, err = Join(ctx, JoinConfig{Identity: newReplica(t).ID, Wiki: historyWiki(), Token: []byte("good"), Peers: []peer.AddrInfo{gone}})
	if !errors.Is(err, ErrNoInviter) || !strings.HasPrefix(err.Error(), "no inviter reachable at /ip4/127.0.0.1/tcp/1 (") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("no one listening: %v", err)
	}
}

// Join attempts are limited per address (and per peer): the sixth in a
// minute is refused, whatever its token, and says when to try again.
func TestJoinAttemptsAreRateLimited(t *testing.T) {
	admin := newReplica(t)
	nd, fm := memberNode(t, admin, true, nil, nil)
	for i := range joinAttempts {
		if _, err := joinAt(t, newReplica(t), nd, "guess"); !errors.Is(err, ErrInviteRefused) || !strings.Contains(err.Error(), "invite expired") {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	j := newReplica(t)
	_, err := joinAt(t, j, nd, "good")
	if !errors.Is(err, ErrInviteRefused) || !strings.Contains(err.Error(), "too many join attempts; try again in ") {
		t.Fatalf("attempt %d: %v", joinAttempts+1, err)
	}
	if fm.Access(j.ID.ID) != AccessStranger {
		t.Fatal("a joiner over the limit was added")
	}
}

func TestAttemptLimiter(t *testing.T) {
	l := newAttemptLimiter(2, time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	for _, step := range []struct {
		keys []string
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{[]string{"peer a", "ip 1"}, 0, true, 0},
		{[]string{"peer a", "ip 1"}, 10 * time.Second, true, 0},
		{[]string{"peer a", "ip 2"}, 20 * time.Second, false, 40 * time.Second}, // the peer's third
		{[]string{"peer b", "ip 1"}, 30 * time.Second, false, 30 * time.Second}, // the address's third
		{[]string{"peer b", "ip 2"}, 30 * time.Second, true, 0},                 // refused attempts did not count
		{[]string{"peer a", "ip 3"}, 61 * time.Second, true, 0},                 // the first left the window
		{[]string{"peer a", "ip 3"}, 62 * time.Second, false, 8 * time.Second},
	} {
		ok, wait := l.allow(step.keys, t0.Add(step.at))
		if ok != step.ok || wait != step.wait {
			t.Errorf("%v at %s: %v, %s; want %v, %s", step.keys, step.at, ok, wait, step.ok, step.wait)
		}
	}
}

// The redeemer's reason reaches the joiner as one line of bounded size.
func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"expired":                       "expired",
		"  expired\nsecond line":        "expired",
		strings.Repeat("é", 200):        strings.Repeat("é", 128),
		strings.Repeat("a", 300) + "\n": strings.Repeat("a", 256),
	} {
		if got := oneLine(in, maxJoinError); got != want {
			t.Errorf("oneLine(%.20q…) = %.20q… (%d bytes)", in, got, len(got))
		}
	}
}
