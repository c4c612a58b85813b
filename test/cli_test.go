package test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUserJourney(t *testing.T) {
	r := InitRepo(t, "alice")
	home := r.OK("new", "Home", "--body", "Welcome. See [[Ideas]].\n")
	if !strings.HasPrefix(home, "bafyrei") {
		t.Fatalf("new printed %q, want a page id", home)
	}
	ideas := r.OK("new", "Ideas", "-m", "first")
	r.RunIn("one\ntwo\n", "edit", "Ideas", "-")
	if p := r.Show("Ideas"); p.Body != "one\ntwo\n" || p.ID != ideas || len(p.Heads) != 1 || p.Conflict {
		t.Fatalf("show Ideas = %+v", p)
	}
	file := filepath.Join(t.TempDir(), "body.md")
	os.WriteFile(file, []byte("from a file\n"), 0o644)
	r.OK("edit", home, "--file", file, "--title", "Start", "-m", "rename")
	p := r.Show("start")
	if p.Title != "Start" || p.Body != "from a file\n" {
		t.Fatalf("show Start = %+v", p)
	}
	var list []Page
	r.JSON(&list, "list", "--json")
	if len(list) != 2 || list[0].Title != "Ideas" || list[1].Title != "Start" || list[0].Policy == "" || list[0].Updated == "" {
		t.Fatalf("list = %+v", list)
	}
	var log []struct {
		Rev, Title, Author, Name, Time, Message string
		Parents                                 []string
		Deleted, Auto                           bool
	}
	r.JSON(&log, "log", "Start", "--json")
	if len(log) != 2 || log[0].Message != "rename" || log[0].Name != "alice" || len(log[0].Parents) != 1 || log[0].Parents[0] != log[1].Rev || log[0].Auto {
		t.Fatalf("log = %+v", log)
	}
	var hits []struct{ ID, Title, Snippet string }
	r.JSON(&hits, "search", "two", "--json")
	if len(hits) != 1 || hits[0].ID != ideas {
		t.Fatalf("search = %+v", hits)
	}
	var st struct {
		Wiki            string `json:"wiki"`
		Peer            string `json:"peer_id"`
		Pages           int
		Revisions       int
		Conflicts       []string
		DuplicateTitles []string `json:"duplicate_titles"`
	}
	r.JSON(&st, "status", "--json")
	if st.Pages != 2 || st.Revisions != 4 || st.Peer == "" || st.Conflicts == nil || st.DuplicateTitles == nil {
		t.Fatalf("status = %+v", st)
	}
	var id struct {
		PeerID string   `json:"peer_id"`
		Addrs  []string `json:"addrs"`
	}
	r.JSON(&id, "id", "--json")
	if id.PeerID != st.Peer || id.Addrs == nil {
		t.Fatalf("id = %+v", id)
	}
	r.OK("rm", "Ideas")
	r.JSON(&list, "list", "--json")
	if len(list) != 1 {
		t.Fatalf("list after rm = %+v", list)
	}
	if out := r.OK("fsck"); !strings.HasPrefix(out, "ok:") {
		t.Fatalf("fsck = %q", out)
	}
}

func TestDivergenceShowsAsConflict(t *testing.T) {
	r := InitRepo(t, "bob")
	id := r.OK("new", "A", "--body", "base\n")
	genesis := r.Show(id).Rev
	r.OK("edit", "A", "--title", "B")
	r.OK("edit", id, "--title", "C", "--parent", genesis)
	p := r.Show(id)
	if !p.Conflict || len(p.Heads) != 2 || len(p.Versions) != 2 {
		t.Fatalf("show = %+v", p)
	}
	titles := p.Versions[0].Title + p.Versions[1].Title
	if titles != "BC" && titles != "CB" {
		t.Fatalf("versions = %+v", p.Versions)
	}
	human := r.OK("show", id)
	if !strings.Contains(human, "CONFLICT") || !strings.Contains(human, "version 1 of 2") || !strings.Contains(human, "version 2 of 2") {
		t.Fatalf("human show does not mark versions:\n%s", human)
	}
	r.Fail(1, []string{"edit", id, "--body", "x"}, "several heads", "merge")
	var cs []struct {
		ID      string
		Differs []string
		Heads   []struct{ Rev, Title, Author string }
	}
	r.JSON(&cs, "conflicts", "--json")
	if len(cs) != 1 || cs[0].ID != id || len(cs[0].Heads) != 2 || strings.Join(cs[0].Differs, ",") != "title" || cs[0].Heads[0].Author == "" {
		t.Fatalf("conflicts = %+v", cs)
	}
	var conflicted []Page
	r.JSON(&conflicted, "list", "--conflicts", "--json")
	if len(conflicted) != 1 {
		t.Fatalf("list --conflicts = %+v", conflicted)
	}
	graph := r.OK("log", id, "--graph")
	if !strings.Contains(graph, "|/") || strings.Count(graph, "*") != 3 || strings.Count(graph, "(head)") != 2 {
		t.Fatalf("log --graph:\n%s", graph)
	}
}

func TestBadInputs(t *testing.T) {
	fresh := NewRepo(t)
	fresh.Fail(1, []string{"list"}, "not a peerwiki repo", "init")
	fresh.Fail(1, []string{"new", "X"}, "not a peerwiki repo")

	r := InitRepo(t, "carol")
	r.Fail(1, []string{"init"}, "already initialised")
	r.OK("new", "Todo", "--body", "a")
	r.OK("new", "todo", "--body", "b", "--duplicate")
	r.Fail(1, []string{"show", "TODO"}, "ambiguous", "2 pages")
	r.Fail(1, []string{"show", "Nope"}, "no such page")
	r.Fail(1, []string{"new", ""}, "empty title")
	r.Fail(1, []string{"new", "   "}, "empty title")
	res := r.RunIn(string([]byte{'o', 'k', 0xff, '\n'}), "new", "Binary", "-")
	if res.Code != 1 || !strings.Contains(res.Stderr, "UTF-8") {
		t.Fatalf("invalid UTF-8 body: %+v", res)
	}
	r.Fail(1, []string{"new", "F", "--file", filepath.Join(t.TempDir(), "missing.md")}, "no such file")
	unreadable := filepath.Join(t.TempDir(), "secret.md")
	os.WriteFile(unreadable, []byte("x"), 0o000)
	if os.Geteuid() != 0 { // root reads anything
		r.Fail(1, []string{"new", "F", "--file", unreadable}, "permission denied")
	}
	r.Fail(2, []string{"new"}, "arg")
	r.Fail(2, []string{"new", "A", "B"}, "unexpected argument")
	r.Fail(2, []string{"list", "--bogus"}, "unknown flag")
	r.Fail(2, []string{"frobnicate"}, "unknown command")
	r.Fail(2, []string{"new", "X", "--body", "a", "--file", "f"}, "")
	r.Fail(2, []string{"edit", "Todo"}, "nothing to change")
	var st struct{ Revisions int }
	r.JSON(&st, "status", "--json")
	if st.Revisions != 2 {
		t.Fatalf("bad inputs stored revisions: %d", st.Revisions)
	}
	r.Fail(1, []string{"show", "bafyreiaaaaaaaaaa"}, "no such page")
	r.Fail(1, []string{"edit", "Binary", "--parent", "zzz", "--body", "x"}, "no such page")
}

func TestCorruptDatabase(t *testing.T) {
	r := InitRepo(t, "dave")
	r.OK("new", "P", "--body", "x")
	os.WriteFile(filepath.Join(r.Dir, "peerwiki.db"), bytes.Repeat([]byte("garbage!"), 4096), 0o600)
	os.Remove(filepath.Join(r.Dir, "peerwiki.db-wal"))
	os.Remove(filepath.Join(r.Dir, "peerwiki.db-shm"))
	r.Fail(1, []string{"list"}, "corrupt")
	r.Fail(1, []string{"fsck"}, "corrupt")
}

// TestFsckCatchesFlippedByte flips a byte of a page's text where it is
// stored: in the write-ahead log, where a recent commit waits to be copied
// into the database (SQLite would skip that commit and every later one
// without a word), and in the database file itself.
func TestFsckCatchesFlippedByte(t *testing.T) {
	for _, file := range []string{"peerwiki.db-wal", "peerwiki.db"} {
		t.Run(file, func(t *testing.T) {
			r := InitRepo(t, "erin")
			// Random-looking text is stored as it is (compression cannot
			// shrink it), so its bytes can be found in the file.
			marker := "Zq8vK2xPw9LmT4rYb7NcH3sJd6QfG1aE"
			r.OK("new", "Victim", "--body", marker+"\n")
			r.OK("new", "Bystander", "--body", "fine\n")
			if file == "peerwiki.db" {
				// A page large enough that closing copies the log into
				// the database.
				filler := make([]byte, 600<<10)
				rand.Read(filler)
				path := filepath.Join(t.TempDir(), "filler.md")
				os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(filler)), 0o600)
				r.OK("new", "Filler", "--file", path)
			}
			if out := r.OK("fsck"); !strings.HasPrefix(out, "ok:") {
				t.Fatalf("fsck before: %s", out)
			}
			path := filepath.Join(r.Dir, file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Every copy: some may lie in space SQLite no longer uses.
			if !bytes.Contains(data, []byte(marker)) {
				t.Fatalf("marker not found in %s", file)
			}
			damaged := []byte(marker)
			damaged[5] ^= 0x01
			os.WriteFile(path, bytes.ReplaceAll(data, []byte(marker), damaged), 0o600)
			res := r.Fail(1, []string{"fsck"}, "fsck found")
			named := strings.Contains(res.Stdout, "bad: bafkrei") || strings.Contains(res.Stdout, "bad: page")
			if file == "peerwiki.db-wal" {
				named = strings.Contains(res.Stdout, "write-ahead log is damaged")
			}
			if !named {
				t.Fatalf("fsck does not name the damage:\n%s", res.Stdout)
			}
		})
	}
}

func TestExportImportCLI(t *testing.T) {
	a := InitRepo(t, "frank")
	a.OK("new", "One", "--body", "first\n")
	a.OK("new", "Two: the sequel", "--body", "second")
	dir := t.TempDir()
	a.OK("export", dir)
	b := InitRepo(t, "grace")
	var res struct{ Created, Updated, Unchanged int }
	b.JSON(&res, "import", dir, "--json")
	if res.Created != 2 {
		t.Fatalf("import = %+v", res)
	}
	if p := b.Show("Two: the sequel"); p.Body != "second" {
		t.Fatalf("round trip body = %q", p.Body)
	}
	b.Fail(1, []string{"import", t.TempDir()}, "no .md files")
}

func TestHelpEverywhere(t *testing.T) {
	r := NewRepo(t)
	for _, cmd := range []string{"init", "new", "edit", "show", "list", "log", "rm", "search", "status", "conflicts", "fsck", "export", "import", "id"} {
		out := r.OK(cmd, "--help")
		if !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help has no usage:\n%s", cmd, out)
		}
	}
	if out := r.OK("completion", "bash"); !strings.Contains(out, "bash completion") {
		t.Error("no bash completion")
	}
}

func TestDiff(t *testing.T) {
	r := InitRepo(t, "heidi")
	id := r.OK("new", "Doc", "--body", "one\ntwo\nthree\n")
	first := r.Show(id).Rev
	r.OK("edit", "Doc", "--body", "one\n2\nthree\n", "--title", "Paper")
	out := r.OK("diff", "Paper")
	for _, want := range []string{`title: "Doc" → "Paper"`, "@@ -1,3 +1,3 @@", "-two", "+2", " one"} {
		if !strings.Contains(out, want) {
			t.Fatalf("diff lacks %q:\n%s", want, out)
		}
	}
	// Between the heads of a conflicted page by default.
	r.OK("edit", id, "--body", "one\ntwo\n3\n", "--parent", first)
	out = r.OK("diff", id)
	if !strings.Contains(out, "-3") && !strings.Contains(out, "+3") {
		t.Fatalf("diff of heads:\n%s", out)
	}
	// Explicit revisions, in both orders.
	second := r.Show(id).Heads[0]
	if out := r.OK("diff", id, first, second); !strings.Contains(out, "@@") {
		t.Fatalf("diff REV_A REV_B:\n%s", out)
	}
	r.Fail(1, []string{"diff", id, "bafyreizzzzzzzzz"}, "no revision")
	r.Fail(2, []string{"diff", id, "-U", "-1"}, "unified")
	if out := r.OK("diff", "--help"); !strings.Contains(out, "Usage:") {
		t.Fatal("diff --help")
	}
}
