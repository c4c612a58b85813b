package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// Drafts: the text $EDITOR writes lives in the repo, in drafts/, one
// folder an edit, until it is saved or the editor leaves it as it was.
// In the repo rather than $TMPDIR because a draft must outlive what ends
// the command without a word (a SIGKILL, the OOM killer, a power cut; a
// $TMPDIR on tmpfs is gone after the reboot) and the next edit must find
// it. A running edit holds an flock on its folder's lock file; the kernel
// lets go of it however the process ends, so a folder whose lock can be
// taken is an edit that did not finish. The next command that opens the
// editor says where such text is and how to save it; a draft the editor
// never changed is removed without a word.
//
// A folder is made as "new-*" and renamed to "edit-*" once it is locked
// and described, so a scan never mistakes one being set up for one left
// behind.

const (
	draftsDirName = "drafts"
	draftLockName = "lock"
	draftInfoName = "draft.json"
)

// draftInfo describes a draft for the edit that finds it left behind.
type draftInfo struct {
	// Page is the page's id (empty for a new page), Title its title.
	Page  string `json:"page,omitempty"`
	Title string `json:"title"`
	// Start is the text the editor opened on.
	Start string    `json:"start"`
	Began time.Time `json:"began"`
}

// draftsDir is where a repo's drafts live.
func draftsDir(r *wiki.Repo) string { return filepath.Join(r.Dir, draftsDirName) }

// newDraft makes a draft of text for the page (page empty: a new page
// titled title) under dir, locked by this process.
func newDraft(dir, page, title, text string) (*draft, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	setup, err := os.MkdirTemp(dir, "new-")
	if err != nil {
		return nil, err
	}
	d := &draft{start: text}
	fail := func(err error) (*draft, error) {
		if d.lock != nil {
			d.lock.Close()
		}
		os.RemoveAll(setup)
		return nil, err
	}
	if d.lock, err = os.OpenFile(filepath.Join(setup, draftLockName), os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return fail(err)
	}
	if err := unix.Flock(int(d.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(err)
	}
	info, err := json.Marshal(draftInfo{Page: page, Title: title, Start: text, Began: time.Now()})
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(setup, draftInfoName), info, 0o600); err != nil {
		return fail(err)
	}
	name := wiki.Slug(title)
	if name == "" {
		name = "page"
	}
	if err := os.WriteFile(filepath.Join(setup, name+".md"), []byte(text), 0o600); err != nil {
		return fail(err)
	}
	d.dir = filepath.Join(dir, "edit-"+strings.TrimPrefix(filepath.Base(setup), "new-"))
	if err := os.Rename(setup, d.dir); err != nil {
		return fail(err)
	}
	d.path = filepath.Join(d.dir, name+".md")
	return d, nil
}

// leftDraft is a draft of an edit that did not finish.
type leftDraft struct {
	path string
	info draftInfo
}

// leftDrafts returns the drafts under dir of edits that did not finish
// and hold text of their own, removing those their editor never changed
// (and those damaged past reading, which hold nothing to show). Drafts of
// edits still running are left alone.
func leftDrafts(dir string) []leftDraft {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []leftDraft
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "edit-") {
			continue
		}
		if l, ok := checkLeft(filepath.Join(dir, e.Name())); ok {
			out = append(out, l)
		}
	}
	return out
}

// checkLeft looks at one draft folder: a left draft with text of its
// own, or nothing (the folder removed when nothing in it is worth
// keeping, left alone while its edit runs).
func checkLeft(folder string) (leftDraft, bool) {
	lock, err := os.OpenFile(filepath.Join(folder, draftLockName), os.O_RDWR, 0)
	if err != nil {
		return leftDraft{}, false // not one of ours as we make them: leave it
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return leftDraft{}, false // its edit is running
	}
	var l leftDraft
	raw, err := os.ReadFile(filepath.Join(folder, draftInfoName))
	if err == nil {
		err = json.Unmarshal(raw, &l.info)
	}
	texts, _ := filepath.Glob(filepath.Join(folder, "*.md"))
	if err != nil || len(texts) != 1 {
		os.RemoveAll(folder)
		return leftDraft{}, false
	}
	l.path = texts[0]
	text, err := os.ReadFile(l.path)
	if err != nil || string(text) == l.info.Start {
		os.RemoveAll(folder)
		return leftDraft{}, false
	}
	return l, true
}

// reportLeftDrafts tells w of the drafts that edits which did not finish
// left in the repo, and how to save each.
func reportLeftDrafts(w io.Writer, r *wiki.Repo) {
	for _, l := range leftDrafts(draftsDir(r)) {
		how := "'peerwiki new " + shellQuote(l.info.Title) + " --file " + shellQuote(l.path) + "' saves it"
		if l.info.Page != "" {
			how = "'peerwiki edit " + l.info.Page + " --file " + shellQuote(l.path) + "' saves it"
		}
		fmt.Fprintf(w, "peerwiki: note: unsaved text of %q from an edit begun %s is kept in %s: %s; delete the file to drop it\n",
			termtext.Line(l.info.Title), l.info.Began.Local().Format("2006-01-02 15:04"), termtext.Line(l.path), how)
	}
}

// dropSavedDraft removes the draft folder of path once its text is saved
// with --file, when path is a draft of this repo that no running edit
// holds; anything else is left as it is.
func dropSavedDraft(r *wiki.Repo, path string) {
	if path == "" {
		return
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	folder := filepath.Dir(abs)
	dir, err := filepath.Abs(draftsDir(r))
	if err != nil || filepath.Dir(folder) != dir || !strings.HasPrefix(filepath.Base(folder), "edit-") {
		return
	}
	lock, err := os.OpenFile(filepath.Join(folder, draftLockName), os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		os.RemoveAll(folder)
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c == '/' || c == '.' || c == '-' || c == '_' || c == ':' || c == '+' || c == '=' ||
			c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
