// Package test holds end-to-end tests: they build the peerwiki binary once
// and drive it as separate processes, as a user or a script would.
package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// binary is the peerwiki binary built for this test run.
var binary string

var (
	moduleRoot string
	touchOnce  sync.Once
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "peerwiki-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Every command a test runs (the terminal UI in tmux included) stays
	// off the public DHT: a user configuration that turns it off, unless
	// a test gives a command an XDG_CONFIG_HOME of its own (Repo.Env).
	conf := filepath.Join(dir, "config", "peerwiki")
	if err := os.MkdirAll(conf, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(conf, "config.json"), []byte(`{"network": {"dht": false}}`+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", filepath.Dir(conf))
	binary = filepath.Join(dir, "peerwiki")
	_, file, _, _ := runtime.Caller(0)
	moduleRoot = filepath.Dir(filepath.Dir(file))
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = filepath.Dir(filepath.Dir(file))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build peerwiki:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// touchSources opens every source file of the module. The go test cache
// remembers the files a test opened; the binary is built by a child
// process it cannot see, so without this a changed source file could leave
// a stale cached pass.
func touchSources(root string) {
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if name := d.Name(); strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			if f, err := os.Open(path); err == nil {
				f.Close()
			}
		}
		return nil
	})
}

// Result is one finished run of the binary.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Repo is a peerwiki repo directory driven through the binary.
type Repo struct {
	T   testing.TB
	Dir string
	Env []string
}

// NewRepo returns an uninitialised repo in a temporary directory.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	// Inside a test (not TestMain), where the cache's file log is on.
	touchOnce.Do(func() { touchSources(moduleRoot) })
	return &Repo{T: t, Dir: filepath.Join(t.TempDir(), "repo")}
}

// InitRepo returns an initialised repo.
func InitRepo(t testing.TB, name string) *Repo {
	t.Helper()
	r := NewRepo(t)
	r.OK("init", "--name", name)
	return r
}

// Command builds an exec.Cmd of the binary on this repo.
func (r *Repo) Command(args ...string) *exec.Cmd {
	c := exec.Command(binary, append([]string{"--repo", r.Dir}, args...)...)
	c.Env = append(append(os.Environ(), "NO_COLOR=1", "PEERWIKI_REPO=", "EDITOR=false", "VISUAL="), r.Env...)
	return c
}

// RunIn runs the binary with stdin.
func (r *Repo) RunIn(stdin string, args ...string) Result {
	r.T.Helper()
	c := r.Command(args...)
	var out, errb bytes.Buffer
	c.Stdin = strings.NewReader(stdin)
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		r.T.Fatalf("run %v: %v", args, err)
	}
	return res
}

// Run runs the binary with empty stdin.
func (r *Repo) Run(args ...string) Result {
	r.T.Helper()
	return r.RunIn("", args...)
}

// OK runs the binary, requires exit 0, and returns trimmed stdout.
func (r *Repo) OK(args ...string) string {
	r.T.Helper()
	res := r.Run(args...)
	if res.Code != 0 {
		r.T.Fatalf("peerwiki %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.Code, res.Stdout, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

// Fail runs the binary and requires exit code want and a one-line
// "peerwiki: " error containing each of msgs.
func (r *Repo) Fail(want int, args []string, msgs ...string) Result {
	r.T.Helper()
	res := r.Run(args...)
	if res.Code != want {
		r.T.Fatalf("peerwiki %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.Code, want, res.Stdout, res.Stderr)
	}
	first := strings.SplitN(res.Stderr, "\n", 2)[0]
	if !strings.HasPrefix(first, "peerwiki: ") {
		r.T.Fatalf("peerwiki %s: stderr %q does not start with 'peerwiki: '", strings.Join(args, " "), res.Stderr)
	}
	for _, m := range msgs {
		if !strings.Contains(first, m) {
			r.T.Fatalf("peerwiki %s: error %q does not mention %q", strings.Join(args, " "), first, m)
		}
	}
	return res
}

// JSON runs the binary and decodes its stdout into v.
func (r *Repo) JSON(v any, args ...string) {
	r.T.Helper()
	out := r.OK(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		r.T.Fatalf("peerwiki %s: bad JSON %v:\n%s", strings.Join(args, " "), err, out)
	}
}

// Page is the JSON shape of `show --json` and `list --json`.
type Page struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Rev       string    `json:"rev"`
	Heads     []string  `json:"heads"`
	Conflict  bool      `json:"conflict"`
	Deleted   bool      `json:"deleted"`
	Policy    string    `json:"policy"`
	Updated   string    `json:"updated"`
	Body      string    `json:"body"`
	Versions  []Version `json:"versions"`
	Links     []string  `json:"links"`
	Backlinks []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"backlinks"`
	Editing []struct {
		PeerID string `json:"peer_id"`
		Name   string `json:"name"`
		Since  string `json:"since"`
	} `json:"editing"`
}

// Version is one head of a conflicted page in `show --json`.
type Version struct {
	Rev     string `json:"rev"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	Deleted bool   `json:"deleted"`
	Author  string `json:"author"`
	Time    string `json:"time"`
}

// Show returns `show --json` of a page.
func (r *Repo) Show(page string) Page {
	r.T.Helper()
	var p Page
	r.JSON(&p, "show", page, "--json")
	return p
}
