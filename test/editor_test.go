package test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitingEditor is an $EDITOR that waits for the file go (at most 30 s),
// then writes text over the file it was given and exits with status.
func waitingEditor(t *testing.T, text string, status int) (editor, goAhead string) {
	t.Helper()
	dir := t.TempDir()
	goAhead = filepath.Join(dir, "go")
	body := filepath.Join(dir, "text")
	os.WriteFile(body, []byte(text), 0o600)
	editor = filepath.Join(dir, "editor")
	script := "#!/bin/sh\nfor i in $(seq 300); do [ -e '" + goAhead + "' ] && break; sleep 0.1; done\ncat '" + body + "' > \"$1\"\nexit " + map[bool]string{true: "0", false: "1"}[status == 0] + "\n"
	os.WriteFile(editor, []byte(script), 0o755)
	return editor, goAhead
}

// Ada edits a page in $EDITOR next to her running serve; Bob's edit of
// the same page reaches her serve while her editor is open. Her edit
// builds on the revision her editor opened, so the page has both as
// heads (the wiki's policy is manual): Bob's text is not overwritten by
// a text that never saw it, and the command says the page changed.
func TestEditorEditKeepsAConcurrentEdit(t *testing.T) {
	ada := InitRepo(t, "ada")
	page := ada.OK("new", "Plan", "--body", "first\n")
	ada.StartServe()
	repos, _ := inviteAndServe(t, ada, "bob")
	bob := repos[0]
	Eventually(t, 10*time.Second, "bob to have the page", func() bool { return bob.Run("show", page).Code == 0 })

	editor, goAhead := waitingEditor(t, "ada's plan\n", 0)
	ada.Env = append(ada.Env, "EDITOR="+editor, "VISUAL=")
	u := startTUI(t, ada, "edit", page)
	Eventually(t, 5*time.Second, "ada's editor to be open", func() bool { return len(bob.Show(page).Editing) == 1 })

	bob.OK("edit", page, "--body", "bob's plan\n")
	Eventually(t, 5*time.Second, "bob's edit to reach ada", func() bool { return ada.Show(page).Body == "bob's plan\n" })
	os.WriteFile(goAhead, nil, 0o600)
	scr := u.waitFor(10*time.Second, "[exited 0]")
	if !strings.Contains(scr, "the page changed while you edited: it has 2 heads now") {
		t.Fatalf("edit did not say the page changed:\n%s", scr)
	}
	p := ada.Show(page)
	if len(p.Heads) != 2 {
		t.Fatalf("heads after the two edits: %v (bob's edit overwritten?)", p.Heads)
	}
	var bodies []string
	for _, v := range p.Versions {
		bodies = append(bodies, v.Body)
	}
	if !strings.Contains(strings.Join(bodies, "|"), "bob's plan") || !strings.Contains(strings.Join(bodies, "|"), "ada's plan") {
		t.Fatalf("the two versions: %q", bodies)
	}
}

// What the editor wrote is kept when the editor fails or the text is
// refused, and the error says where; an editor that changed nothing
// leaves nothing behind.
func TestEditorTextIsKeptWhenItCannotBeSaved(t *testing.T) {
	ada := InitRepo(t, "ada")
	page := ada.OK("new", "Plan", "--body", "first\n")
	kept := regexp.MustCompile(`yourtextiskeptin(/\S+?\.md)`) // the screen's words run together
	for _, tc := range []struct {
		name, text string
		status     int
		want       string
	}{
		{"editor fails", "typed before the editor failed\n", 1, "editor"},
		{"text refused", "not UTF-8: \xff\xfe\n", 0, "the edited text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			editor, goAhead := waitingEditor(t, tc.text, tc.status)
			os.WriteFile(goAhead, nil, 0o600)
			r := *ada
			r.Env = append(ada.Env[:len(ada.Env):len(ada.Env)], "EDITOR="+editor, "VISUAL=")
			u := startTUI(t, &r, "edit", page)
			scr := u.waitFor(10*time.Second, "[exited 1]")
			m := kept.FindStringSubmatch(strings.Join(strings.Fields(scr), ""))
			if m == nil || !strings.Contains(scr, tc.want) {
				t.Fatalf("no word of the kept text:\n%s", scr)
			}
			if b, err := os.ReadFile(m[1]); err != nil || string(b) != tc.text {
				t.Fatalf("kept %q (%v), want %q", b, err, tc.text)
			}
		})
	}
	if p := ada.Show(page); p.Body != "first\n" || len(p.Heads) != 1 {
		t.Fatalf("the page after failed edits: %+v", p)
	}

	// The command ended while the editor runs (TERM, as a shutdown
	// sends): it says where the text is as it goes.
	t.Run("terminated", func(t *testing.T) {
		dir := t.TempDir()
		editor := filepath.Join(dir, "editor")
		os.WriteFile(editor, []byte("#!/bin/sh\nprintf 'typed, then the machine shut down\\n' > \"$1\"\nsleep 30\n"), 0o755)
		r := *ada
		r.Env = append(ada.Env[:len(ada.Env):len(ada.Env)], "EDITOR="+editor, "VISUAL=")
		u := startTUI(t, &r, "edit", page)
		var pw int
		Eventually(t, 5*time.Second, "the edit command and its editor", func() bool {
			pw = childNamed(strings.TrimSpace(u.tmux("list-panes", "-F", "#{pane_pid}")), "peerwiki")
			return pw != 0 && childNamed(strconv.Itoa(pw), "") != 0
		})
		syscall.Kill(pw, syscall.SIGTERM) // the edit command this test started
		scr := u.waitFor(10*time.Second, "[exited 143]")
		m := kept.FindStringSubmatch(strings.Join(strings.Fields(scr), ""))
		if m == nil || !strings.Contains(scr, "terminated while editing") {
			t.Fatalf("no word of the kept text:\n%s", scr)
		}
		if b, err := os.ReadFile(m[1]); err != nil || string(b) != "typed, then the machine shut down\n" {
			t.Fatalf("kept %q (%v)", b, err)
		}
	})

	// An editor that fails without changing the text: nothing is kept.
	t.Run("untouched", func(t *testing.T) {
		tmp := t.TempDir()
		ada := InitRepo(t, "ada") // the drafts kept above are not this one's
		page := ada.OK("new", "Plan", "--body", "first\n")
		r := *ada
		r.Env = append(ada.Env[:len(ada.Env):len(ada.Env)], "EDITOR=false", "VISUAL=", "TMPDIR="+tmp)
		u := startTUI(t, &r, "edit", page)
		if scr := u.waitFor(10*time.Second, "[exited 1]"); strings.Contains(scr, "kept") {
			t.Fatalf("an untouched draft was kept:\n%s", scr)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("left in TMPDIR: %v", left)
		}
		if left, _ := os.ReadDir(filepath.Join(ada.Dir, "drafts")); len(left) != 0 {
			t.Fatalf("left in the repo's drafts: %v", left)
		}
	})
}

// The edit command is killed (SIGKILL: nothing of it runs to say where
// the text is) while its editor is open, after the editor wrote. The
// next command that opens an editor names the text and how to save it;
// saving it that way removes the draft. A draft the editor never changed
// is removed without a word, and the draft of an edit still running is
// not named.
func TestEditorTextOfAKilledEditIsNamedNextTime(t *testing.T) {
	ada := InitRepo(t, "ada")
	page := ada.OK("new", "Plan", "--body", "first\n")
	drafts := filepath.Join(ada.Dir, "drafts")
	pidOf := func(u *tmuxUI) (int, int) {
		var pw, ed int
		Eventually(t, 5*time.Second, "the edit command and its editor", func() bool {
			pw = childNamed(strings.TrimSpace(u.tmux("list-panes", "-F", "#{pane_pid}")), "peerwiki")
			if pw != 0 {
				ed = childNamed(strconv.Itoa(pw), "")
			}
			return pw != 0 && ed != 0
		})
		return pw, ed
	}
	editorThatWrites := func(text string) string {
		dir := t.TempDir()
		editor := filepath.Join(dir, "editor")
		os.WriteFile(editor, []byte("#!/bin/sh\nprintf '"+text+"' > \"$1\"\nsleep 30\n"), 0o755)
		return editor
	}

	// An edit whose editor wrote, killed; and one whose editor did not
	// write, killed.
	for _, text := range []string{"typed, then the edit was killed\\n", ""} {
		r := *ada
		editor := editorThatWrites(text)
		if text == "" {
			editor = filepath.Join(t.TempDir(), "editor")
			os.WriteFile(editor, []byte("#!/bin/sh\nsleep 30\n"), 0o755)
		}
		r.Env = append(ada.Env[:len(ada.Env):len(ada.Env)], "EDITOR="+editor, "VISUAL=")
		u := startTUI(t, &r, "edit", page)
		pw, ed := pidOf(u)
		time.Sleep(300 * time.Millisecond) // the editor writes
		syscall.Kill(pw, syscall.SIGKILL)  // the edit command this test started
		syscall.Kill(ed, syscall.SIGKILL)  // and its editor (the shell), both ours
		u.waitFor(10*time.Second, "[exited 137]")
	}
	if left, _ := os.ReadDir(drafts); len(left) != 2 {
		t.Fatalf("drafts after two killed edits: %v", left)
	}

	// An edit now running: its draft is not another's to name.
	running := *ada
	running.Env = append(ada.Env[:len(ada.Env):len(ada.Env)], "EDITOR="+editorThatWrites("still being typed\\n"), "VISUAL=")
	u := startTUI(t, &running, "edit", page)
	pidOf(u)

	// The next edit in an editor names the killed edit's text, once.
	r := *ada
	r.Env = append(ada.Env[:len(ada.Env):len(ada.Env)], "EDITOR=true", "VISUAL=")
	next := func() string {
		scr := startTUI(t, &r, "edit", page).waitFor(10*time.Second, "[exited")
		return strings.Join(strings.Fields(scr), "") // the screen's words run together
	}
	scr := next()
	named := regexp.MustCompile(`iskeptin(/\S+?\.md):'peerwikiedit(\S+?)--file(/\S+?\.md)'savesit`).FindAllStringSubmatch(scr, -1)
	if len(named) != 1 || named[0][2] != page || named[0][3] != named[0][1] || !strings.Contains(scr, `unsavedtextof"Plan"`) {
		t.Fatalf("the next edit's words (want one draft named):\n%s", scr)
	}
	kept := named[0][1]
	if b, err := os.ReadFile(kept); err != nil || string(b) != "typed, then the edit was killed\n" {
		t.Fatalf("the named draft holds %q (%v)", b, err)
	}
	if left, _ := os.ReadDir(drafts); len(left) != 2 {
		t.Fatalf("drafts after the next edit (the killed edit's and the running one's): %v", left)
	}

	// Saving it as the note says takes it in and removes it.
	rev := ada.OK("edit", page, "--file", kept)
	if p := ada.Show(page); p.Body != "typed, then the edit was killed\n" || p.Rev != strings.TrimSpace(rev) {
		t.Fatalf("the page after saving the draft: %+v", p)
	}
	if _, err := os.Stat(filepath.Dir(kept)); !os.IsNotExist(err) {
		t.Fatalf("the saved draft's folder is still there (%v)", err)
	}
	if scr := next(); strings.Contains(scr, "unsavedtext") {
		t.Fatalf("a saved draft is named again:\n%s", scr)
	}
}

// childNamed is the pid of a child of process pid (decimal) whose command
// is name (any child when name is empty), or 0. A child is listed under
// the thread that started it: every thread is looked at.
func childNamed(pid, name string) int {
	tasks, _ := filepath.Glob("/proc/" + pid + "/task/*/children")
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(b)) {
			if comm, err := os.ReadFile("/proc/" + c + "/comm"); err == nil && (name == "" || strings.TrimSpace(string(comm)) == name) {
				n, _ := strconv.Atoi(c)
				return n
			}
		}
	}
	return 0
}

// A page of the same title made while `new` has its editor open (here by
// another command; a peer's arrives the same way) is not duplicated
// silently: `new` refuses as it would have before the editor, and keeps
// the text.
func TestEditorNewRechecksTheTitle(t *testing.T) {
	ada := InitRepo(t, "ada")
	editor, goAhead := waitingEditor(t, "my plan\n", 0)
	r := *ada
	r.Env = append(ada.Env[:len(ada.Env):len(ada.Env)], "EDITOR="+editor, "VISUAL=")
	u := startTUI(t, &r, "new", "Plan")
	Eventually(t, 5*time.Second, "the editor to open", func() bool {
		pw := childNamed(strings.TrimSpace(u.tmux("list-panes", "-F", "#{pane_pid}")), "peerwiki")
		return pw != 0 && childNamed(strconv.Itoa(pw), "") != 0
	})
	ada.OK("new", "Plan", "--body", "the other plan\n")
	os.WriteFile(goAhead, nil, 0o600)
	scr := u.waitFor(10*time.Second, "[exited 1]")
	m := regexp.MustCompile(`yourtextiskeptin(/\S+?\.md)`).FindStringSubmatch(strings.Join(strings.Fields(scr), ""))
	if m == nil || !strings.Contains(scr, `a page titled "Plan" exists`) {
		t.Fatalf("new did not refuse and keep the text:\n%s", scr)
	}
	if b, err := os.ReadFile(m[1]); err != nil || string(b) != "my plan\n" {
		t.Fatalf("kept %q (%v)", b, err)
	}
	if out := ada.OK("list"); strings.Count(out, "Plan") != 1 {
		t.Fatalf("pages after the refused new:\n%s", out)
	}
}
