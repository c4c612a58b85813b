package test

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// --confirm N returns once N other replicas hold the revision, and with
// too few answering exits 3 with the revision kept, saying what each
// replica did. The natural topology: Alice serves and invites; Bob and
// Carol join and serve (with her address, from the code, only); Alice
// never syncs with them first.
func TestConfirmedWrites(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Ledger", "--body", "0\n")
	sa := a.StartServe()
	repos, serves := inviteAndServe(t, a, "bob", "carol")
	b, c, sc := repos[0], repos[1], serves[1]

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

	// Carol's node hangs (stopped, its connection open): waited for, the
	// whole timeout, and named.
	if err := sc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res = a.Run("edit", page, "--body", "2\n", "--confirm", "2", "--confirm-timeout", "2s")
	sc.cmd.Process.Signal(syscall.SIGCONT)
	if res.Code != 3 || !strings.Contains(res.Stderr, "kept locally") || !strings.Contains(res.Stderr, "only 1 of 2") ||
		!strings.Contains(res.Stderr, "(bob (") || !strings.Contains(res.Stderr, "carol (") || !strings.Contains(res.Stderr, "did not answer within 2s") {
		t.Fatalf("--confirm 2 with one answering peer: %+v", res)
	}
	if d := time.Since(start); d < 2*time.Second || d > 8*time.Second {
		t.Fatalf("the 2s timeout took %s", d)
	}
	kept := strings.TrimSpace(res.Stdout)
	if a.Show(page).Rev != kept {
		t.Fatal("the unconfirmed write was not kept")
	}

	// Carol's node gone: said at once, never as a timeout.
	sc.Stop()
	start = time.Now()
	res = a.Run("edit", page, "--body", "2b\n", "--confirm", "2", "--confirm-timeout", "5s")
	if res.Code != 3 || !strings.Contains(res.Stderr, "only 1 of 2") || !strings.Contains(res.Stderr, "carol (") ||
		!strings.Contains(res.Stderr, "could not be reached") || strings.Contains(res.Stderr, "within") {
		t.Fatalf("--confirm 2 with one peer gone: %+v", res)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("a refused connection took %s to report", d)
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

	// Without a node on the repo, the same from a host of its own.
	sa.Stop()
	res = a.Run("edit", page, "--body", "5\n", "--confirm", "1", "--confirm-timeout", "10s")
	if res.Code != 0 || !strings.Contains(res.Stderr, "confirmed by 1 replica: bob (") {
		t.Fatalf("--confirm 1 without a node: %+v", res)
	}
}

// A --confirm or --confirm-timeout that cannot be met as written is a
// usage error before anything is written (a timeout was once looked at
// only after the commit, which it then reported as a usage error).
func TestBadConfirmFlagsWriteNothing(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Ledger", "--body", "0\n")
	for _, flags := range [][]string{{"--confirm", "-1"}, {"--confirm", "two"}, {"--confirm", "1", "--confirm-timeout", "-1s"}, {"--confirm", "1", "--confirm-timeout", "0"}} {
		for _, cmd := range [][]string{{"edit", page, "--body", "1\n"}, {"new", "Other", "--body", "x\n"}} {
			res := a.Run(append(cmd, flags...)...)
			if res.Code != 2 || !strings.Contains(res.Stderr, "flag:") || strings.Count(strings.TrimSpace(res.Stderr), "\n") > 1 {
				t.Errorf("%v %v: exit %d, %q", cmd[0], flags, res.Code, res.Stderr)
			}
		}
	}
	if body := a.Show(page).Body; body != "0\n" {
		t.Fatalf("a refused edit was written: %q", body)
	}
	if res := a.Run("show", "Other"); res.Code == 0 {
		t.Fatal("a refused new page was written")
	}
}
