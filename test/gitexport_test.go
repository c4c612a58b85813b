package test

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func revisionCount(t *testing.T, r *Repo) int {
	t.Helper()
	var st struct{ Revisions int }
	r.JSON(&st, "status", "--json")
	return st.Revisions
}

func commitCount(t *testing.T, dir string) int {
	t.Helper()
	n, err := strconv.Atoi(gitIn(t, dir, "rev-list", "--all", "--count"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGitExport: one commit per revision, authors and messages kept, a
// rename followed by `git log --follow`, a resolution as a merge commit, an
// open conflict as a branch, and a second run adding only what is new.
func TestGitExport(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on PATH (.ci/run installs it)")
	}
	a := carHistory(t) // edits, a rename (Ideas → Plans), a deletion, a resolution, an automatic merge
	open := a.OK("new", "Open question", "--body", "who decides?\n")
	first := a.Show(open).Rev
	a.OK("edit", open, "--body", "alice decides\n", "-m", "alice's answer")
	a.OK("edit", open, "--body", "bob decides\n", "--parent", first, "-m", "bob's answer")

	dir := filepath.Join(t.TempDir(), "wiki.git")
	out := a.OK("export", "--git", dir)
	if !strings.Contains(out, "1 conflict branch") {
		t.Fatalf("export --git printed %q", out)
	}
	gitIn(t, dir, "fsck", "--strict", "--no-dangling")
	if got, want := commitCount(t, dir), revisionCount(t, a); got != want {
		t.Fatalf("%d commits for %d revisions", got, want)
	}
	follow := gitIn(t, dir, "log", "--follow", "--format=%s", "--", "Plans.md")
	if !strings.Contains(follow, "Create Ideas") {
		t.Fatalf("git log --follow Plans.md does not reach the page's creation as Ideas:\n%s", follow)
	}
	if !strings.Contains(gitIn(t, dir, "log", "-1", "--format=%an %ae", "--", "Home.md"), "alice ") {
		t.Fatal("the author's name is not kept")
	}
	if merges, _ := strconv.Atoi(gitIn(t, dir, "rev-list", "--merges", "--count", "main")); merges < 2 {
		t.Fatalf("%d merge commits on main, want the resolution and the automatic merge", merges)
	}
	branches := gitIn(t, dir, "branch", "--list", "conflict/*", "--format=%(refname:short)")
	if !strings.HasPrefix(branches, "conflict/Open-question-") || strings.Contains(branches, "\n") {
		t.Fatalf("conflict branches: %q", branches)
	}
	if got := gitIn(t, dir, "show", "main:Home.md"); got != strings.TrimSpace(a.Show("Home").Body) {
		t.Fatalf("main's Home.md is %q", got)
	}
	if _, err := exec.Command("git", "-C", dir, "cat-file", "-e", "main:Scratch.md").Output(); err == nil {
		t.Fatal("a deleted page is still a file on main")
	}
	files := gitIn(t, dir, "ls-files")
	if files != strings.Join([]string{"Contested.md", "Home.md", "Merged.md", "Open question.md", "Plans.md"}, "\n") {
		t.Fatalf("files on main:\n%s", files)
	}

	// Again after new edits: exactly those commits, and the conflict's
	// branch goes once it is resolved.
	before := commitCount(t, dir)
	a.OK("edit", "Home", "--body", "Welcome, again.\n")
	a.OK("resolve", open, "--body", "we decide together\n")
	if out := a.OK("export", "--git", dir); !strings.HasPrefix(out, "exported 2 new commits") {
		t.Fatalf("second export printed %q", out)
	}
	if got := commitCount(t, dir); got != before+2 || got != revisionCount(t, a) {
		t.Fatalf("%d commits after re-export, want %d", got, before+2)
	}
	if b := gitIn(t, dir, "branch", "--list", "conflict/*"); b != "" {
		t.Fatalf("a resolved conflict's branch stays: %q", b)
	}
	if out := a.OK("export", "--git", dir); !strings.HasPrefix(out, "exported 0 new commits") {
		t.Fatalf("a third export with nothing new printed %q", out)
	}
	gitIn(t, dir, "fsck", "--strict", "--no-dangling")

	// Another wiki's export is not overwritten.
	other := InitRepo(t, "eve")
	other.Fail(1, []string{"export", "--git", dir}, "not an export of this wiki")
}
