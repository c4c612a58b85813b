package wiki

import (
	"context"
	"slices"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// Conflict describes a page with several heads, for `conflicts`.
type Conflict struct {
	ID    cid.Cid
	Title string
	// Heads are the divergent versions, latest first.
	Heads []ConflictHead
	// Differs names the fields the heads disagree on: "title", "body", "deleted".
	Differs []string
	Policy  string
	// Base is the merge base of the first two heads; undefined when they
	// have none.
	Base cid.Cid
}

// ConflictHead is one head of a conflicted page.
type ConflictHead struct {
	Rev     cid.Cid
	Title   string
	Deleted bool
	Author  string // the author's peer id; empty for an automatic merge
	Name    string
	Time    time.Time
}

// Conflicts lists every conflicted page.
func (r *Repo) Conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := r.store.Conflicted(ctx)
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
		heads, err := r.store.Heads(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		pol, err := r.policyUnder(ctx, p.ID, wp)
		if err != nil {
			return nil, err
		}
		c := Conflict{ID: p.ID, Title: p.Title, Policy: pol.Policy, Differs: []string{}}
		titles, bodies, deleted := map[string]bool{}, map[cid.Cid]bool{}, map[bool]bool{}
		for i, h := range heads {
			rev, err := r.store.Revision(ctx, h)
			if err != nil {
				return nil, err
			}
			c.Heads = append(c.Heads, ConflictHead{Rev: h, Title: rev.Title, Deleted: rev.Deleted,
				Author: rev.AuthorID().String(), Name: rev.Name, Time: revisionTime(rev.Time)})
			titles[rev.Title], bodies[rev.Body.Cid], deleted[rev.Deleted] = true, true, true
			if i == 1 {
				if base, err := r.store.MergeBase(ctx, heads[0], h); err == nil {
					c.Base = base
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
