package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type pagePolicyJSON struct {
	Policy, Override, Wiki string
}

// A person's resolution leaves the page to the wiki's default: after
// `policy lww`, later conflicts of the page are settled by lww.
func TestResolutionDoesNotPinThePolicy(t *testing.T) {
	a := InitRepo(t, "ada")
	a.OK("policy", "merge")
	id := a.OK("new", "S", "--body", "base\n")
	a.OK("edit", "S", "--body", "one\n")
	a.OK("edit", id, "--parent", id, "--body", "two\n")
	a.OK("resolve", "S", "--body", "r\n")
	a.OK("policy", "lww")
	checkFollowsLWW(t, a)
}

// An edit after an automatic merge does not pin the page either.
func TestEditAfterAutomaticMergeDoesNotPinThePolicy(t *testing.T) {
	a := InitRepo(t, "ada")
	a.OK("policy", "merge")
	id := a.OK("new", "S", "--body", "a\nb\nc\n")
	a.OK("edit", "S", "--body", "A\nb\nc\n")
	a.OK("edit", id, "--parent", id, "--body", "a\nb\nC\n")
	if p := a.Show("S"); p.Conflict {
		t.Fatal("the merge policy left a clean merge undone")
	}
	a.OK("edit", "S", "--body", "A\nb\nC\nd\n")
	a.OK("policy", "lww")
	checkFollowsLWW(t, a)
}

// oldBuildRepo is a copy of testdata/pinned-by-resolve, a repo written by
// a build from before sync version 4 (and before membership: a random
// wiki id and a shared key).
func oldBuildRepo(t *testing.T) *Repo {
	t.Helper()
	a := NewRepo(t)
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("testdata", "pinned-by-resolve")
	for _, f := range []string{"config.json", "identity.key", "wiki.key", "peerwiki.db"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.Dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// A repo pinned by the earlier version is read as meant once upgraded.
func TestUpgradeRepairsAPinnedPage(t *testing.T) {
	a := oldBuildRepo(t)
	before := a.OK("log", "S", "--json")
	checkFollowsLWW(t, a)
	if after := a.OK("log", "S", "--json"); !strings.Contains(after, firstRev(before)) {
		t.Fatal("the upgrade changed the page's existing revisions")
	}
	if res := a.Run("fsck"); res.Code != 0 {
		t.Fatalf("fsck after the upgrade: %+v", res)
	}
}

// firstRev is the newest revision id in log --json output.
func firstRev(logJSON string) string {
	i := strings.Index(logJSON, `"rev": "`)
	if i < 0 {
		return logJSON
	}
	rest := logJSON[i+len(`"rev": "`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// checkFollowsLWW checks that page S has no override and that a new
// conflict on it is settled by the wiki's lww.
func checkFollowsLWW(t *testing.T, a *Repo) {
	t.Helper()
	var pp pagePolicyJSON
	a.JSON(&pp, "policy", "S", "--json")
	if pp.Override != "" || pp.Wiki != "lww" {
		t.Fatalf("policy S = %+v, want no override under the wiki's lww", pp)
	}
	head := a.Show("S").Rev
	a.OK("edit", "S", "--body", "later one\n")
	a.OK("edit", "S", "--parent", head, "--body", "later two\n")
	if p := a.Show("S"); p.Conflict {
		t.Fatalf("a later conflict on S was not settled by lww: %+v", p)
	}
}
