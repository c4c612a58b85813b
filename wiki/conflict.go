package wiki

import (
	"context"
	"peerwiki/history"
	"slices"

	"github.com/ipfs/go-cid"
)

// Conflict describes a page with several heads, for `conflicts`.
type Conflict struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Heads are the divergent versions, latest first.
	Heads []ConflictHead `json:"heads"`
	// Differs names the fields the heads disagree on: "title", "body", "deleted".
	Differs []string `json:"differs"`
	Policy  string   `json:"policy"`
	Base    string   `json:"base"`
}

// ConflictHead is one head of a conflicted page.
type ConflictHead struct {
	Rev     string `json:"rev"`
	Title   string `json:"title"`
	Deleted bool   `json:"deleted"`
	Author  string `json:"author"`
	Name    string `json:"name"`
	Time    string `json:"time"`
}

// Conflicts lists every conflicted page.
func (r *Repo) Conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := r.Store.Conflicted(ctx)
	if err != nil {
		return nil, err
	}
	out := []Conflict{}
	if len(rows) == 0 {
		return out, nil
	}
	slices.SortStableFunc(rows, func(a, b history.PageRow) int { return CompareTitles(a.Title, b.Title) })
	wp, err := r.WikiPolicy(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range rows {
		heads, err := r.Store.Heads(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		pol, err := r.policyUnder(ctx, p.ID, wp)
		if err != nil {
			return nil, err
		}
		c := Conflict{ID: p.ID.String(), Title: p.Title, Policy: pol.Policy, Differs: []string{}}
		titles, bodies, deleted := map[string]bool{}, map[cid.Cid]bool{}, map[bool]bool{}
		for i, h := range heads {
			rev, err := r.Store.Revision(ctx, h)
			if err != nil {
				return nil, err
			}
			c.Heads = append(c.Heads, ConflictHead{Rev: h.String(), Title: rev.Title, Deleted: rev.Deleted,
				Author: rev.AuthorID().String(), Name: rev.Name, Time: FormatTime(rev.Time)})
			titles[rev.Title], bodies[rev.Body.Cid], deleted[rev.Deleted] = true, true, true
			if i == 1 {
				if base, err := r.Store.MergeBase(ctx, heads[0], h); err == nil {
					c.Base = base.String()
				}
			}
		}
		if len(titles) > 1 {
			c.Differs = append(c.Differs, "title")
		}
		if len(bodies) > 1 {
			c.Differs = append(c.Differs, "body")
		}
		if len(deleted) > 1 {
			c.Differs = append(c.Differs, "deleted")
		}
		out = append(out, c)
	}
	return out, nil
}
