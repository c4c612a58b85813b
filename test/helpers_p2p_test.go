package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Serve is a `peerwiki serve` process started by a test.
type Serve struct {
	t     testing.TB
	cmd   *exec.Cmd
	Addrs []string // the "listening on" addresses, /p2p/PEERID included
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan struct{}
}

// StartServe runs serve on the repo (on 127.0.0.1, without mDNS unless
// args say otherwise) and waits for its "listening on" lines. The test's
// cleanup stops it.
func (r *Repo) StartServe(args ...string) *Serve {
	r.T.Helper()
	full := append([]string{"serve"}, args...)
	if !hasFlag(args, "--listen") {
		full = append(full, "--listen", "/ip4/127.0.0.1/tcp/0")
	}
	if !hasFlag(args, "--mdns") {
		full = append(full, "--no-mdns")
	} else {
		full = removeFlag(full, "--mdns")
	}
	return startServe(r.T, r.Command(full...))
}

func startServe(t testing.TB, cmd *exec.Cmd) *Serve {
	t.Helper()
	s := &Serve{t: t, cmd: cmd, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.Stop)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before listening:\n%s", s.Log())
			}
			if a, ok := strings.CutPrefix(l, "listening on "); ok {
				s.Addrs = append(s.Addrs, a)
				// All lines are printed together; take the ones already there.
				time.Sleep(20 * time.Millisecond)
				for more := true; more; {
					select {
					case l := <-lines:
						if a, ok := strings.CutPrefix(l, "listening on "); ok {
							s.Addrs = append(s.Addrs, a)
						}
					default:
						more = false
					}
				}
				return s
			}
		case <-deadline:
			t.Fatalf("serve printed no address within 10s:\n%s", s.Log())
		}
	}
}

// Addr is the serve's first address.
func (s *Serve) Addr() string { return s.Addrs[0] }

// Log returns what serve wrote to stderr so far.
func (s *Serve) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Stop ends serve with SIGTERM (SIGKILL if it does not exit within 5s)
// and checks it exited cleanly.
func (s *Serve) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("serve exited with %d after SIGTERM:\n%s", code, s.Log())
		}
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("serve did not stop within 5s of SIGTERM:\n%s", s.Log())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

func removeFlag(args []string, flag string) []string {
	var out []string
	for _, a := range args {
		if a != flag {
			out = append(out, a)
		}
	}
	return out
}

// Eventually polls cond every 25ms until it holds, failing the test
// after d.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// List returns `list --json`.
func (r *Repo) List() []Page {
	r.T.Helper()
	var ps []Page
	r.JSON(&ps, "list", "--json")
	return ps
}

// Snapshot is every page of a repo as `list --json` and `show --json`
// print it, for comparing replicas.
func (r *Repo) Snapshot() string {
	r.T.Helper()
	var b strings.Builder
	for _, p := range r.List() {
		fmt.Fprintf(&b, "%s\n%s\n", r.OK("show", p.ID, "--json"), strings.Join(p.Heads, ","))
	}
	return b.String()
}

// HeadsState is every page's id and sorted heads (`list --all --json`):
// equal on two replicas that hold the same revisions, and one process to
// read where Snapshot takes one per page.
func (r *Repo) HeadsState() string {
	r.T.Helper()
	s, ok := headsState(r.OK("list", "--all", "--json"))
	if !ok {
		r.T.Fatal("list --all --json printed no JSON")
	}
	return s
}

// Revisions returns every revision of every page the replica holds, and
// its automatic merges keyed by their parent sets (each with its policy).
func (r *Repo) Revisions() (map[string]bool, map[string][]string) {
	r.T.Helper()
	revs := map[string]bool{}
	autos := map[string][]string{}
	var pages []Page
	r.JSON(&pages, "list", "--all", "--json")
	for _, p := range pages {
		var log []struct {
			Rev     string
			Parents []string
			Auto    bool
			Policy  string
		}
		r.JSON(&log, "log", p.ID, "--json")
		for _, e := range log {
			revs[e.Rev] = true
			if e.Auto {
				key := strings.Join(e.Parents, ",")
				autos[key] = append(autos[key], e.Rev+" by "+e.Policy)
			}
		}
	}
	return revs, autos
}

// headsState is HeadsState of a `list --all --json` output.
func headsState(listJSON string) (string, bool) {
	var pages []Page
	if json.Unmarshal([]byte(listJSON), &pages) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range pages {
		hs := append([]string(nil), p.Heads...)
		sort.Strings(hs)
		fmt.Fprintf(&b, "%s %s\n", p.ID, strings.Join(hs, ","))
	}
	return b.String(), true
}

// WritePages writes n Markdown files for `import` into a new directory:
// page i gets the given id (when ids is not nil) and a body of about size
// bytes that differs by round.
func WritePages(t testing.TB, n, round, size int, ids []string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), fmt.Sprintf("round%d", round))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		var b strings.Builder
		b.WriteString("---\n")
		fmt.Fprintf(&b, "title: \"Page %d\"\n", i)
		if ids != nil {
			fmt.Fprintf(&b, "id: %s\n", ids[i])
		}
		b.WriteString("---\n")
		fmt.Fprintf(&b, "# Page %d\n\nRound %d.\n", i, round)
		for b.Len() < size {
			fmt.Fprintf(&b, "Line %d of page %d in round %d, with some words to fill it.\n", b.Len(), i, round)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%05d.md", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ImportHistory gives the repo n pages of rounds revisions each (one
// import per round) and returns the page ids.
func (r *Repo) ImportHistory(n, rounds, size int) []string {
	r.T.Helper()
	r.OK("import", WritePages(r.T, n, 0, size, nil))
	byTitle := map[string]string{}
	for _, p := range r.List() {
		byTitle[p.Title] = p.ID
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = byTitle[fmt.Sprintf("Page %d", i)]
	}
	for round := 1; round < rounds; round++ {
		r.OK("import", WritePages(r.T, n, round, size, ids))
	}
	return ids
}
