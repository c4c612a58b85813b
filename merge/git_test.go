package merge

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// gitRunner runs `git merge-file -p` on temp files.
type gitRunner struct {
	git string
	dir string
}

func newGitRunner(t *testing.T) *gitRunner {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: skipping the differential test against git merge-file")
	}
	return &gitRunner{git: git, dir: t.TempDir()}
}

// worker returns a runner with a directory of its own, for parallel use.
func (g *gitRunner) worker(i int) *gitRunner {
	dir := filepath.Join(g.dir, fmt.Sprint(i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	return &gitRunner{git: g.git, dir: dir}
}

// write puts the three inputs where mergeFile reads them.
func (g *gitRunner) write(base, ours, theirs string) error {
	for name, s := range map[string]string{"base": base, "ours": ours, "theirs": theirs} {
		if err := os.WriteFile(filepath.Join(g.dir, name), []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mergeFile runs git merge-file -p with extra flags on the files last
// written, returning its output and its conflict count (exit status).
func (g *gitRunner) mergeFile(flags ...string) (string, int, error) {
	args := append([]string{"merge-file", "-p"}, flags...)
	args = append(args, "-L", "ours", "-L", "base", "-L", "theirs", "ours", "base", "theirs")
	cmd := exec.Command(g.git, args...)
	cmd.Dir = g.dir
	// Outside a repository and without user configuration, so that no
	// merge.conflictStyle setting changes git's output.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CEILING_DIRECTORIES="+filepath.Dir(g.dir))
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 && exit.ExitCode() < 128 {
		return string(out), exit.ExitCode(), nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("git merge-file: %v", err)
	}
	return string(out), 0, nil
}

// Lines that random texts are made of: few, so that edits collide often;
// some without letters or digits, so that coalescing is exercised.
var randomLines = []string{"a", "b", "c", "d", "e", "f", "", "}", "--", "x y", "a"}

// randomText returns up to max lines drawn from randomLines.
func randomText(r *testRand, maxLines int, eol string) []string {
	n := r.IntN(maxLines + 1)
	out := make([]string, n)
	for i := range out {
		out[i] = randomLines[r.IntN(len(randomLines))] + eol
	}
	return out
}

// mutate applies a few random line edits to text.
func mutate(r *testRand, text []string, eol string, edits int) []string {
	out := append([]string(nil), text...)
	for range r.IntN(edits + 1) {
		i := r.IntN(len(out) + 1)
		line := randomLines[r.IntN(len(randomLines))] + eol
		switch op := r.IntN(3); {
		case op == 0 || len(out) == 0 || i == len(out):
			out = append(out[:i], append([]string{line}, out[i:]...)...)
		case op == 1:
			out = append(out[:i], out[i+1:]...)
		default:
			out[i] = line
		}
	}
	return out
}

// finish joins lines, sometimes dropping the final newline.
func finish(r *testRand, lines []string) string {
	s := strings.Join(lines, "")
	if r.IntN(5) == 0 {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	}
	return s
}

// randomTriple returns a base and two edits of it.
func randomTriple(r *testRand) (base, ours, theirs string) {
	eol := "\n"
	if r.IntN(8) == 0 {
		eol = "\r\n"
	}
	maxLines, edits := 12, 3
	if r.IntN(4) == 0 {
		maxLines, edits = 40, 8 // longer texts reach the discard heuristics
	}
	b := randomText(r, maxLines, eol)
	o, t := mutate(r, b, eol, edits), mutate(r, b, eol, edits)
	if r.IntN(10) == 0 {
		t = mutate(r, o, eol, edits) // theirs builds on ours: many identical changes
	}
	return finish(r, b), finish(r, o), finish(r, t)
}

// TestAgainstGit compares Merge3 with git merge-file -p, plain, --diff3 and
// --union, on thousands of random small merges (few distinct lines, so
// that edits collide; CRLF and missing final newlines included). The
// least it must show is the same verdict, clean or not, and the same text
// when both are clean; since this package mirrors git's algorithm, it
// demands more: the same output byte for byte and the same conflict count,
// conflicts included.
func TestAgainstGit(t *testing.T) {
	g := newGitRunner(t)
	n := 3000
	if testing.Short() {
		n = 300
	}
	type failure struct {
		seed               int
		mode               string
		base, ours, theirs string
		got, want          string
		gotConf, wantConf  int
	}
	var (
		mu                sync.Mutex
		failures          []failure
		conflicted, clean int
	)
	workers := runtime.NumCPU()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(gw *gitRunner) {
			defer wg.Done()
			for seed := w; seed < n; seed += workers {
				r := newRand(uint64(seed), 7)
				base, ours, theirs := randomTriple(r)
				if err := gw.write(base, ours, theirs); err != nil {
					t.Error(err)
					return
				}
				for _, mode := range []string{"", "--diff3", "--union"} {
					want, wantConf, err := gw.mergeFile(strings.Fields(mode)...)
					if err != nil {
						t.Error(err)
						return
					}
					var got string
					var gotConf int
					switch mode {
					case "":
						res := Merge3(base, ours, theirs)
						got, gotConf = res.Text(MarkerOptions{OursLabel: "ours", BaseLabel: "base", TheirsLabel: "theirs"}), res.Conflicts
						mu.Lock()
						if res.Clean() {
							clean++
						} else {
							conflicted++
						}
						mu.Unlock()
					case "--diff3":
						res := Merge3Level(base, ours, theirs, Eager)
						got, gotConf = res.Text(MarkerOptions{OursLabel: "ours", BaseLabel: "base", TheirsLabel: "theirs", Diff3: true}), res.Conflicts
					case "--union":
						got = Merge3(base, ours, theirs).Union()
					}
					if got != want || gotConf != wantConf {
						mu.Lock()
						failures = append(failures, failure{seed, mode, base, ours, theirs, got, want, gotConf, wantConf})
						mu.Unlock()
					}
				}
			}
		}(g.worker(w))
	}
	wg.Wait()
	t.Logf("%d merges: %d clean, %d conflicted (default level)", n, clean, conflicted)
	if clean < n/10 || conflicted < n/10 {
		t.Errorf("random merges are lopsided (%d clean, %d conflicted): the test would miss cases", clean, conflicted)
	}
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more", len(failures)-10)
			break
		}
		t.Errorf("seed %d, git merge-file -p %s:\nbase   %q\nours   %q\ntheirs %q\ngot  %d %q\nwant %d %q",
			f.seed, f.mode, f.base, f.ours, f.theirs, f.gotConf, f.got, f.wantConf, f.want)
	}
}

// TestUnifiedAgainstGit compares Unified with `git diff --no-index` (its
// hunks, after the header) on random pairs: same diff, same layout.
func TestUnifiedAgainstGit(t *testing.T) {
	g := newGitRunner(t)
	n := 500
	if testing.Short() {
		n = 100
	}
	for seed := range n {
		r := newRand(uint64(seed), 11)
		base, ours, _ := randomTriple(r)
		if err := g.write(base, ours, ""); err != nil {
			t.Fatal(err)
		}
		ctx := seed % 4
		cmd := exec.Command(g.git, "diff", "--no-index", "--no-indent-heuristic", "--no-color", fmt.Sprintf("-U%d", ctx), "base", "ours")
		cmd.Dir = g.dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			t.Fatalf("git diff: %v", err)
		}
		want := gitHunks(string(out))
		got := gitHunks(Unified(base, ours, "a/base", "b/ours", ctx))
		if got != want {
			t.Fatalf("seed %d, context %d: %q -> %q\nUnified hunks:\n%s\ngit diff hunks:\n%s", seed, ctx, base, ours, got, want)
		}
	}
}

// gitHunks returns a diff from its first hunk on, without the function
// names git writes after a hunk header.
func gitHunks(diff string) string {
	i := strings.Index(diff, "@@")
	if i < 0 {
		return ""
	}
	var b strings.Builder
	for _, l := range splitLines(diff[i:]) {
		if strings.HasPrefix(l, "@@") {
			end := strings.Index(l[2:], "@@")
			l = l[:end+4] + "\n"
		}
		b.WriteString(l)
	}
	return b.String()
}
