package test

import (
	"strings"
	"testing"
	"time"
)

func TestResolverProgramResolves(t *testing.T) {
	r := InitRepo(t, "rita")
	r.OK("resolver", "add", "Journal*", `cat "$2" "$3"`)
	id := r.OK("new", "Journal 2026", "--body", "day 1\n")
	g := r.Show(id).Rev
	r.OK("edit", id, "--body", "day 1\nours\n")
	res := r.Run("edit", id, "--body", "day 1\ntheirs\n", "--parent", g)
	if res.Code != 0 {
		t.Fatalf("edit --parent: %+v", res)
	}
	p := r.Show(id)
	if p.Conflict {
		t.Fatalf("the resolver did not resolve: %+v", p)
	}
	// Sorted by CID, so either order; both sides are there.
	if !strings.Contains(p.Body, "ours\n") || !strings.Contains(p.Body, "theirs\n") {
		t.Fatalf("resolved body = %q", p.Body)
	}
	var log []struct {
		Message string
		Parents []string
		Auto    bool
	}
	r.JSON(&log, "log", id, "--json")
	if !strings.HasPrefix(log[0].Message, "resolved by") || len(log[0].Parents) != 2 || log[0].Auto {
		t.Fatalf("resolution revision = %+v", log[0])
	}
	// Pages that do not match are left alone.
	other := r.OK("new", "Other", "--body", "x\n")
	og := r.Show(other).Rev
	r.OK("edit", other, "--body", "y\n")
	r.OK("edit", other, "--body", "z\n", "--parent", og)
	if !r.Show(other).Conflict {
		t.Fatal("a resolver ran on a page its pattern does not match")
	}
	var rs []struct{ Pattern, Command string }
	r.JSON(&rs, "resolver", "list", "--json")
	if len(rs) != 1 || rs[0].Pattern != "Journal*" {
		t.Fatalf("resolver list = %+v", rs)
	}
	r.Fail(1, []string{"resolver", "rm", "Nope*"}, "no resolver")
	r.Fail(1, []string{"resolver", "add", "[", "cat"}, "bad title pattern")
}

func TestHangingResolverIsKilledAndTheConflictStays(t *testing.T) {
	r := InitRepo(t, "sam")
	r.OK("resolver", "add", "*", "sleep 30", "--timeout", "300ms")
	id := r.OK("new", "Notes", "--body", "a\n")
	g := r.Show(id).Rev
	r.OK("edit", id, "--body", "b\n")
	start := time.Now()
	res := r.Run("edit", id, "--body", "c\n", "--parent", g)
	if res.Code != 0 {
		t.Fatalf("edit --parent: %+v", res)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the hanging resolver was not killed at its limit (took %s)", took)
	}
	if !strings.Contains(res.Stderr, "resolver failed") || !strings.Contains(res.Stderr, "killed after") {
		t.Fatalf("no clear log line: %q", res.Stderr)
	}
	var cs []struct{ ID string }
	r.JSON(&cs, "conflicts", "--json")
	if len(cs) != 1 || cs[0].ID != id {
		t.Fatalf("conflicts = %+v", cs)
	}
}

// Two replicas with the same resolver resolve the same conflict to the
// same text, and their two resolutions converge without a new conflict.
func TestSameResolutionsConverge(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Journal", "--body", "start\n")
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")
	sa.Stop()
	for _, r := range []*Repo{a, b} {
		r.OK("resolver", "add", "Journal", `sort "$2" "$3" | uniq`)
	}
	a.OK("edit", page, "--body", "start\nalice\n")
	b.OK("edit", page, "--body", "start\nbob\n")
	sa = a.StartServe()
	b.syncWith(sa.Addr())
	var pa, pb Page
	Eventually(t, 10*time.Second, "both replicas to agree", func() bool {
		pa, pb = a.Show(page), b.Show(page)
		return !pa.Conflict && !pb.Conflict && pa.Rev == pb.Rev
	})
	if pa.Body != "alice\nbob\nstart\n" {
		t.Fatalf("resolved body = %q", pa.Body)
	}
}

// A resolution made by one replica's resolver reaches a replica that has
// none.
func TestResolverResultReplicates(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Journal", "--body", "start\n")
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")
	sa.Stop()
	a.OK("resolver", "add", "Journal", `sort "$2" "$3" | uniq`)
	a.OK("edit", page, "--body", "start\nalice\n")
	b.OK("edit", page, "--body", "start\nbob\n")
	sa = a.StartServe()
	Eventually(t, 10*time.Second, "the resolution to reach the replica without a resolver", func() bool {
		b.syncWith(sa.Addr())
		p := b.Show(page)
		return !p.Conflict && p.Body == "alice\nbob\nstart\n"
	})
	var log []struct{ Message, Author string }
	b.JSON(&log, "log", page, "--json")
	if !strings.HasPrefix(log[0].Message, "resolved by") {
		t.Fatalf("head on b = %+v", log[0])
	}
}
