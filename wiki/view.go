package wiki

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/merge"
)

// TimeFormat is how times appear in JSON and in listings (UTC, ms).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime renders an HLC time (ms since the epoch).
func FormatTime(ms int64) string { return revisionTime(ms).Format(TimeFormat) }

// revisionTime is an HLC time (ms since the epoch) as a time in UTC.
func revisionTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// PageInfo is a page as the page list and a page's view report it. Each
// UI makes its own text of it; the command line's JSON shapes are in
// ui/cli/output.go.
type PageInfo struct {
	ID       cid.Cid
	Title    string
	Rev      cid.Cid   // the latest head
	Heads    []cid.Cid // latest first
	Conflict bool
	Deleted  bool
	Policy   string
	Updated  time.Time
	Created  time.Time
}

// EditingBy is another replica's editor open on a page.
type EditingBy struct {
	PeerID string `json:"peer_id"`
	Name   string `json:"name"`
	Since  string `json:"since"`
}

// Version is one head of a page, or one revision, with its content.
type Version struct {
	// Rev is undefined for a version no revision holds (a FoldBase of
	// several common ancestors).
	Rev     cid.Cid
	Title   string
	Body    string
	Deleted bool
	Author  string // the author's peer id; empty for an automatic merge
	Name    string
	Time    time.Time
}

// PageRef names a page in a list of links.
type PageRef struct {
	ID    cid.Cid
	Title string
}

// PageView is a page as a UI shows it.
type PageView struct {
	PageInfo
	Body      string
	Versions  []Version // every head's, for a conflicted page
	Links     []string
	Backlinks []PageRef
	// MissingLinks are the Links no live page has (a wiki's red links).
	MissingLinks []string
}

// Info builds the list/show summary of a page row.
func (r *Repo) Info(ctx context.Context, p history.PageRow) (PageInfo, error) {
	heads, err := r.store.Heads(ctx, p.ID)
	if err != nil {
		return PageInfo{}, err
	}
	wp, err := r.WikiPolicy(ctx)
	if err != nil {
		return PageInfo{}, err
	}
	return r.info(p, heads, wp), nil
}

func (r *Repo) info(p history.PageRow, heads []cid.Cid, wikiPolicy merge.Policy) PageInfo {
	policy := strings.TrimPrefix(p.Policy, "=")
	if policy == "" {
		policy = string(wikiPolicy)
	}
	return PageInfo{ID: p.ID, Title: p.Title, Rev: p.Rev, Heads: heads, Conflict: p.Versions > 1,
		Deleted: p.Deleted, Policy: policy, Updated: revisionTime(p.Updated), Created: revisionTime(p.Created)}
}

// RevisionVersion reads one revision with its body.
func (r *Repo) RevisionVersion(ctx context.Context, c cid.Cid) (Version, *history.Revision, error) {
	rev, err := r.store.Revision(ctx, c)
	if err != nil {
		return Version{}, nil, err
	}
	body, err := r.store.Body(ctx, rev.Body.Cid)
	if err != nil {
		return Version{}, nil, err
	}
	return Version{Rev: c, Title: rev.Title, Body: body, Deleted: rev.Deleted,
		Author: rev.AuthorID().String(), Name: rev.Name, Time: revisionTime(rev.Time)}, rev, nil
}

// View reads a page for `show`: the head's content, every version when
// it is conflicted, its links and backlinks.
func (r *Repo) View(ctx context.Context, p history.PageRow) (*PageView, error) {
	info, err := r.Info(ctx, p)
	if err != nil {
		return nil, err
	}
	v := &PageView{PageInfo: info, Links: []string{}, Backlinks: []PageRef{}}
	titles := map[string]bool{}
	for i, h := range info.Heads {
		ver, _, err := r.RevisionVersion(ctx, h)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			v.Body = ver.Body
		}
		if info.Conflict {
			v.Versions = append(v.Versions, ver)
		}
		titles[NormTitle(ver.Title)] = true
		if !ver.Deleted {
			v.Links = appendUnique(v.Links, Links(ver.Body)...)
		}
	}
	if v.MissingLinks, err = r.MissingLinks(ctx, v.Links); err != nil {
		return nil, err
	}
	var targets []string
	for t := range titles {
		targets = append(targets, t)
	}
	back, err := r.store.LinkedFrom(ctx, targets...)
	if err != nil {
		return nil, err
	}
	for _, b := range back {
		if !b.ID.Equals(p.ID) {
			v.Backlinks = append(v.Backlinks, PageRef{ID: b.ID, Title: b.Title})
		}
	}
	return v, nil
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			if l == it {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

// LogEntry is one revision in a page's log.
type LogEntry struct {
	Rev     cid.Cid
	Parents []cid.Cid
	Title   string
	Deleted bool
	Author  string // the author's peer id; empty for an automatic merge
	Name    string
	Time    time.Time
	Message string
	Auto    bool
	Policy  string // the policy an automatic merge applied
	Head    bool
	// Void: written by a removed member after their removal (or merged
	// from such a revision): kept because a revision builds on it, never
	// counted (see members.go).
	Void bool
}

// Log lists a page's revisions newest first, children before parents.
func (r *Repo) Log(ctx context.Context, page cid.Cid) ([]LogEntry, error) {
	entries, err := r.store.Log(ctx, page)
	if err != nil {
		return nil, err
	}
	heads, err := r.store.Heads(ctx, page)
	if err != nil {
		return nil, err
	}
	isHead := map[cid.Cid]bool{}
	for _, h := range heads {
		isHead[h] = true
	}
	revs := make([]cid.Cid, len(entries))
	for i, e := range entries {
		revs[i] = e.Cid
	}
	void, err := r.store.VoidAmong(ctx, revs)
	if err != nil {
		return nil, err
	}
	out := make([]LogEntry, 0, len(entries))
	for _, e := range entries {
		le := LogEntry{Rev: e.Cid, Parents: []cid.Cid{}, Title: e.Rev.Title, Deleted: e.Rev.Deleted,
			Author: e.Rev.AuthorID().String(), Name: e.Rev.Name, Time: revisionTime(e.Rev.Time),
			Message: e.Rev.Msg, Auto: e.Rev.IsAuto(), Head: isHead[e.Cid], Void: void[e.Cid]}
		if le.Auto {
			le.Policy = e.Rev.Policy
		}
		for _, p := range e.Rev.Parents {
			le.Parents = append(le.Parents, p.Cid)
		}
		out = append(out, le)
	}
	return out, nil
}

// List returns every live page (and deleted ones when all is set), by
// title in natural order (CompareTitles).
func (r *Repo) List(ctx context.Context, all, conflictsOnly bool) ([]PageInfo, error) {
	out := []PageInfo{}
	err := r.EachPage(ctx, all, conflictsOnly, func(p PageInfo) error {
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachPage calls fn with the pages List returns, in its order, one at a
// time as the store reads them: a list of any length streams in the same
// memory. An error from fn stops the walk and is returned.
func (r *Repo) EachPage(ctx context.Context, all, conflictsOnly bool, fn func(PageInfo) error) error {
	wp, err := r.WikiPolicy(ctx)
	if err != nil {
		return err
	}
	return r.store.EachPage(ctx, func(p history.PageRow, heads []cid.Cid) error {
		if conflictsOnly && p.Versions < 2 {
			return nil
		}
		if p.Deleted && p.Versions == 1 && !all {
			return nil
		}
		return fn(r.info(p, heads, wp))
	})
}

// FirstPages is the first n pages of List(ctx, all, false): the walk
// stops there, so a screen's worth of a long list costs that screen.
func (r *Repo) FirstPages(ctx context.Context, all bool, n int) ([]PageInfo, error) {
	out := []PageInfo{}
	if n <= 0 {
		return out, nil
	}
	enough := errors.New("enough")
	err := r.EachPage(ctx, all, false, func(p PageInfo) error {
		if out = append(out, p); len(out) == n {
			return enough
		}
		return nil
	})
	if err != nil && err != enough {
		return nil, err
	}
	return out, nil
}

// CompareTitles orders titles as people read them: case-insensitively,
// and runs of digits by their value, so that "Note 2" comes before
// "Note 10". Titles that differ only in case or in leading zeros are
// ordered by their bytes, so that the order is total. The rule's home is
// history.TitleOrderKey, by which the store sorts pages.
func CompareTitles(a, b string) int { return history.CompareTitles(a, b) }

// Delete makes a tombstone revision of page.
func (r *Repo) Delete(ctx context.Context, page cid.Cid, msg string) (cid.Cid, error) {
	return r.Edit(ctx, page, Edit{Delete: true, Msg: msg})
}
