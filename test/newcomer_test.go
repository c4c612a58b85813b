package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 16, "A newcomer's first hour": what someone used to git, gh and
// lazygit expects on the first day.

// TestLogGraphJoinsLeftOfAFork: a page with two forks, one of them merged;
// the last join was drawn " /" instead of "|/".
func TestLogGraphJoinsLeftOfAFork(t *testing.T) {
	r := InitRepo(t, "ada")
	id := r.OK("new", "A", "--body", "base\n")
	r.OK("edit", id, "--body", "one\n", "-m", "A")
	r.OK("edit", id, "--parent", id, "--body", "two\n", "-m", "B")
	r.OK("resolve", id, "--body", "merged\n", "-m", "M")
	r.OK("edit", id, "--parent", id, "--body", "three\n", "-m", "C")
	graph := r.OK("log", id, "--graph")
	lines := strings.Split(graph, "\n")
	// Which fork takes which column depends on the revisions' ids; in
	// every layout, each line of descent runs down the left edge to the
	// genesis, and the last fork joins it with "|/".
	for _, l := range lines {
		if !strings.HasPrefix(l, "*") && !strings.HasPrefix(l, "|") {
			t.Fatalf("a line of the graph leaves the left column:\n%s", graph)
		}
	}
	if n := len(lines); n < 2 || lines[n-2] != "|/" || !strings.HasPrefix(lines[n-1], "* ") || strings.Count(graph, "* ") != 5 {
		t.Fatalf("graph:\n%s", graph)
	}
}

// TestDiffOfTheFinalNewline: only the final line break changed.
func TestDiffOfTheFinalNewline(t *testing.T) {
	r := InitRepo(t, "ada")
	r.OK("new", "A", "--body", "one\ntwo")
	r.OK("edit", "A", "--body", "one\ntwo\n")
	if out := r.OK("diff", "A"); !strings.Contains(out, "-two\n\\ No newline at end of file\n+two") {
		t.Fatalf("diff:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	r := NewRepo(t)
	human := r.OK("version")
	if flag := r.OK("--version"); flag != human {
		t.Fatalf("--version %q, version %q", flag, human)
	}
	for _, want := range []string{"peerwiki ", "revision", "sync version", "go1."} {
		if !strings.Contains(human, want) {
			t.Fatalf("version lacks %q:\n%s", want, human)
		}
	}
	var v struct {
		Version     string `json:"version"`
		Revision    string `json:"revision"`
		SyncVersion int    `json:"sync_version"`
		Go          string `json:"go"`
	}
	r.JSON(&v, "version", "--json")
	// The tests' GOFLAGS may carry -buildvcs=false: "unknown" is an answer.
	if v.Version == "" || v.Revision == "" || v.SyncVersion < 1 || !strings.HasPrefix(v.Go, "go1.") {
		t.Fatalf("version --json = %+v", v)
	}
	if !strings.Contains(human, fmt.Sprintf("sync version  %d", v.SyncVersion)) {
		t.Fatalf("human and JSON disagree:\n%s\n%+v", human, v)
	}
}

func TestDidYouMean(t *testing.T) {
	r := InitRepo(t, "ada")
	for typo, want := range map[string]string{"shwo": "did you mean show?", "serach": "did you mean search?", "lgo": "did you mean log?"} {
		res := r.Fail(2, []string{typo, "x"}, `unknown command "`+typo+`"`, want)
		if strings.Count(res.Stderr, "peerwiki: ") != 1 {
			t.Fatalf("%s: %q", typo, res.Stderr)
		}
	}
	r.Fail(2, []string{"xyzzy"}, `unknown command "xyzzy"`)
}

// complete runs cobra's completion entry point and returns the candidates
// (without their descriptions).
func complete(t *testing.T, r *Repo, args ...string) []string {
	t.Helper()
	start := time.Now()
	out := r.OK(append([]string{"__complete"}, args...)...)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("completion took %s", d)
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		c, _, _ := strings.Cut(l, "\t")
		got = append(got, c)
	}
	return got
}

func TestCompletion(t *testing.T) {
	r := InitRepo(t, "ada")
	id := r.OK("new", "Note 2", "--body", "a\n")
	r.OK("new", "Note 10", "--body", "b\n")
	r.OK("new", "Other", "--body", "c\n")
	second := r.OK("edit", "Note 2", "--body", "a2\n")

	if got := complete(t, r, "show", "no"); strings.Join(got, "|") != "Note 2|Note 10" {
		t.Fatalf("show no<TAB>: %q", got)
	}
	if got := complete(t, r, "diff", id[:12]); len(got) != 1 || got[0] != id {
		t.Fatalf("diff %s<TAB>: %q", id[:12], got)
	}
	if got := complete(t, r, "show", "Note 2", "--rev", second[:14]); len(got) != 1 || got[0] != second {
		t.Fatalf("--rev prefix: %q, want %s", got, second)
	}
	if got := complete(t, r, "edit", "Note 2", "--parent", ""); len(got) != 2 || got[0] != second || got[1] != id {
		t.Fatalf("--parent: %q", got)
	}
	if got := complete(t, r, "policy", "Note 2", "l"); strings.Join(got, "|") != "lww" {
		t.Fatalf("policy PAGE l<TAB>: %q", got)
	}
	// Reading only: no node ran on the repo.
	if _, err := os.Stat(filepath.Join(r.Dir, "serve.json")); err == nil {
		t.Fatal("completion left a serve.json")
	}
}

func TestNewRefusesATakenTitle(t *testing.T) {
	r := InitRepo(t, "ada")
	id := r.OK("new", "Home", "--body", "first\n")
	r.Fail(1, []string{"new", "home", "--body", "second\n"}, id, "--duplicate")
	other := r.OK("new", "home", "--body", "second\n", "--duplicate")
	if other == id || !strings.HasPrefix(other, "bafy") {
		t.Fatalf("--duplicate printed %q", other)
	}
	// A deleted page's title is free again.
	r.OK("rm", id)
	r.OK("rm", other)
	r.OK("new", "Home", "--body", "third\n")
}

func TestRenameUpdatesLinks(t *testing.T) {
	r := InitRepo(t, "ada")
	page := r.OK("new", "Ideas", "--body", "x\n")
	r.OK("new", "Home", "--body", "See [[Ideas]] and [[ideas|them]].\n")
	r.OK("new", "Journal", "--body", "Today: [[Ideas]]\n")
	res := r.Run("edit", "Ideas", "--title", "Plans")
	if res.Code != 0 || !strings.Contains(res.Stderr, `2 pages link to "Ideas" (Home, Journal)`) || !strings.Contains(res.Stderr, "--update-links") {
		t.Fatalf("rename: %+v", res)
	}
	out := r.OK("edit", "Plans", "--update-links")
	if !strings.Contains(out, "in 2 pages: Home, Journal") {
		t.Fatalf("--update-links: %q", out)
	}
	if b := r.Show("Home").Body; b != "See [[Plans]] and [[Plans|them]].\n" {
		t.Fatalf("Home: %q", b)
	}
	if p := r.Show("Plans"); len(p.Backlinks) != 2 {
		t.Fatalf("backlinks after the update: %+v", p.Backlinks)
	}
	// Both at once: one revision of each linking page.
	res = r.Run("edit", page, "--title", "Projects", "--update-links")
	if res.Code != 0 || !strings.Contains(res.Stderr, "in 2 pages") || strings.Count(res.Stdout, "\n") != 1 {
		t.Fatalf("rename --update-links: %+v", res)
	}
	var log []struct{ Message string }
	r.JSON(&log, "log", "Journal", "--json")
	if len(log) != 3 || !strings.Contains(log[0].Message, `"Plans"`) || !strings.Contains(log[0].Message, `"Projects"`) {
		t.Fatalf("Journal's log: %+v", log)
	}
	r.Fail(1, []string{"edit", "Journal", "--update-links"}, "never renamed")
}

func TestRedLinks(t *testing.T) {
	r := InitRepo(t, "ada")
	r.OK("new", "Home", "--body", "See [[Ideas]] and [[Someday]].\n")
	r.OK("new", "Ideas", "--body", "x\n")
	if out := r.OK("show", "Home"); !strings.Contains(out, "Links: Ideas, Someday (no page yet)") {
		t.Fatalf("show:\n%s", out)
	}
	var p struct {
		MissingLinks []string `json:"missing_links"`
	}
	r.JSON(&p, "show", "Home", "--json")
	if strings.Join(p.MissingLinks, ",") != "Someday" {
		t.Fatalf("missing_links %q", p.MissingLinks)
	}
}

func TestListSortsTitlesNaturally(t *testing.T) {
	r := InitRepo(t, "ada")
	for _, title := range []string{"Note 10", "Note 2", "note 1", "Alpha"} {
		r.OK("new", title)
	}
	var got []string
	for _, p := range r.List() {
		got = append(got, p.Title)
	}
	if strings.Join(got, "|") != "Alpha|note 1|Note 2|Note 10" {
		t.Fatalf("list: %q", got)
	}
}

func TestPolicySaysWhatItDid(t *testing.T) {
	r := InitRepo(t, "ada")
	r.Fail(1, []string{"policy", "bogus"}, "unknown policy bogus (manual, merge, union, lww, priority, home)")
	r.Fail(1, []string{"policy", "Nope", "bogus"}, "unknown policy bogus (manual, merge, union, lww, priority, home)")
	// One conflict a merge settles (bodies apart), one it leaves (titles).
	body := r.OK("new", "Body", "--body", "1\n2\n3\n")
	r.OK("edit", body, "--body", "one\n2\n3\n")
	r.OK("edit", body, "--parent", body, "--body", "1\n2\nthree\n")
	title := r.OK("new", "Title", "--body", "x\n")
	r.OK("edit", title, "--title", "Title A")
	r.OK("edit", title, "--parent", title, "--title", "Title B")
	out := r.OK("policy", "merge")
	for _, want := range []string{"merged   " + body[:16] + "  Body", "conflict " + title[:16], "settled 1 conflict; 1 conflict left for a person"} {
		if !strings.Contains(out, want) {
			t.Fatalf("policy merge lacks %q:\n%s", want, out)
		}
	}
}

func TestSearchSaysWhereItStopped(t *testing.T) {
	r := InitRepo(t, "ada")
	for i := range 3 {
		r.OK("new", fmt.Sprintf("Page %d", i), "--body", "apple\n")
	}
	if out := r.OK("search", "apple", "--limit", "2"); strings.Count(out, "bafy") != 2 || !strings.Contains(out, "stopped at 2 matches") {
		t.Fatalf("search --limit 2:\n%s", out)
	}
	if out := r.OK("search", "apple"); strings.Count(out, "bafy") != 3 || strings.Contains(out, "stopped") {
		t.Fatalf("search:\n%s", out)
	}
	var hits []json.RawMessage
	r.JSON(&hits, "search", "apple", "--limit", "1", "--json")
	if len(hits) != 1 {
		t.Fatalf("--json --limit 1: %d hits", len(hits))
	}
	r.Fail(2, []string{"search", "apple", "--limit", "0"}, "--limit")
}

func TestCountsAgreeWithTheirNouns(t *testing.T) {
	r := InitRepo(t, "ada")
	r.OK("new", "Only", "--body", "x\n")
	if out := r.OK("fsck"); !strings.Contains(out, "pages verified (2 system pages (settings, members) among them)") {
		t.Fatalf("fsck: %q", out)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if out := r.OK("export", dir); !strings.HasPrefix(out, "exported 1 page to") {
		t.Fatalf("export: %q", out)
	}
	if res := r.Run("merge-file", "a"); !strings.Contains(res.Stderr, "got 1 argument") {
		t.Fatalf("merge-file: %q", res.Stderr)
	}
}

// pagerScript is a $PAGER that notes it ran, then shows what it got.
func pagerScript(t *testing.T) (script, mark string) {
	t.Helper()
	dir := t.TempDir()
	mark = filepath.Join(dir, "pager-ran")
	script = filepath.Join(dir, "pager.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho ran > '"+mark+"'\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, mark
}

func TestLongOutputGoesThroughThePager(t *testing.T) {
	r := InitRepo(t, "ada")
	r.OK("new", "Long", "--body", strings.Repeat("a line of the page\n", 200))
	script, mark := pagerScript(t)
	r.Env = append(r.Env, "PAGER="+script)

	// Piped: never paged.
	if out := r.OK("show", "Long"); !strings.Contains(out, "a line of the page") {
		t.Fatalf("show piped: %q", out)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("the pager ran with standard output piped")
	}
	// On a terminal: paged, unless --no-pager.
	u := startTUI(t, r, "--no-pager", "show", "Long")
	u.waitFor(5*time.Second, "[exited 0]")
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("the pager ran with --no-pager")
	}
	u = startTUI(t, r, "show", "Long")
	u.waitFor(5*time.Second, "a line of the page", "[exited 0]")
	if _, err := os.Stat(mark); err != nil {
		t.Fatal("show on a terminal did not run $PAGER")
	}
}

// TestMergePrintsTheRevision: after s, `merge PAGE` prints the revision
// it made, as `resolve` does.
func TestMergePrintsTheRevision(t *testing.T) {
	r := InitRepo(t, "ada")
	id := r.OK("new", "Plan", "--body", "1\n2\n3\n")
	r.OK("edit", id, "--body", "1\nA\n3\n")
	r.OK("edit", id, "--parent", id, "--body", "1\nB\n3\n")
	u := startTUI(t, r, "merge", "Plan")
	u.waitFor(5*time.Second, "conflict 1 of 1", "o take ours")
	u.keys("o")
	u.waitFor(2*time.Second, "1 of 1 decided")
	u.keys("s")
	screen := u.waitFor(5*time.Second, "[exited 0]")
	head := r.Show(id).Heads[0]
	if !strings.Contains(screen, head) {
		t.Fatalf("merge did not print the new revision %s:\n%s", head, screen)
	}
}
