package test

import (
	"strings"
	"testing"
	"time"
)

// --confirm N returns once N other replicas hold the revision, and with
// too few reachable ones exits 3 with the revision kept.
func TestConfirmedWrites(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Ledger", "--body", "0\n")
	sa := a.StartServe()
	b, c := NewRepo(t), NewRepo(t)
	code := a.OK("invite")
	b.OK("join", code, "--name", "bob")
	c.OK("join", code, "--name", "carol")
	sa.Stop()
	sb, sc := b.StartServe(), c.StartServe()
	a.syncWith(sb.Addr())
	a.syncWith(sc.Addr()) // a now remembers both

	res := a.Run("edit", page, "--body", "1\n", "--confirm", "2", "--confirm-timeout", "10s")
	if res.Code != 0 || !strings.Contains(res.Stderr, "confirmed by 2 replicas") {
		t.Fatalf("--confirm 2 with two serving peers: %+v", res)
	}
	rev := strings.TrimSpace(res.Stdout)
	for _, r := range []*Repo{b, c} {
		var log []struct{ Rev string }
		r.JSON(&log, "log", page, "--json")
		if log[0].Rev != rev {
			t.Fatalf("a replica that confirmed does not hold the revision")
		}
	}

	sc.Stop()
	start := time.Now()
	res = a.Run("edit", page, "--body", "2\n", "--confirm", "2", "--confirm-timeout", "2s")
	if res.Code != 3 || !strings.Contains(res.Stderr, "kept locally") || !strings.Contains(res.Stderr, "only 1 of 2") {
		t.Fatalf("--confirm 2 with one serving peer: %+v", res)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatal("the timeout was not honoured")
	}
	kept := strings.TrimSpace(res.Stdout)
	if a.Show(page).Rev != kept {
		t.Fatal("the unconfirmed write was not kept")
	}

	// The wiki-wide default.
	a.OK("confirm", "1")
	if got := a.OK("confirm"); got != "1" {
		t.Fatalf("confirm = %q", got)
	}
	res = a.Run("edit", page, "--body", "3\n", "--confirm-timeout", "10s")
	if res.Code != 0 || !strings.Contains(res.Stderr, "confirmed by 1 replica:") {
		t.Fatalf("default confirm 1: %+v", res)
	}
	a.Fail(2, []string{"confirm", "many"}, "number")

	// More confirmations than replicas known: refused, not replicated, and
	// an explicit one keeps the write and says so at once.
	a.Fail(1, []string{"confirm", "99999999999"}, "more replicas than the 2 known")
	if got := a.OK("confirm"); got != "1" {
		t.Fatalf("confirm = %q after a refused setting", got)
	}
	res = a.Run("edit", page, "--body", "4\n", "--confirm", "5")
	if res.Code != 1 || !strings.Contains(res.Stderr, "kept locally") || !strings.Contains(res.Stderr, "than the 2 this one knows") {
		t.Fatalf("--confirm 5 with 2 replicas known: %+v", res)
	}
}
