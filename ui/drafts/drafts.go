// Package drafts keeps the text an external editor ($EDITOR) writes for a
// page until it is saved.
//
// Drafts live in the repo, in drafts/, one folder an edit, rather than in
// $TMPDIR: a draft must outlive whatever ends the command without a word
// (SIGKILL, the OOM killer, a power cut; a $TMPDIR on tmpfs is gone after
// the reboot), and the next edit must find it. A running edit holds an
// flock on its folder's lock file, which the kernel lets go of however the
// process ends: a folder whose lock can be taken is a draft nobody saved.
// LeftBehind lists those whose text the editor changed and removes the
// others.
//
// A folder is made as "new-*" and renamed to "edit-*" once it is locked
// and described, so that a scan never takes one being set up for one
// left behind.
package drafts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"peerwiki/wiki"
)

const (
	dirName  = "drafts"
	lockName = "lock"
	infoName = "draft.json"
)

// Dir is where the drafts of the repo in repoDir live.
func Dir(repoDir string) string { return filepath.Join(repoDir, dirName) }

// info describes a draft for whoever finds it left behind.
type info struct {
	Page  string    `json:"page,omitempty"`
	Title string    `json:"title"`
	Start string    `json:"start"`
	Began time.Time `json:"began"`
}

// Draft is the file an editor is given, held by this process.
type Draft struct {
	// Path is the file the editor edits.
	Path  string
	dir   string
	start string
	lock  *os.File
}

// New makes a draft holding text for the page with id page (empty for a
// new page) titled title, in the repo in repoDir, locked by this process
// until Discard or the process's end.
func New(repoDir, page, title, text string) (*Draft, error) {
	dir := Dir(repoDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	setup, err := os.MkdirTemp(dir, "new-")
	if err != nil {
		return nil, err
	}
	d := &Draft{start: text}
	fail := func(err error) (*Draft, error) {
		if d.lock != nil {
			d.lock.Close()
		}
		os.RemoveAll(setup)
		return nil, err
	}
	if d.lock, err = os.OpenFile(filepath.Join(setup, lockName), os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return fail(err)
	}
	if err := unix.Flock(int(d.lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(err)
	}
	raw, err := json.Marshal(info{Page: page, Title: title, Start: text, Began: time.Now()})
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(setup, infoName), raw, 0o600); err != nil {
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
	d.Path = filepath.Join(d.dir, name+".md")
	return d, nil
}

// Changed reports whether the draft's file holds other text than it was
// made with (an unreadable file counts as unchanged: nothing to keep).
func (d *Draft) Changed() bool {
	b, err := os.ReadFile(d.Path)
	return err == nil && string(b) != d.start
}

// Keep is err, saying where the draft is kept and, when retry is given,
// how to try again with it: the text could not be saved. A draft the
// editor left as it was made is discarded, and err returned as it is.
func (d *Draft) Keep(err error, retry string) error {
	if !d.Changed() {
		d.Discard()
		return err
	}
	if retry != "" {
		return fmt.Errorf("%w; your text is kept in %s (%s)", err, d.Path, retry)
	}
	return fmt.Errorf("%w; your text is kept in %s", err, d.Path)
}

// Discard removes the draft: its text is saved, or was never changed. A
// nil Draft is discarded as well.
func (d *Draft) Discard() {
	if d != nil {
		os.RemoveAll(d.dir)
		d.lock.Close()
	}
}

// Left is a draft nobody saved, of an edit that has ended.
type Left struct {
	// Path holds the text; Page is the page's id (empty for a page that
	// was to be made), Title its title, Began when the edit began.
	Path, Page, Title string
	Began             time.Time
}

// Note says where l's text is and how to save it, in a line.
func (l Left) Note() string {
	how := "'peerwiki new " + shellQuote(l.Title) + " --file " + shellQuote(l.Path) + "' saves it"
	if l.Page != "" {
		how = "'peerwiki edit " + shellQuote(l.Page) + " --file " + shellQuote(l.Path) + "' saves it"
	}
	return fmt.Sprintf("unsaved text of %q from an edit begun %s is kept in %s: %s; delete the file to drop it",
		l.Title, l.Began.Local().Format("2006-01-02 15:04"), l.Path, how)
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

// LeftBehind returns the drafts of the repo in repoDir whose edits have
// ended and whose text the editor changed, and removes those it never
// changed (and those damaged past reading, which hold nothing to show).
// The drafts of edits still running are left alone.
func LeftBehind(repoDir string) []Left {
	dir := Dir(repoDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Left
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "new-") {
			dropUnfinished(filepath.Join(dir, e.Name()), e)
			continue
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "edit-") {
			continue
		}
		if l, ok := checkLeft(filepath.Join(dir, e.Name())); ok {
			out = append(out, l)
		}
	}
	return out
}

// checkLeft looks at one draft folder: a draft left behind with text of
// its own, or nothing (the folder removed when nothing in it is worth
// keeping, left alone while its edit runs).
func checkLeft(folder string) (Left, bool) {
	lock, ok := take(folder)
	if !ok {
		return Left{}, false
	}
	defer lock.Close()
	var in info
	raw, err := os.ReadFile(filepath.Join(folder, infoName))
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	texts, _ := filepath.Glob(filepath.Join(folder, "*.md"))
	if err != nil || len(texts) != 1 {
		os.RemoveAll(folder)
		return Left{}, false
	}
	text, err := os.ReadFile(texts[0])
	if err != nil || string(text) == in.Start {
		os.RemoveAll(folder)
		return Left{}, false
	}
	return Left{Path: texts[0], Page: in.Page, Title: in.Title, Began: in.Began}, true
}

// dropUnfinished removes a folder New began and never finished (its
// process ended while setting it up: it holds no text yet), once it is a
// minute old and nobody holds its lock.
func dropUnfinished(folder string, e os.DirEntry) {
	st, err := e.Info()
	if err != nil || time.Since(st.ModTime()) < time.Minute {
		return
	}
	if lock, ok := take(folder); ok {
		os.RemoveAll(folder)
		lock.Close()
	}
}

// take takes the lock of a draft folder made by New, when no running
// edit holds it; the caller closes the file to let go of it.
func take(folder string) (*os.File, bool) {
	lock, err := os.OpenFile(filepath.Join(folder, lockName), os.O_RDWR, 0)
	if err != nil {
		return nil, false // not a folder New made: leave it
	}
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		lock.Close()
		return nil, false // its edit is running
	}
	return lock, true
}

// DropSaved removes the draft folder of path once its text has been
// saved some other way (a command's --file), when path is a draft of the
// repo in repoDir that no running edit holds; any other path is left as
// it is.
func DropSaved(repoDir, path string) {
	if path == "" {
		return
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return
	}
	folder := filepath.Dir(abs)
	dir, err := filepath.Abs(Dir(repoDir))
	if err != nil || filepath.Dir(folder) != dir || !strings.HasPrefix(filepath.Base(folder), "edit-") {
		return
	}
	if lock, ok := take(folder); ok {
		os.RemoveAll(folder)
		lock.Close()
	}
}
