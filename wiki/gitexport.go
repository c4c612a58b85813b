package wiki

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// The git export: one git commit per revision, through `git fast-import`.
//
// Git commits are snapshots of every file, peerwiki's revisions are per
// page, so the export stitches the pages' DAGs into one history. Revisions
// are taken in (time, height, CID) order, which puts parents first. The
// branch "main" holds one version of each page: a revision that builds on
// the version main holds (or starts a page) is committed on main, on top of
// main's last commit, with main's last commit standing for that parent; any
// other parents are merge parents. A revision that builds on another
// version (a divergent edit) is committed on top of its parent's own commit,
// off main, and a head off main is a branch "conflict/...". A resolution
// lists every head it merges, so it is a merge commit whose parents are
// main and those branches.
//
// A page is a file named by its title (made safe); a rename is a rename,
// which `git log --follow` follows. State kept in the repository's git
// directory (gitExportState) makes a second run add only revisions stored
// since.

// ErrGitExportDir is returned for a folder that is neither new, empty, nor
// an earlier git export of this wiki.
var ErrGitExportDir = errors.New("not an export of this wiki")

// GitExport says what ExportGit did.
type GitExport struct {
	Commits  int      `json:"commits"`  // added by this run
	Total    int      `json:"total"`    // revisions exported, all runs
	Branches []string `json:"branches"` // conflict branches now
}

// gitExportState is what a later run needs: which commit (fast-import
// mark) each revision became and the path its page had there, which version
// of each page main holds, and where to start reading revisions.
type gitExportState struct {
	Wiki     string              `json:"wiki"`
	After    int64               `json:"after"` // RevisionsAfter watermark
	NextMark int                 `json:"next_mark"`
	Tip      int                 `json:"tip"` // main's last commit
	Revs     map[string]gitRev   `json:"revs"`
	Main     map[string]string   `json:"main"`  // page -> revision on main
	Files    map[string]string   `json:"files"` // page -> its path on main ("" when deleted)
	Branches map[string][]string `json:"branches"`
}

type gitRev struct {
	Mark int    `json:"mark"`
	Path string `json:"path,omitempty"`
}

const (
	gitStateFile = "peerwiki-export.json"
	gitMarksFile = "peerwiki-export.marks"
	gitSideRef   = "refs/peerwiki/side"
)

// ExportGit writes the wiki's history into the git repository at dir,
// creating it when dir is missing or empty; a later run adds only the
// revisions stored since. dir's work tree is checked out to main: it is
// the export's, not a place to edit.
func (r *Repo) ExportGit(ctx context.Context, dir string) (GitExport, error) {
	var out GitExport
	gitDir, st, err := openGitExport(ctx, dir, r.Config.Wiki)
	if err != nil {
		return out, err
	}
	revs, err := r.newRevisions(ctx, st)
	if err != nil {
		return out, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "fast-import", "--quiet", "--date-format=raw",
		"--import-marks-if-exists="+filepath.Join(gitDir, gitMarksFile), "--export-marks="+filepath.Join(gitDir, gitMarksFile))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return out, err
	}
	if err := cmd.Start(); err != nil {
		return out, fmt.Errorf("git fast-import: %w", err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	g := &gitStream{w: w, st: st}
	werr := g.commits(ctx, r, revs)
	if werr == nil {
		werr = g.refs(ctx, r)
	}
	if werr == nil {
		werr = w.Flush()
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return out, fmt.Errorf("git fast-import: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if werr != nil {
		return out, werr
	}
	for _, del := range append(g.gone, gitSideRef) {
		if err := runGit(ctx, dir, "update-ref", "-d", del); err != nil {
			return out, err
		}
	}
	if err := saveGitState(gitDir, st); err != nil {
		return out, err
	}
	if err := runGit(ctx, dir, "reset", "-q", "--hard", "main"); err != nil {
		return out, err
	}
	out.Commits, out.Total = len(revs), len(st.Revs)
	out.Branches = []string{}
	for _, bs := range st.Branches {
		out.Branches = append(out.Branches, bs...)
	}
	slices.Sort(out.Branches)
	return out, nil
}

// openGitExport makes dir a git repository for the export, or opens an
// earlier export of the same wiki, and returns its git directory and state.
func openGitExport(ctx context.Context, dir, wikiID string) (string, *gitExportState, error) {
	gitDir := filepath.Join(dir, ".git")
	st := &gitExportState{Wiki: wikiID, NextMark: 1, Revs: map[string]gitRev{}, Main: map[string]string{},
		Files: map[string]string{}, Branches: map[string][]string{}}
	b, err := os.ReadFile(filepath.Join(gitDir, gitStateFile))
	if err == nil {
		if err := json.Unmarshal(b, st); err != nil {
			return "", nil, fmt.Errorf("git export state %s: %w", filepath.Join(gitDir, gitStateFile), err)
		}
		if st.Wiki != wikiID {
			return "", nil, fmt.Errorf("%w: %s is an export of wiki %s", ErrGitExportDir, dir, st.Wiki)
		}
		return gitDir, st, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return "", nil, fmt.Errorf("%w: %s is not empty", ErrGitExportDir, dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	if err := runGit(ctx, dir, "init", "-q", "-b", "main"); err != nil {
		return "", nil, err
	}
	return gitDir, st, nil
}

func runGit(ctx context.Context, dir string, args ...string) error {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

func saveGitState(gitDir string, st *gitExportState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(gitDir, gitStateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(gitDir, gitStateFile))
}

// exportRev is a revision to commit.
type exportRev struct {
	cid  cid.Cid
	page cid.Cid
	rev  *history.Revision
}

// newRevisions reads the revisions stored since the last run, parents
// first in (time, height, CID) order, and advances the watermark.
func (r *Repo) newRevisions(ctx context.Context, st *gitExportState) ([]exportRev, error) {
	var out []exportRev
	settings, members := r.SettingsPage(), r.MembersPage()
	for {
		batch, after, err := r.store.RevisionsAfter(ctx, st.After, 5000)
		if err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			break
		}
		st.After = after
		for _, n := range batch {
			if _, done := st.Revs[n.Cid.String()]; done || n.Page.Equals(settings) || n.Page.Equals(members) {
				continue // the settings and members pages are the wiki's own, not pages
			}
			rev, err := r.store.Revision(ctx, n.Cid)
			if err != nil {
				return nil, err
			}
			out = append(out, exportRev{n.Cid, n.Page, rev})
		}
	}
	slices.SortFunc(out, func(a, b exportRev) int {
		return cmp.Or(cmp.Compare(a.rev.Time, b.rev.Time), cmp.Compare(a.rev.Height, b.rev.Height),
			bytes.Compare(a.cid.Bytes(), b.cid.Bytes()))
	})
	return out, nil
}

// gitStream writes the fast-import commands of an export.
type gitStream struct {
	w    *bufio.Writer
	st   *gitExportState
	gone []string
}

func (g *gitStream) commits(ctx context.Context, r *Repo, revs []exportRev) error {
	for _, e := range revs {
		if err := ctx.Err(); err != nil {
			return err
		}
		body, err := r.store.Body(ctx, e.rev.Body.Cid)
		if err != nil {
			return err
		}
		g.commit(e, body)
	}
	return nil
}

// commit writes one revision's commit and records it in the state.
func (g *gitStream) commit(e exportRev, body string) {
	st, page, self := g.st, e.page.String(), e.cid.String()
	parents := make([]string, len(e.rev.Parents))
	for i, p := range e.rev.Parents {
		parents[i] = p.String()
	}
	onMain := len(parents) == 0 || slices.Contains(parents, st.Main[page])
	mark := st.NextMark
	st.NextMark++
	var from int
	var merges []int
	var oldPath string
	if onMain {
		from, oldPath = st.Tip, st.Files[page]
		for _, p := range parents {
			if p != st.Main[page] {
				merges = append(merges, st.Revs[p].Mark)
			}
		}
	} else {
		first := st.Revs[parents[0]]
		from, oldPath = first.Mark, first.Path
		for _, p := range parents[1:] {
			merges = append(merges, st.Revs[p].Mark)
		}
	}
	path := ""
	if !e.rev.Deleted {
		path = g.path(page, e.rev.Title, oldPath, onMain)
	}

	ref := gitSideRef
	if onMain {
		ref = "refs/heads/main"
	}
	fmt.Fprintf(g.w, "commit %s\nmark :%d\n", ref, mark)
	name, email := gitAuthor(e.rev)
	secs := min(e.rev.Time/1000, 253402300799) // git's dates end in year 9999
	fmt.Fprintf(g.w, "author %s <%s> %d +0000\ncommitter %s <%s> %d +0000\n", name, email, secs, name, email, secs)
	msg := gitMessage(e.rev, self)
	fmt.Fprintf(g.w, "data %d\n%s\n", len(msg), msg)
	if from > 0 {
		fmt.Fprintf(g.w, "from :%d\n", from)
	}
	for _, m := range merges {
		fmt.Fprintf(g.w, "merge :%d\n", m)
	}
	if oldPath != "" && oldPath != path {
		fmt.Fprintf(g.w, "D %s\n", gitQuote(oldPath))
	}
	if path != "" {
		fmt.Fprintf(g.w, "M 100644 inline %s\ndata %d\n%s\n", gitQuote(path), len(body), body)
	}
	st.Revs[self] = gitRev{Mark: mark, Path: path}
	if onMain {
		st.Tip, st.Main[page], st.Files[page] = mark, self, path
	}
}

// path is the file a page's revision titled title is written to: its
// current path when the title still names it, else a name made from the
// title, kept apart on main from other pages' files.
func (g *gitStream) path(page, title, oldPath string, onMain bool) string {
	name := gitFileName(title)
	if oldPath == name || !onMain {
		return name
	}
	taken := func(p string) bool {
		for other, f := range g.st.Files {
			if other != page && strings.EqualFold(f, p) {
				return true
			}
		}
		return false
	}
	if taken(name) {
		name = strings.TrimSuffix(name, ".md") + " (" + Short(cid.MustParse(page)) + ").md"
	}
	return name
}

// refs points a branch at every head off main and drops branches of
// conflicts that ended.
func (g *gitStream) refs(ctx context.Context, r *Repo) error {
	st := g.st
	old := st.Branches
	st.Branches = map[string][]string{}
	conflicted, err := r.store.Conflicted(ctx)
	if err != nil {
		return err
	}
	now := map[string]bool{}
	for _, p := range conflicted {
		heads, err := r.store.Heads(ctx, p.ID)
		if err != nil {
			return err
		}
		page := p.ID.String()
		for _, h := range heads {
			hs := h.String()
			gr, ok := st.Revs[hs]
			if !ok || hs == st.Main[page] {
				continue
			}
			ref := "conflict/" + strings.TrimSuffix(gitFileName(p.Title), ".md") + "-" + Short(h)
			ref = gitRefName(ref)
			fmt.Fprintf(g.w, "reset refs/heads/%s\nfrom :%d\n\n", ref, gr.Mark)
			st.Branches[page] = append(st.Branches[page], ref)
			now[ref] = true
		}
	}
	for _, bs := range old {
		for _, b := range bs {
			if !now[b] {
				g.gone = append(g.gone, "refs/heads/"+b)
			}
		}
	}
	return nil
}

// gitFileName makes a title a file name: path separators and control
// characters replaced, no leading dot, bounded length, ".md" added.
func gitFileName(title string) string {
	var b strings.Builder
	for _, c := range title {
		switch {
		case c == '/' || c == '\\':
			b.WriteRune('-')
		case unicode.IsControl(c) || c == utf8.RuneError:
		default:
			b.WriteRune(c)
		}
		if b.Len() > 200 {
			break
		}
	}
	s := strings.TrimSpace(b.String())
	s = strings.TrimLeft(s, ".")
	if s == "" {
		s = "page"
	}
	return s + ".md"
}

// gitRefName makes a branch name git accepts (git check-ref-format).
func gitRefName(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("~^:?*[\\", c) || c >= 0x80 {
			b.WriteByte('-')
		} else {
			b.WriteRune(c)
		}
	}
	out := b.String()
	for strings.Contains(out, "..") {
		out = strings.ReplaceAll(out, "..", ".")
	}
	for strings.Contains(out, "@{") {
		out = strings.ReplaceAll(out, "@{", "-")
	}
	out = strings.ReplaceAll(out, "/.", "/-")
	return strings.TrimSuffix(strings.TrimSuffix(out, "."), ".lock")
}

// gitQuote quotes a path for fast-import when it needs it.
func gitQuote(p string) string {
	if !strings.ContainsAny(p, "\"\n\\") && !strings.HasPrefix(p, " ") {
		return p
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(p) {
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// gitAuthor is a revision's author as git takes one: the display name
// without what would end it, and the peer id as the address.
func gitAuthor(rev *history.Revision) (string, string) {
	if rev.IsAuto() {
		return "peerwiki " + gitSafe(rev.Policy) + " policy", "auto@peerwiki"
	}
	name := gitSafe(rev.Name)
	if name == "" {
		name = "anonymous"
	}
	return name, rev.AuthorID().String() + "@peerwiki"
}

func gitSafe(s string) string {
	return strings.TrimSpace(strings.Map(func(c rune) rune {
		if c == '<' || c == '>' || unicode.IsControl(c) {
			return -1
		}
		return c
	}, s))
}

// gitMessage is a revision's commit message: its message, or what it did,
// with the revision's id as a trailer.
func gitMessage(rev *history.Revision, self string) string {
	msg := strings.TrimSpace(rev.Msg)
	if msg == "" {
		switch {
		case len(rev.Parents) == 0:
			msg = "Create " + rev.Title
		case rev.Deleted:
			msg = "Delete " + rev.Title
		case rev.IsAuto():
			msg = "Merge " + rev.Title + " (" + rev.Policy + " policy)"
		case len(rev.Parents) > 1:
			msg = "Resolve " + rev.Title
		default:
			msg = "Edit " + rev.Title
		}
	}
	return msg + "\n\nPeerwiki-Revision: " + self
}
