package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/merge"
	"peerwiki/ui/graph"
	"peerwiki/wiki"
)

// base is what every screen's layout needs.
type base struct {
	Title string
	CSRF  string
	// Live makes the page reload its content when the store changes;
	// forms being filled in are not (they say so instead).
	Live  bool
	Flash string
	// Commits is the store's commit counter before the page was read: a
	// change event at or below it is already shown.
	Commits int64
	// Net is what the node running on the repo says of the network.
	Net network
}

func (s *Server) base(title string, live bool) base {
	n, _ := s.repo.ChangeCount(context.Background())
	return base{Title: title, CSRF: s.csrf, Live: live, Commits: n, Net: s.node.readNetwork(context.Background(), s.repo)}
}

// render executes a template whole before anything is sent, so that a
// failure is an error page, never half of one.
func (s *Server) render(w http.ResponseWriter, name string, status int, data any) {
	var buf bytes.Buffer
	if err := templates()[name].Execute(&buf, data); err != nil {
		s.opts.Log.Warn("render", "template", name, "err", err)
		http.Error(w, "the page could not be drawn: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct {
	base
	Message string
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	status := errStatus(err)
	if status == http.StatusInternalServerError {
		s.opts.Log.Warn("request failed", "err", err)
	}
	s.render(w, "error", status, errorData{s.base(http.StatusText(status), false), err.Error()})
}

// formText is a text field as typed: browsers send a textarea's line ends
// as CRLF whatever the text had, so they become LF again.
func formText(r *http.Request, name string) string {
	return strings.ReplaceAll(r.PostFormValue(name), "\r\n", "\n")
}

// shortRev abbreviates a page or revision id; an undefined one (no
// revision) is empty.
func shortRev(c cid.Cid) string {
	if !c.Defined() {
		return ""
	}
	s := c.String()
	return s[:min(len(s), 15)]
}

// minute, second and stamp write a time in UTC: to the minute, to the
// second, and to the millisecond as the command line does.
func minute(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }
func second(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }
func stamp(t time.Time) string  { return t.UTC().Format(wiki.TimeFormat) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// page finds the page a URL's {id} names.
func (s *Server) page(r *http.Request) (history.PageRow, error) {
	return s.repo.FindPage(r.Context(), r.PathValue("id"))
}

func pageURL(id string) string { return "/page/" + url.PathEscape(id) }

// --- the list ---

type listData struct {
	base
	Filter, Search string
	Pages          []wiki.PageInfo
	Hits           []searchHit
	Searched       bool
	Conflicts      int
}

type searchHit struct {
	ID, Title, Snippet string
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := listData{base: s.base("Pages", true), Filter: r.URL.Query().Get("q"), Search: strings.TrimSpace(r.URL.Query().Get("search"))}
	pages, err := s.repo.List(ctx, false, false)
	if err != nil {
		s.fail(w, err)
		return
	}
	for _, p := range pages {
		if p.Conflict {
			d.Conflicts++
		}
		if d.Filter == "" || strings.Contains(strings.ToLower(p.Title), strings.ToLower(d.Filter)) {
			d.Pages = append(d.Pages, p)
		}
	}
	if d.Search != "" {
		d.Searched = true
		hits, err := s.repo.Search(ctx, d.Search, 50)
		if err != nil {
			d.Flash = err.Error()
		}
		for _, h := range hits {
			d.Hits = append(d.Hits, searchHit{h.Page.String(), h.Title, strings.Join(strings.Fields(h.Snippet), " ")})
		}
	}
	s.render(w, "list", http.StatusOK, d)
}

// handleGo follows a [[link]]: to the one live page of that title, to a
// new page of it when there is none, to the list when several share it.
func (s *Server) handleGo(w http.ResponseWriter, r *http.Request) {
	title := r.URL.Query().Get("title")
	ps, err := s.repo.LivePagesTitled(r.Context(), title)
	if err != nil {
		s.fail(w, err)
		return
	}
	switch len(ps) {
	case 0:
		http.Redirect(w, r, "/new?title="+url.QueryEscape(title), http.StatusSeeOther)
	case 1:
		http.Redirect(w, r, pageURL(ps[0].ID.String()), http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/?q="+url.QueryEscape(title), http.StatusSeeOther)
	}
}

// --- a page ---

type pageData struct {
	base
	View *wiki.PageView
	// Editing lists the other replicas editing the page now.
	Editing []editor
	// Rev is the revision shown when it is not the head.
	Rev     *wiki.Version
	HTML    template.HTML
	Missing []string
}

// view reads the page a URL names for a live screen, with the commit
// counter read before it; ok is false when an error page was sent.
func (s *Server) view(w http.ResponseWriter, r *http.Request) (b base, p history.PageRow, v *wiki.PageView, ok bool) {
	b = s.base("", true)
	p, err := s.page(r)
	if err == nil {
		v, err = s.repo.View(r.Context(), p)
	}
	if err != nil {
		s.fail(w, err)
		return b, p, nil, false
	}
	return b, p, v, true
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	b, p, v, ok := s.view(w, r)
	if !ok {
		return
	}
	b.Title = v.Title
	d := pageData{base: b, View: v, Editing: b.Net.Editing[v.ID.String()], Missing: v.MissingLinks}
	body := v.Body
	if ref := r.URL.Query().Get("rev"); ref != "" {
		c, err := s.repo.FindRevision(ctx, ref, p.ID)
		if err != nil {
			s.fail(w, err)
			return
		}
		ver, _, err := s.repo.RevisionVersion(ctx, c)
		if err != nil {
			s.fail(w, err)
			return
		}
		d.Rev, d.Title, body = &ver, ver.Title, ver.Body
		if d.Missing, err = s.repo.MissingLinks(ctx, wiki.Links(body)); err != nil {
			s.fail(w, err)
			return
		}
	}
	html, err := renderMarkdown(body, d.Missing)
	if err != nil {
		s.fail(w, err)
		return
	}
	d.HTML = template.HTML(html) // goldmark's output, safe by construction (markdown.go)
	s.render(w, "page", http.StatusOK, d)
}

// --- history and diffs ---

type historyData struct {
	base
	Page history.PageRow
	Rows []graphRow
	// HistoryMissing: older revisions of the page are not on this
	// (shallow) replica yet.
	HistoryMissing bool
}

// graphRow is one line of the drawing: the graph's characters, and the
// revision when the line has one.
type graphRow struct {
	Graph string
	Entry *wiki.LogEntry
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	b := s.base("", true)
	p, err := s.page(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	entries, err := s.repo.Log(r.Context(), p.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	b.Title = "History of " + p.Title
	d := historyData{base: b, Page: p}
	if shallow, err := s.repo.ReplicationStore().PageShallow(r.Context(), p.ID); err == nil && shallow {
		d.HistoryMissing = true
	}
	// The describe function marks where each revision's line is: Lines
	// draws one such line per entry, in their order. The revision itself
	// is shown by the template, escaped.
	next := 0
	for _, line := range graph.Lines(entries, func(wiki.LogEntry) string { return "\x00" }) {
		g, _, ok := strings.Cut(line, "\x00")
		row := graphRow{Graph: strings.TrimRight(g, " ")}
		if ok && next < len(entries) {
			row.Entry = &entries[next]
			next++
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, "history", http.StatusOK, d)
}

type diffData struct {
	base
	Page             history.PageRow
	A, B             wiki.Version
	TitleChanged     bool
	DeletedChanged   bool
	Lines            []diffLine
	NoBodyDifference bool
	// HistoryMissing: the revision before B is not on this (shallow)
	// replica yet.
	HistoryMissing bool
}

type diffLine struct {
	Class, Text string
}

// handleDiff compares revisions a and b of a page: by default what the
// head's last revision changed, or the latest head against another.
func (s *Server) handleDiff(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.page(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	var a, b wiki.Version
	ref := func(name string) (cid.Cid, error) {
		if v := r.URL.Query().Get(name); v != "" {
			return s.repo.FindRevision(ctx, v, p.ID)
		}
		return cid.Undef, nil
	}
	ca, err := ref("a")
	if err != nil {
		s.fail(w, err)
		return
	}
	cb, err := ref("b")
	if err != nil {
		s.fail(w, err)
		return
	}
	if !cb.Defined() {
		cb = p.Rev
	}
	if b, _, err = s.repo.RevisionVersion(ctx, cb); err != nil {
		s.fail(w, err)
		return
	}
	if !ca.Defined() {
		rev, err := s.repo.Revision(ctx, cb)
		if err != nil {
			s.fail(w, err)
			return
		}
		if len(rev.Parents) > 0 {
			ca = rev.Parents[0].Cid
			if has, err := s.repo.ReplicationStore().Has(ctx, ca); err == nil && !has {
				s.render(w, "diff", http.StatusOK, diffData{base: s.base("Diff of "+p.Title, false), Page: p, B: b, HistoryMissing: true})
				return
			}
		}
	}
	if ca.Defined() {
		if a, _, err = s.repo.RevisionVersion(ctx, ca); err != nil {
			s.fail(w, err)
			return
		}
	}
	d := diffData{base: s.base("Diff of "+p.Title, false), Page: p, A: a, B: b,
		TitleChanged: a.Title != b.Title, DeletedChanged: a.Deleted != b.Deleted}
	text := merge.Unified(a.Body, b.Body, "a/"+shortRev(a.Rev), "b/"+shortRev(b.Rev), 3)
	d.NoBodyDifference = text == ""
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		class := ""
		switch {
		case text == "":
			continue
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			class = "file"
		case strings.HasPrefix(l, "+"):
			class = "add"
		case strings.HasPrefix(l, "-"):
			class = "del"
		case strings.HasPrefix(l, "@@"):
			class = "hunk"
		}
		d.Lines = append(d.Lines, diffLine{class, l})
	}
	s.render(w, "diff", http.StatusOK, d)
}

// --- editing ---

type editData struct {
	base
	New     bool
	Action  string
	PageID  string
	Parent  string
	Body    string
	Msg     string
	Preview template.HTML
	Error   string
	// Changed says the page got a revision since the form was opened:
	// saving makes a conflict, which the page will offer to resolve.
	Changed bool
}

func (s *Server) handleNewForm(w http.ResponseWriter, r *http.Request) {
	d := editData{base: s.base("New page", false), New: true, Action: "/new"}
	d.base.Title = r.URL.Query().Get("title")
	s.render(w, "edit", http.StatusOK, d)
}

func (s *Server) handleNew(w http.ResponseWriter, r *http.Request) {
	d := editData{base: s.base(r.PostFormValue("title"), false), New: true, Action: "/new",
		Body: formText(r, "body"), Msg: r.PostFormValue("msg")}
	if r.PostFormValue("action") == "preview" {
		s.preview(w, r.Context(), d)
		return
	}
	id, err := s.repo.Create(r.Context(), d.Title, d.Body, d.Msg)
	if err != nil {
		d.Error = err.Error()
		s.render(w, "edit", errStatus(err), d)
		return
	}
	http.Redirect(w, r, pageURL(id.String()), http.StatusSeeOther)
}

// preview renders the form again with the body rendered above it.
func (s *Server) preview(w http.ResponseWriter, ctx context.Context, d editData) {
	var err error
	if d.Preview, err = s.renderBody(ctx, d.Body); err != nil {
		d.Error = err.Error()
	}
	s.render(w, "edit", http.StatusOK, d)
}

// renderBody renders a body with its links to missing pages marked.
func (s *Server) renderBody(ctx context.Context, body string) (template.HTML, error) {
	missing, err := s.repo.MissingLinks(ctx, wiki.Links(body))
	if err != nil {
		return "", err
	}
	html, err := renderMarkdown(body, missing)
	// goldmark's output, safe by construction (markdown.go).
	return template.HTML(html), err
}

func (s *Server) handleEditForm(w http.ResponseWriter, r *http.Request) {
	p, err := s.page(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	heads, err := s.repo.CurrentHeads(r.Context(), p.ID)
	if err != nil {
		// Several versions: the conflict screen is where to go.
		http.Redirect(w, r, pageURL(p.ID.String())+"/conflict", http.StatusSeeOther)
		return
	}
	v, _, err := s.repo.RevisionVersion(r.Context(), heads[0])
	if err != nil {
		s.fail(w, err)
		return
	}
	d := editData{base: s.base(v.Title, false), Action: pageURL(p.ID.String()) + "/edit", PageID: p.ID.String(),
		Parent: v.Rev.String(), Body: v.Body}
	s.render(w, "edit", http.StatusOK, d)
}

// handleEdit saves an edit built on the revision the form was opened on:
// when the page moved on meanwhile (a peer's edit), the result is a
// conflict, as on a replica that was offline, and nothing is lost.
func (s *Server) handleEdit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.page(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	d := editData{base: s.base(r.PostFormValue("title"), false), Action: pageURL(p.ID.String()) + "/edit", PageID: p.ID.String(),
		Parent: r.PostFormValue("parent"), Body: formText(r, "body"), Msg: r.PostFormValue("msg")}
	d.Changed = d.Parent != p.Rev.String()
	if r.PostFormValue("action") == "preview" {
		s.preview(w, ctx, d)
		return
	}
	parent, err := s.repo.FindRevision(ctx, d.Parent, p.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	title, body := d.Title, d.Body
	if _, err := s.repo.Edit(ctx, p.ID, wiki.Edit{Title: &title, Body: &body, Msg: d.Msg, Parent: parent}); err != nil {
		d.Error = err.Error()
		s.render(w, "edit", errStatus(err), d)
		return
	}
	http.Redirect(w, r, pageURL(p.ID.String()), http.StatusSeeOther)
}

// write runs a form's write on the page its URL names, then shows the
// page (or the list, when the write says so).
func (s *Server) write(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, p history.PageRow) (to string, err error)) {
	p, err := s.page(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	to, err := do(r.Context(), p)
	if err != nil {
		s.fail(w, err)
		return
	}
	if to == "" {
		to = pageURL(p.ID.String())
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) handleRename(w http.ResponseWriter, r *http.Request) {
	s.write(w, r, func(ctx context.Context, p history.PageRow) (string, error) {
		title := r.PostFormValue("title")
		_, err := s.repo.Edit(ctx, p.ID, wiki.Edit{Title: &title, Msg: r.PostFormValue("msg")})
		return "", err
	})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.write(w, r, func(ctx context.Context, p history.PageRow) (string, error) {
		_, err := s.repo.Delete(ctx, p.ID, r.PostFormValue("msg"))
		return "/", err
	})
}

// --- conflicts ---

type conflictData struct {
	base
	Page     history.PageRow
	Versions []conflictVersion
	// Merged is the heads' bodies merged line by line, with conflict
	// markers where they disagree: where editing the merge starts.
	Merged    string
	Conflicts int
	MergeTo   string // the title the merge form starts with
	// Heads are the versions shown, sent back by the forms: a resolution
	// is refused when they are no longer the page's heads.
	Heads string
}

type conflictVersion struct {
	wiki.Version
	HTML template.HTML
}

func (s *Server) handleConflict(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	b, p, v, ok := s.view(w, r)
	if !ok {
		return
	}
	if !v.Conflict {
		http.Redirect(w, r, pageURL(p.ID.String()), http.StatusSeeOther)
		return
	}
	b.Title = "Conflict: " + v.Title
	d := conflictData{base: b, Page: p, MergeTo: v.Title, Heads: joinCIDs(v.Heads)}
	if r.URL.Query().Get("changed") != "" {
		d.Flash = "New versions arrived while you were resolving: here they all are."
	}
	for _, ver := range v.Versions {
		html, err := s.renderBody(ctx, ver.Body)
		if err != nil {
			s.fail(w, err)
			return
		}
		d.Versions = append(d.Versions, conflictVersion{ver, html})
	}
	var err error
	if d.Merged, d.Conflicts, err = s.mergedBody(ctx, p.ID, v.Versions); err != nil {
		s.fail(w, err)
		return
	}
	s.render(w, "conflict", http.StatusOK, d)
}

// mergedBody folds the heads' bodies into one, each against the base the
// merge policy would use, with git-style markers where they conflict.
func (s *Server) mergedBody(ctx context.Context, page cid.Cid, versions []wiki.Version) (string, int, error) {
	heads := make([]cid.Cid, len(versions))
	for i, v := range versions {
		heads[i] = v.Rev
	}
	merged, conflicts := versions[0].Body, 0
	label := func(v wiki.Version) string { return fmt.Sprintf("%s by %s", shortRev(v.Rev), v.Name) }
	so := label(versions[0])
	for k := 1; k < len(versions); k++ {
		b, err := s.repo.FoldBase(ctx, page, heads[:k], heads[k])
		if err != nil {
			return "", 0, err
		}
		out, n, err := merge.MergeFile([]byte(merged), []byte(b.Body), []byte(versions[k].Body), false,
			[3]string{so, "base", label(versions[k])})
		if err != nil {
			return "", 0, err
		}
		merged, conflicts, so = string(out), conflicts+n, "merged so far"
	}
	return merged, conflicts, nil
}

// handleResolve ends a conflict: take one version, or save an edited
// merge; either way one revision whose parents are all the heads.
func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request) {
	s.write(w, r, func(ctx context.Context, p history.PageRow) (string, error) {
		if seen := r.PostFormValue("heads"); seen != "" {
			heads, err := s.repo.Heads(ctx, p.ID)
			if err != nil {
				return "", err
			}
			if seen != joinCIDs(heads) { // a version the person has not seen
				return pageURL(p.ID.String()) + "/conflict?changed=1", nil
			}
		}
		res := wiki.Resolution{Msg: r.PostFormValue("msg")}
		if take := r.PostFormValue("take"); take != "" {
			var err error
			if res.Take, err = s.repo.FindRevision(ctx, take, p.ID); err != nil {
				return "", err
			}
		} else {
			title, body := r.PostFormValue("title"), formText(r, "body")
			res.Title, res.Body = &title, &body
		}
		_, err := s.repo.Resolve(ctx, p.ID, res)
		return "", err
	})
}

func joinCIDs(cs []cid.Cid) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return strings.Join(out, ",")
}
