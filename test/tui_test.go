package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmuxUI is `peerwiki tui` running in a detached tmux session of its own
// server (tmux -L), 100×30, driven with send-keys and read with
// capture-pane, as a person at a terminal would use it.
type tmuxUI struct {
	t    *testing.T
	sock string
}

var (
	sockSafe = regexp.MustCompile(`[^A-Za-z0-9]+`)
	// colourRE matches a foreground or background colour in what
	// capture-pane -e prints (bold and reverse are not colour).
	colourRE = regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?(?:3[0-7]|4[0-7]|9[0-7]|10[0-7]|[34]8;5;\d+|[34]8;2;\d+;\d+;\d+)m`)
)

// startTUI runs the binary with args on r inside tmux. The pane stays
// after the program exits, with its exit status, so a crash is visible.
func startTUI(t *testing.T, r *Repo, args ...string) *tmuxUI {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the terminal UI end-to-end tests need it (apt-get install tmux)")
	}
	u := &tmuxUI{t: t, sock: fmt.Sprintf("pwtui-%d-%s", os.Getpid(), sockSafe.ReplaceAllString(t.Name(), "-"))}
	argv := []string{binary, "--repo", r.Dir}
	argv = append(argv, args...)
	var quoted []string
	for _, a := range argv {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	// TMPDIR of the test's own: a command killed with its terminal (as
	// some tests end an edit) leaves its editor's draft folder there.
	env := []string{"env", "NO_COLOR=1", "PEERWIKI_REPO=", "EDITOR=false", "VISUAL=", "TERM=xterm-256color", "TMPDIR=" + t.TempDir()}
	for _, e := range r.Env {
		env = append(env, "'"+strings.ReplaceAll(e, "'", `'\''`)+"'")
	}
	shell := strings.Join(env, " ") + " " + strings.Join(quoted, " ") + `; echo "[exited $?]"; sleep 600`
	u.tmux("new-session", "-d", "-x", "100", "-y", "30", shell)
	socket := strings.TrimSpace(u.tmux("display-message", "-p", "#{socket_path}"))
	t.Cleanup(func() {
		// Only this test's server; its socket file stays behind otherwise.
		exec.Command("tmux", "-L", u.sock, "kill-server").Run()
		if strings.HasSuffix(socket, "/"+u.sock) {
			os.Remove(socket)
		}
	})
	return u
}

func (u *tmuxUI) tmux(args ...string) string {
	u.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", u.sock}, args...)...).CombinedOutput()
	if err != nil {
		u.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// keys sends key names (Enter, Escape, C-s, or single characters).
func (u *tmuxUI) keys(keys ...string) {
	u.t.Helper()
	u.tmux(append([]string{"send-keys", "-t", "0"}, keys...)...)
}

// text types text literally.
func (u *tmuxUI) text(s string) {
	u.t.Helper()
	u.tmux("send-keys", "-t", "0", "-l", s)
}

func (u *tmuxUI) screen() string {
	u.t.Helper()
	return u.tmux("capture-pane", "-p", "-t", "0")
}

// waitFor polls the screen until it contains every one of wants, or fails
// after the deadline with the last screen.
func (u *tmuxUI) waitFor(d time.Duration, wants ...string) string {
	u.t.Helper()
	deadline := time.Now().Add(d)
	var s string
	for time.Now().Before(deadline) {
		s = u.screen()
		ok := true
		for _, w := range wants {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return s
		}
		time.Sleep(40 * time.Millisecond)
	}
	u.t.Fatalf("screen did not show %q within %s:\n%s", wants, d, s)
	return ""
}

// createPage makes a page from the page list ('n'), typing its body a
// line at a time, and waits until the UI says it was created.
func (u *tmuxUI) createPage(title, body string) {
	u.t.Helper()
	u.keys("n")
	u.waitFor(2*time.Second, "Title of the new page:")
	u.text(title)
	u.keys("Enter")
	u.waitFor(2*time.Second, "new page", "ctrl+s save")
	for i, line := range strings.Split(body, "\n") {
		if i > 0 {
			u.keys("Enter")
		}
		u.text(line)
	}
	u.keys("C-s")
	u.waitFor(3*time.Second, fmt.Sprintf("created %q", title))
}

func TestTUICreateAndEditPage(t *testing.T) {
	r := InitRepo(t, "alice")
	u := startTUI(t, r, "tui", "--offline")
	u.waitFor(5*time.Second, "No pages yet", "n new", "offline")
	if raw := u.tmux("capture-pane", "-p", "-e", "-t", "0"); colourRE.MatchString(raw) {
		t.Fatalf("colour under NO_COLOR: %q", colourRE.FindString(raw))
	}
	u.createPage("Shopping list", "milk\neggs")
	if p := r.Show("Shopping list"); p.Body != "milk\neggs" {
		t.Fatalf("created body %q", p.Body)
	}

	u.keys("e")
	u.waitFor(2*time.Second, "editing Shopping list")
	u.keys("Enter")
	u.text("bread")
	u.keys("C-s")
	u.waitFor(3*time.Second, "saved", "bread")
	p := r.Show("Shopping list")
	if p.Body != "milk\neggs\nbread" || len(p.Heads) != 1 {
		t.Fatalf("edited page: heads %v body %q", p.Heads, p.Body)
	}
	u.keys("Escape")
	u.waitFor(2*time.Second, "1 page, by title")
	u.keys("q")
	u.waitFor(3*time.Second, "[exited 0]")
}

func TestTUIExternalEditor(t *testing.T) {
	r := InitRepo(t, "alice")
	r.OK("new", "Draft", "--body", "from the start\n")
	script := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf 'written in the editor\\n' >> \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.Env = append(r.Env, "EDITOR="+script)
	u := startTUI(t, r, "tui", "--offline")
	u.waitFor(5*time.Second, "Draft")
	u.keys("e")
	u.waitFor(2*time.Second, "editing Draft", "ctrl+o $EDITOR")
	u.keys("C-o")
	u.waitFor(5*time.Second, "written in the editor", "ctrl+s save")
	u.keys("C-s")
	u.waitFor(3*time.Second, "saved")
	if p := r.Show("Draft"); p.Body != "from the start\nwritten in the editor\n" {
		t.Fatalf("body after $EDITOR: %q", p.Body)
	}
	if left, _ := os.ReadDir(filepath.Join(r.Dir, "drafts")); len(left) != 0 {
		t.Fatalf("drafts left after the save: %v", left)
	}
}

// What $EDITOR wrote for the UI is kept until it is saved: the UI killed
// before ctrl+s (SIGKILL: nothing of it runs) loses nothing, and the
// next edit names the text and how to save it.
func TestTUIExternalEditorTextOutlivesAKilledUI(t *testing.T) {
	r := InitRepo(t, "alice")
	page := r.OK("new", "Draft", "--body", "from the start\n")
	script := filepath.Join(t.TempDir(), "editor.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nprintf 'written in the editor\\n' >> \"$1\"\n"), 0o755)
	ui := *r
	ui.Env = append(r.Env[:len(r.Env):len(r.Env)], "EDITOR="+script, "VISUAL=")
	u := startTUI(t, &ui, "tui", "--offline")
	u.waitFor(5*time.Second, "Draft")
	u.keys("e")
	u.waitFor(2*time.Second, "editing Draft", "ctrl+o $EDITOR")
	u.keys("C-o")
	u.waitFor(5*time.Second, "written in the editor", "ctrl+s save")
	pw := childNamed(strings.TrimSpace(u.tmux("list-panes", "-F", "#{pane_pid}")), "peerwiki")
	if pw == 0 {
		t.Fatal("no UI process")
	}
	syscall.Kill(pw, syscall.SIGKILL) // the UI this test started
	u.waitFor(5*time.Second, "[exited 137]")
	if p := r.Show(page); p.Body != "from the start\n" {
		t.Fatalf("the page after the killed UI: %q", p.Body)
	}

	// The UI opened again says so on its first screen.
	again := startTUI(t, &ui, "tui", "--offline")
	again.waitFor(5*time.Second, "Draft", "unsaved text of")
	again.keys("C-c")
	again.waitFor(5*time.Second, "[exited 0]")

	next := *r
	next.Env = append(r.Env[:len(r.Env):len(r.Env)], "EDITOR=true", "VISUAL=")
	scr := strings.Join(strings.Fields(startTUI(t, &next, "edit", page).waitFor(10*time.Second, "[exited")), "")
	m := regexp.MustCompile(`iskeptin(/\S+?\.md):'peerwikiedit(\S+?)--file`).FindStringSubmatch(scr)
	if m == nil || m[2] != page {
		t.Fatalf("the next edit did not name the UI's text:\n%s", scr)
	}
	if b, err := os.ReadFile(m[1]); err != nil || string(b) != "from the start\nwritten in the editor\n" {
		t.Fatalf("the kept text: %q (%v)", b, err)
	}
}

func TestTUIResolveTwoHeadConflict(t *testing.T) {
	r := InitRepo(t, "alice")
	base := "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\n"
	id := r.OK("new", "Plan", "--body", base)
	r.OK("edit", id, "--body", strings.NewReplacer("line 2", "A two", "line 8", "A eight").Replace(base))
	r.OK("edit", id, "--parent", id, "--body", strings.NewReplacer("line 2", "B two", "line 8", "B eight").Replace(base))
	before := r.Show(id)
	if len(before.Versions) != 2 {
		t.Fatalf("setup: %d versions", len(before.Versions))
	}
	// Both heads are this replica's, so the merge screen keeps the
	// store's order: ours is the first version, theirs the second.
	side := func(v Version) string { return strings.Split(strings.Split(v.Body, "\n")[1], " ")[0] }
	ours, theirs := side(before.Versions[0]), side(before.Versions[1])

	u := startTUI(t, r, "tui", "--offline")
	u.waitFor(5*time.Second, "Plan [conflict: 2 heads]", "1 conflict")
	u.keys("m")
	u.waitFor(3*time.Second, "conflict 1 of 2", "o take ours", "t take theirs", "s save")
	u.keys("o")
	u.waitFor(2*time.Second, "conflict 2 of 2", "1 of 2 decided")
	u.keys("t")
	u.waitFor(2*time.Second, "2 of 2 decided")
	u.keys("s")
	u.waitFor(3*time.Second, `merged 2 heads of "Plan"`, "0 conflicts")

	p := r.Show(id)
	want := strings.NewReplacer("line 2", ours+" two", "line 8", theirs+" eight").Replace(base)
	if len(p.Heads) != 1 || p.Conflict || p.Body != want {
		t.Fatalf("after o, t, s: heads %v body %q, want %q", p.Heads, p.Body, want)
	}
	u.keys("q")
	u.waitFor(3*time.Second, "[exited 0]")
}

func TestTUIShowsAnotherProcessesEditWithoutAKeyPress(t *testing.T) {
	r := InitRepo(t, "alice")
	r.OK("new", "Notes", "--body", "first words\n")
	u := startTUI(t, r, "tui", "--offline")
	u.waitFor(5*time.Second, "Notes")
	u.keys("Enter")
	u.waitFor(2*time.Second, "first words")

	r.OK("edit", "Notes", "--body", "words from another process\n")
	u.waitFor(5*time.Second, "words from another process")
	r.OK("new", "Second", "--body", "x\n")
	u.keys("Escape")
	u.waitFor(3*time.Second, "2 pages", "Second")
}

func TestTUIReceivesAPeersEditThroughItsNode(t *testing.T) {
	a := InitRepo(t, "alice")
	id := a.OK("new", "Shared", "--body", "before\n")
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")

	// B's UI runs the node in-process; it dials A from the remembered
	// peers that join recorded.
	u := startTUI(t, b, "tui")
	u.waitFor(10*time.Second, "Shared", "online · 1 peer")
	u.keys("Enter")
	u.waitFor(3*time.Second, "before")

	a.OK("edit", id, "--body", "after, from alice\n")
	u.waitFor(10*time.Second, "after, from alice")
	u.waitFor(3*time.Second, "synced")
	sa.Stop()
}

func TestBarePeerwikiOnATerminalOpensTheUI(t *testing.T) {
	r := NewRepo(t) // not initialised: the bare command creates it
	u := startTUI(t, r)
	u.waitFor(10*time.Second, "peerwiki · pages", "No pages yet", "0 conflicts")
	u.keys("q")
	u.waitFor(5*time.Second, "[exited 0]")
	if !strings.Contains(r.OK("status"), "0") {
		t.Fatal("the bare command did not create the repo")
	}
}

func TestTUIRefusesANonTerminal(t *testing.T) {
	r := InitRepo(t, "alice")
	res := r.Run("tui", "--offline")
	if res.Code != 1 || !strings.HasPrefix(res.Stderr, "peerwiki: ") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Fatalf("tui without a terminal: exit %d, stderr %q", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "terminal") {
		t.Fatalf("the error does not say a terminal is needed: %q", res.Stderr)
	}
	// The bare command keeps its plain overview off a terminal.
	if out := r.OK(); !strings.Contains(out, "pages") {
		t.Fatalf("bare peerwiki off a terminal: %q", out)
	}
}
