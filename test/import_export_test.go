package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"peerwiki/history"
	"peerwiki/wiki"
)

// runWithin runs the binary and fails if it has not exited within d (an
// import once waited forever on a named pipe).
func runWithin(t *testing.T, r *Repo, d time.Duration, args ...string) Result {
	t.Helper()
	c := r.Command(args...)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		res := Result{Stdout: out.String(), Stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			res.Code = ee.ExitCode()
		}
		return res
	case <-time.After(d):
		c.Process.Kill()
		<-done
		t.Fatalf("peerwiki %s still running after %s", strings.Join(args, " "), d)
		return Result{}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func listTitles(r *Repo) []string {
	var list []Page
	r.JSON(&list, "list", "--json")
	var out []string
	for _, p := range list {
		out = append(out, p.Title)
	}
	sort.Strings(out)
	return out
}

func TestImportReadsRegularFilesOnly(t *testing.T) {
	r := InitRepo(t, "alice")
	outside := t.TempDir()
	write(t, filepath.Join(outside, "passwd.md"), "# Secret\nroot:x:0:0\n")
	write(t, filepath.Join(outside, "folder", "inside.md"), "# Inside\nnot to be read\n")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.md"), "# A\nfirst\n")
	write(t, filepath.Join(dir, "nested", "b.md"), "# B\nsecond\n")
	symlink(t, filepath.Join(outside, "passwd.md"), filepath.Join(dir, "p.md"))
	symlink(t, filepath.Join(outside, "folder"), filepath.Join(dir, "linked"))
	symlink(t, filepath.Join(outside, "missing.md"), filepath.Join(dir, "dangling.md"))
	if err := syscall.Mkfifo(filepath.Join(dir, "x.md"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "evil\x1b[2J.md"), "# Evil name\nok\n")

	res := runWithin(t, r, 30*time.Second, "import", dir)
	if res.Code != 0 || !strings.Contains(res.Stdout, "3 created") {
		t.Fatalf("import: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	for _, want := range []string{
		"peerwiki: skipped p.md: a symbolic link (not followed)\n",
		"peerwiki: skipped linked: a symbolic link to a folder (not followed)\n",
		"peerwiki: skipped dangling.md: a symbolic link (not followed)\n",
		"peerwiki: skipped x.md: a named pipe (not opened)\n",
	} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
		}
	}
	if n := strings.Count(res.Stderr, "\n"); n != 4 {
		t.Errorf("%d lines on stderr, want one per skipped entry:\n%s", n, res.Stderr)
	}
	if got := strings.Join(listTitles(r), ","); got != "A,B,Evil name" {
		t.Fatalf("imported %s", got)
	}
}

func TestImportRefusesAFileOverTheLimit(t *testing.T) {
	r := InitRepo(t, "alice")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.md"), "# A\nfirst\n")
	f, err := os.Create(filepath.Join(dir, "huge.md"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(history.MaxBodySize + 16*history.MaxBlockSize) // sparse: no disk used
	f.Close()
	r.Fail(1, []string{"import", dir}, "huge.md", "more than a page can be", "64 MiB")
	if got := listTitles(r); len(got) != 0 {
		t.Fatalf("a failed import stored %v", got)
	}
}

func TestExportRefusesAFolderThatIsNotEmpty(t *testing.T) {
	r := InitRepo(t, "alice")
	r.OK("new", "Home", "--body", "the page\n")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "home.md"), "my own notes\n")
	r.Fail(1, []string{"export", dir}, "is not empty", "--force")
	entries, _ := os.ReadDir(dir)
	if data, _ := os.ReadFile(filepath.Join(dir, "home.md")); len(entries) != 1 || string(data) != "my own notes\n" {
		t.Fatalf("a refused export wrote: %d entries, home.md %q", len(entries), data)
	}
	r.OK("export", "--force", dir)
	if data, _ := os.ReadFile(filepath.Join(dir, "home.md")); !strings.HasSuffix(string(data), "---\nthe page\n") {
		t.Fatalf("--force did not replace home.md: %q", data)
	}
	// A folder that does not exist yet is made.
	fresh := filepath.Join(t.TempDir(), "a", "b")
	r.OK("export", fresh)
	if _, err := os.Stat(filepath.Join(fresh, "home.md")); err != nil {
		t.Fatal(err)
	}
}

func TestExportNeverFollowsSymlinks(t *testing.T) {
	r := InitRepo(t, "alice")
	r.OK("new", "Home", "--body", "the page\n")
	victim := filepath.Join(t.TempDir(), "victim")
	write(t, victim, "precious\n")

	// A symlinked target folder is refused, even with --force.
	realDir := t.TempDir()
	linkDir := filepath.Join(t.TempDir(), "out")
	symlink(t, realDir, linkDir)
	for _, args := range [][]string{{"export", linkDir}, {"export", "--force", linkDir}, {"export", "--force", linkDir + "/"}} {
		r.Fail(1, args, "symbolic link")
	}
	if entries, _ := os.ReadDir(realDir); len(entries) != 0 {
		t.Fatalf("export wrote through a linked folder: %v", entries)
	}

	// A link at a file's name is replaced by the file, not written through.
	dir := t.TempDir()
	symlink(t, victim, filepath.Join(dir, "home.md"))
	r.Fail(1, []string{"export", dir}, "is not empty")
	r.OK("export", "--force", dir)
	if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
		t.Fatalf("export wrote through a link: victim is %q", data)
	}
	fi, err := os.Lstat(filepath.Join(dir, "home.md"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("home.md is %v, %v; want a regular file", fi.Mode(), err)
	}
	// Nothing but the pages is left behind (no temporary files).
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("export left %v", entries)
	}
}

// TestExportImportRoundTrip: every page comes back into a fresh repo
// with its title and body, whatever the title: bidi controls, quotes,
// front-matter look-alikes, 512 bytes of multi-byte letters, titles whose
// file names collide.
func TestExportImportRoundTrip(t *testing.T) {
	src := InitRepo(t, "alice")
	pages := map[string]string{
		"Home":                             "one\n",
		"home":                             "no final newline",
		"HOME!":                            "\r\ncrlf\r\n",
		"Invoice \u202efdp.exe":            "escapes \x1b[2J\a and \u009b stay in the body\n",
		`Quotes "and" \backslash\ : colon`: "---\nlooks like front matter\n---\n",
		"---":                              "\n\n  spaces  \n",
		"!!!":                              "a title without letters\n",
		strings.Repeat("é", history.MaxTitleLen/2): "the longest title\n",
		"Ünïcødé 日本語 \u2066x\u2069":                "\ttabs\n",
	}
	w, err := wiki.Open(src.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for title, body := range pages {
		if _, err := w.Create(context.Background(), title, body, ""); err != nil {
			t.Fatalf("create %q: %v", title, err)
		}
	}
	w.Close()
	dir := filepath.Join(t.TempDir(), "export")
	src.OK("export", dir)
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(pages) {
		t.Fatalf("%d files for %d pages", len(entries), len(pages))
	}
	for _, e := range entries {
		if len(e.Name()) > 120 || strings.ContainsAny(e.Name(), "/\\\x1b\u202e") {
			t.Errorf("file name %q", e.Name())
		}
	}
	dst := InitRepo(t, "bob")
	if res := dst.Run("import", dir); res.Code != 0 || res.Stderr != "" {
		t.Fatalf("import: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	var list []Page
	dst.JSON(&list, "list", "--json")
	if len(list) != len(pages) {
		t.Fatalf("%d pages imported, want %d", len(list), len(pages))
	}
	for _, p := range list {
		want, ok := pages[p.Title]
		if got := dst.Show(p.ID).Body; !ok || got != want {
			t.Errorf("title %q: body %q (title known: %v), want %q", p.Title, got, ok, want)
		}
	}
	// Into the repo it came from: nothing changes.
	if out := src.OK("import", dir); !strings.Contains(out, "0 created, 0 updated, 9 unchanged") {
		t.Fatalf("re-import: %s", out)
	}
}

// TestImportTakesTitlesTheWikiNoLongerAccepts: an export of a wiki whose
// titles came in before titles were checked (line breaks, control
// characters, 900 KB) imports into a fresh repo; each such title becomes
// the nearest one the wiki takes, with a note, and the bodies are exact.
func TestImportTakesTitlesTheWikiNoLongerAccepts(t *testing.T) {
	files := map[string]wiki.MarkdownFile{
		"broken.md":  {Title: "two\nlines", Body: "b1\n"},
		"escapes.md": {Title: "Old\x1b]0;pwned\a\x1b[2J title", Body: "b2\x1b[H\n"},
		"huge.md":    {Title: strings.Repeat("long ", 180_000), Body: "b3\n"},
		"blank.md":   {Title: "\x1b\x07", Body: "b4\n"},
	}
	want := map[string]string{
		"two lines":            "b1\n",
		"Old]0;pwned[2J title": "b2\x1b[H\n",
		strings.Repeat("long ", 180_000)[:history.MaxTitleLen-len("…")] + "…": "b3\n",
		"blank": "b4\n",
	}
	dir := t.TempDir()
	for name, f := range files {
		f.ID, f.Rev = "bafyreigone", "bafyreigone"
		write(t, filepath.Join(dir, name), string(f.Encode()))
	}
	r := InitRepo(t, "bob")
	res := r.Run("import", dir)
	if res.Code != 0 || !strings.Contains(res.Stdout, "4 created") {
		t.Fatalf("import: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	requireInert(t, "import", res.Stderr)
	for _, note := range []string{"peerwiki: broken.md: title contains a line break; imported as \"two lines\"", "peerwiki: huge.md: title is longer than 512 bytes"} {
		if !strings.Contains(res.Stderr, note) {
			t.Errorf("stderr lacks %q:\n%s", note, res.Stderr)
		}
	}
	var list []Page
	r.JSON(&list, "list", "--json")
	for _, p := range list {
		if body, ok := want[p.Title]; !ok || r.Show(p.ID).Body != body {
			t.Errorf("imported title %.60q (expected: %v) with body %q", p.Title, ok, r.Show(p.ID).Body)
		}
	}
	if len(list) != len(want) {
		t.Fatalf("%d pages, want %d", len(list), len(want))
	}
}
