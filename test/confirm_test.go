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
	if res.Code != 0 || !strings.Contains(res.Stderr, "confirmed by 1 replicas") {
		t.Fatalf("default confirm 1: %+v", res)
	}
	a.Fail(2, []string{"confirm", "many"}, "number")
}
