package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forkTitle makes the seed example: page "A", renamed to "B" by one replica
// and to "C" by another that had not seen the first rename.
func forkTitle(t *testing.T, r *Repo) (id, genesis string) {
	t.Helper()
	id = r.OK("new", "A", "--body", "line 1\nline 2\nline 3\nline 4\nline 5\n")
	genesis = r.Show(id).Rev
	r.OK("edit", id, "--title", "B", "--body", "line 1 (b)\nline 2\nline 3\nline 4\nline 5\n")
	r.OK("edit", id, "--title", "C", "--body", "line 1\nline 2\nline 3\nline 4\nline 5 (c)\n", "--parent", genesis)
	return id, genesis
}

func TestManualPolicyKeepsTheConflict(t *testing.T) {
	r := InitRepo(t, "ivan")
	id, _ := forkTitle(t, r)
	p := r.Show(id)
	if !p.Conflict || p.Policy != "manual" {
		t.Fatalf("show = %+v", p)
	}
	var res struct{ Merged, Conflicts []string }
	r.JSON(&res, "merge", id, "--auto", "--json")
	if len(res.Merged) != 0 || len(res.Conflicts) != 1 {
		t.Fatalf("merge --auto under manual = %+v", res)
	}
	r.Fail(1, []string{"resolve", id, "--take", "bafyreiaaaaaaaa"}, "no revision")
	head := p.Heads[1]
	rev := r.OK("resolve", id, "--take", head)
	after := r.Show(id)
	if after.Conflict || len(after.Heads) != 1 || after.Rev != rev {
		t.Fatalf("after resolve: %+v", after)
	}
	var log []struct {
		Rev     string
		Parents []string
	}
	r.JSON(&log, "log", id, "--json")
	if len(log[0].Parents) != 2 {
		t.Fatalf("resolution has parents %v, want both heads", log[0].Parents)
	}
	r.Fail(1, []string{"resolve", id, "--title", "X"}, "no conflict")
}

func TestLWWConvergesToTheLaterTitle(t *testing.T) {
	r := InitRepo(t, "judy")
	r.OK("policy", "lww")
	id, _ := forkTitle(t, r)
	p := r.Show(id)
	if p.Conflict || p.Title != "C" || p.Policy != "lww" {
		t.Fatalf("under lww: %+v", p)
	}
	var log []struct {
		Title   string
		Auto    bool
		Parents []string
	}
	r.JSON(&log, "log", id, "--json")
	if !log[0].Auto || len(log[0].Parents) != 2 {
		t.Fatalf("no automatic merge on top: %+v", log[0])
	}
	titles := map[string]bool{}
	for _, e := range log {
		titles[e.Title] = true
	}
	if !titles["B"] || !titles["C"] {
		t.Fatalf("a losing title left history: %v", titles)
	}
	if out := r.OK("fsck"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("fsck: %s", out)
	}
}

func TestMergePolicyMergesBodiesAndLeavesTheTitle(t *testing.T) {
	r := InitRepo(t, "ken")
	r.OK("policy", "merge")
	id, _ := forkTitle(t, r)
	p := r.Show(id)
	// The title conflict stays for a person; nothing was auto-merged.
	if !p.Conflict {
		t.Fatalf("title conflict merged away: %+v", p)
	}
	var cs []struct{ Differs []string }
	r.JSON(&cs, "conflicts", "--json")
	if len(cs) != 1 || !strings.Contains(strings.Join(cs[0].Differs, ","), "title") {
		t.Fatalf("conflicts = %+v", cs)
	}
	r.OK("resolve", id, "--title", "D", "--body", "line 1 (b)\nline 2\nline 3\nline 4\nline 5 (c)\n")
	if p := r.Show(id); p.Conflict || p.Title != "D" {
		t.Fatalf("after resolve: %+v", p)
	}

	// Body-only divergence under merge: merged cleanly, automatically.
	id2 := r.OK("new", "Notes", "--body", "a\nb\nc\nd\ne\n")
	g := r.Show(id2).Rev
	r.OK("edit", id2, "--body", "A\nb\nc\nd\ne\n")
	r.OK("edit", id2, "--body", "a\nb\nc\nd\nE\n", "--parent", g)
	if p := r.Show(id2); p.Conflict || p.Body != "A\nb\nc\nd\nE\n" || p.Title != "Notes" {
		t.Fatalf("clean merge = %+v", p)
	}
}

func TestUnionKeepsBothSides(t *testing.T) {
	r := InitRepo(t, "leo")
	id := r.OK("new", "Journal", "--body", "day 1\n")
	r.OK("policy", id, "union")
	g := r.Show(id).Rev
	r.OK("edit", id, "--body", "day 1\nalice was here\n")
	r.OK("edit", id, "--body", "day 1\nbob was here\n", "--parent", g)
	p := r.Show(id)
	if p.Conflict || !strings.Contains(p.Body, "alice was here\n") || !strings.Contains(p.Body, "bob was here\n") {
		t.Fatalf("union = %+v", p)
	}
	var pol struct{ Policy, Override, Wiki string }
	r.JSON(&pol, "policy", id, "--json")
	if pol.Policy != "union" || pol.Override != "union" || pol.Wiki != "manual" {
		t.Fatalf("policy = %+v", pol)
	}
	r.Fail(1, []string{"policy", id, "sometimes"}, "unknown policy")
	r.Fail(1, []string{"policy", id, "union"}, "already")
}

func TestPolicyChangeMergesExistingConflicts(t *testing.T) {
	r := InitRepo(t, "mia")
	id, _ := forkTitle(t, r)
	if !r.Show(id).Conflict {
		t.Fatal("no conflict to start with")
	}
	r.OK("policy", id, "lww")
	if p := r.Show(id); p.Conflict || p.Title != "C" {
		t.Fatalf("after policy lww: %+v", p)
	}
}

// Two replicas that auto-merge the same heads independently make the
// same block.
func TestAutoMergeIsTheSameBlockEverywhere(t *testing.T) {
	one := InitRepo(t, "ned")
	id, _ := forkTitle(t, one)
	two := &Repo{T: t, Dir: filepath.Join(t.TempDir(), "copy")}
	if out, err := exec.Command("cp", "-a", one.Dir, two.Dir).CombinedOutput(); err != nil {
		t.Fatalf("copy repo: %v %s", err, out)
	}
	for _, r := range []*Repo{one, two} {
		r.OK("policy", "lww")
	}
	a, b := one.Show(id), two.Show(id)
	if a.Conflict || b.Conflict || a.Rev != b.Rev {
		t.Fatalf("replicas merged differently: %s vs %s", a.Rev, b.Rev)
	}
	os.RemoveAll(two.Dir)
}

func TestMergeFileLikeGit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	base := write("base", "a\nb\nc\n")
	ours := write("ours", "A\nb\nc\n")
	theirs := write("theirs", "a\nb\nC\n")
	r := NewRepo(t)
	res := r.Run("merge-file", ours, base, theirs)
	if res.Code != 0 || res.Stdout != "A\nb\nC\n" {
		t.Fatalf("clean merge-file = %+v", res)
	}
	theirs2 := write("theirs2", "X\nb\nc\n")
	res = r.Run("merge-file", ours, base, theirs2)
	if res.Code != 1 || !strings.Contains(res.Stdout, "<<<<<<< "+ours) || !strings.Contains(res.Stdout, ">>>>>>> "+theirs2) {
		t.Fatalf("conflicted merge-file = %+v", res)
	}
	if git, err := exec.LookPath("git"); err == nil {
		out, _ := exec.Command(git, "merge-file", "-p", ours, base, theirs2).Output()
		if string(out) != res.Stdout {
			t.Fatalf("differs from git:\n%s\nvs\n%s", res.Stdout, out)
		}
	}
	res = r.Run("merge-file", "--diff3", ours, base, theirs2)
	if res.Code != 1 || !strings.Contains(res.Stdout, "||||||| "+base) {
		t.Fatalf("--diff3 = %+v", res)
	}
	bin := write("bin", "a\x00b\n")
	if res := r.Run("merge-file", ours, base, bin); res.Code != 255 || !strings.Contains(res.Stderr, "binary") {
		t.Fatalf("binary input = %+v", res)
	}
	bad := write("bad", "a\xffb\n")
	if res := r.Run("merge-file", bad, base, theirs); res.Code != 255 || !strings.Contains(res.Stderr, "UTF-8") {
		t.Fatalf("invalid UTF-8 = %+v", res)
	}
	if res := r.Run("merge-file", ours, base); res.Code != 255 {
		t.Fatalf("two arguments = %+v", res)
	}
}

// Heads that agree are one version: a page whose only divergence is the
// same change made twice is not a conflict, and plain `edit` joins the
// heads; with a third, different head, `show` prints the agreeing ones
// once and `conflicts` lists the page.
func TestAgreeingHeadsAreOneVersion(t *testing.T) {
	r := InitRepo(t, "judy")
	id := r.OK("new", "Fixes", "--body", "tpyo\n")
	r.OK("edit", id, "--body", "typo\n", "--parent", id, "-m", "fixed here")
	r.OK("edit", id, "--body", "typo\n", "--parent", id, "-m", "and fixed there")
	p := r.Show(id)
	if p.Conflict || len(p.Heads) != 2 {
		t.Fatalf("two heads with the same fix: %+v, want 2 heads and no conflict", p)
	}
	var cs []struct{ ID string }
	r.JSON(&cs, "conflicts", "--json")
	if len(cs) != 0 {
		t.Fatalf("conflicts = %+v, want none", cs)
	}
	r.OK("edit", id, "--body", "typo fixed, then more\n")
	if p := r.Show(id); p.Conflict || len(p.Heads) != 1 {
		t.Fatalf("after a plain edit: %+v, want one head", p)
	}
	var log []struct{ Parents []string }
	r.JSON(&log, "log", id, "--json")
	if len(log[0].Parents) != 2 {
		t.Fatalf("the edit has parents %v, want both agreeing heads", log[0].Parents)
	}

	// Two agreeing heads and a different one: a conflict of two versions.
	r.OK("edit", id, "--body", "x\n", "--parent", log[1].Parents[0], "-m", "one")
	r.OK("edit", id, "--body", "x\n", "--parent", log[1].Parents[0], "-m", "two")
	human := r.OK("show", id)
	for _, want := range []string{"CONFLICT: 3 heads", "version 1 of 2", "version 2 of 2", "(the same in rev "} {
		if !strings.Contains(human, want) {
			t.Fatalf("show lacks %q:\n%s", want, human)
		}
	}
	r.JSON(&cs, "conflicts", "--json")
	if len(cs) != 1 || cs[0].ID != id {
		t.Fatalf("conflicts = %+v, want the page", cs)
	}
}
