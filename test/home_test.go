package test

import (
	"strings"
	"testing"
	"time"
)

// A page's home replica wins its conflicts on every replica, even against
// a later edit that last-writer-wins would have picked; the other edit
// stays in history.
func TestPageHomeDecidesEverywhere(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Doc", "--body", "base\n")
	a.OK("policy", page, "home")
	var pol struct{ Policy string }
	a.JSON(&pol, "policy", page, "--json")
	if !strings.HasPrefix(pol.Policy, "home:12D3") {
		t.Fatalf("policy = %q", pol.Policy)
	}
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")
	sa.Stop()

	// Concurrent edits while apart; bob's is the later one.
	a.OK("edit", page, "--body", "alice's version\n")
	time.Sleep(5 * time.Millisecond)
	bobRev := b.OK("edit", page, "--body", "bob's version\n")

	sa = a.StartServe()
	b.syncWith(sa.Addr())
	var pa, pb Page
	Eventually(t, 10*time.Second, "both replicas to settle the conflict", func() bool {
		pa, pb = a.Show(page), b.Show(page)
		return !pa.Conflict && !pb.Conflict && pa.Rev == pb.Rev
	})
	if pa.Body != "alice's version\n" || pb.Body != "alice's version\n" {
		t.Fatalf("home did not win: a has %q, b has %q", pa.Body, pb.Body)
	}
	var log []struct{ Rev string }
	b.JSON(&log, "log", page, "--json")
	found := false
	for _, e := range log {
		found = found || e.Rev == bobRev
	}
	if !found {
		t.Fatal("bob's losing edit is not in history")
	}
	// A wiki-wide home makes no sense and is refused.
	a.Fail(2, []string{"policy", "home"}, "page's policy")
	a.Fail(1, []string{"policy", page, "home:notapeer"}, "not a peer id")
}

// Replica priority decides a conflict the same way on every replica: the
// higher-priority author's edit wins even when it is the earlier one.
func TestReplicaPriorityDecidesEverywhere(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Plan", "--body", "base\n")
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")
	var ida, idb struct {
		PeerID string `json:"peer_id"`
	}
	a.JSON(&ida, "id", "--json")
	b.JSON(&idb, "id", "--json")
	a.OK("priority", idb.PeerID, ida.PeerID) // bob first
	a.OK("policy", page, "priority")
	b.syncWith(sa.Addr())
	sa.Stop()
	b.OK("edit", page, "--body", "bob's plan\n")
	time.Sleep(5 * time.Millisecond)
	a.OK("edit", page, "--body", "alice's later plan\n")
	sa = a.StartServe()
	b.syncWith(sa.Addr())
	var pa, pb Page
	Eventually(t, 10*time.Second, "both replicas to settle the conflict", func() bool {
		pa, pb = a.Show(page), b.Show(page)
		return !pa.Conflict && !pb.Conflict && pa.Rev == pb.Rev
	})
	if pa.Body != "bob's plan\n" {
		t.Fatalf("priority did not win: %q", pa.Body)
	}
	var pri struct{ Priority []string }
	b.JSON(&pri, "priority", "--json")
	if len(pri.Priority) != 2 || pri.Priority[0] != idb.PeerID {
		t.Fatalf("priority list did not replicate: %+v", pri)
	}
	a.Fail(1, []string{"priority", "not-a-peer"}, "not a peer id")
}
