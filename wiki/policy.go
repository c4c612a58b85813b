package wiki

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
	"peerwiki/merge"
)

// HomePrefix and PriorityPrefix start the policies that pick a head by
// its author (merge.HomePrefix, merge.PriorityPrefix); 'peerwiki
// priority' keeps the wiki's list.
const (
	HomePrefix     = merge.HomePrefix
	PriorityPrefix = merge.PriorityPrefix
)

// CheckPagePolicy validates a policy a page may carry: a policy name,
// home:PEERID, or priority:PEERID,...
func CheckPagePolicy(s string) (merge.Policy, error) {
	if id, ok := strings.CutPrefix(s, HomePrefix); ok {
		if _, err := peer.Decode(id); err != nil {
			return "", fmt.Errorf("policy %q: %q is not a peer id (see 'peerwiki id' on that replica)", s, id)
		}
		return merge.Policy(s), nil
	}
	if list, ok := strings.CutPrefix(s, PriorityPrefix); ok {
		for _, id := range strings.Split(list, ",") {
			if _, err := peer.Decode(id); err != nil {
				return "", fmt.Errorf("policy priority: %q is not a peer id", id)
			}
		}
		return merge.Policy(s), nil
	}
	return merge.ParsePolicy(s)
}

// versionOf reads a revision as a merge input.
func versionOf(rd history.Reader, c cid.Cid) (merge.Version, *history.Revision, error) {
	rev, err := rd.Revision(c)
	if err != nil {
		return merge.Version{}, nil, err
	}
	body, err := rd.Body(rev.Body.Cid)
	if err != nil {
		return merge.Version{}, nil, err
	}
	return merge.Version{Rev: c.String(), Title: rev.Title, Body: body, Deleted: rev.Deleted,
		Time: rev.Time, Author: rev.AuthorID().String()}, rev, nil
}

// lwwHead returns the last writer's version among heads.
func (r *Repo) lwwHead(ctx context.Context, heads []cid.Cid) (merge.Version, error) {
	vs := make([]merge.Version, len(heads))
	for i, h := range heads {
		var err error
		if vs[i], _, err = versionOf(r.store.Reader(), h); err != nil {
			return merge.Version{}, err
		}
	}
	return merge.LastWriter(vs), nil
}

// headsPolicy is the policy that governs heads, from what they carry: the
// policy they all carry ("=NAME" counts as NAME), manual when they carry
// different ones, and "" with carried false when none carries any (history
// written before policies were carried: the wiki default applies). A pure
// function of the heads.
func headsPolicy(rd history.Reader, heads []cid.Cid) (p merge.Policy, carried bool, err error) {
	raw, agree, err := carriedByHeads(rd, heads)
	if err != nil {
		return "", false, err
	}
	if !agree {
		return merge.PolicyManual, true, nil
	}
	if raw == "" {
		return "", false, nil
	}
	p, err = CheckPagePolicy(strings.TrimPrefix(raw, "="))
	if err != nil {
		return merge.PolicyManual, true, nil // an unknown policy from a newer peer: leave it to a person
	}
	return p, true, nil
}

// carriedByHeads returns the policy string the heads carry, and whether
// they agree on it.
func carriedByHeads(rd history.Reader, heads []cid.Cid) (string, bool, error) {
	var common string
	for i, h := range heads {
		p, err := rd.CarriedPolicy(h)
		if err != nil {
			return "", false, err
		}
		if i == 0 {
			common = p
		} else if p != common {
			return "", false, nil
		}
	}
	return common, true, nil
}

// PagePolicy says which policy governs a page now and where it comes from.
type PagePolicy struct {
	Page     string `json:"page,omitempty"`
	Policy   string `json:"policy"`
	Override string `json:"override"` // the page's own setting, "" when it follows the wiki
	Wiki     string `json:"wiki"`
}

// PolicyOf reports the policy of a page.
func (r *Repo) PolicyOf(ctx context.Context, page cid.Cid) (PagePolicy, error) {
	wp, err := r.WikiPolicy(ctx)
	if err != nil {
		return PagePolicy{}, err
	}
	return r.policyUnder(ctx, page, wp)
}

// policyUnder is PolicyOf with the wiki's default already read.
func (r *Repo) policyUnder(ctx context.Context, page cid.Cid, wp merge.Policy) (PagePolicy, error) {
	heads, err := r.store.Heads(ctx, page)
	if err != nil {
		return PagePolicy{}, r.notFound(err, page.String())
	}
	out := PagePolicy{Page: page.String(), Policy: string(wp), Wiki: string(wp)}
	raw, agree, err := carriedByHeads(r.store.Reader(), heads)
	switch {
	case err != nil:
		return PagePolicy{}, err
	case !agree:
		out.Policy = string(merge.PolicyManual) // heads that disagree wait for a person
	case strings.HasPrefix(raw, "="):
		out.Policy = strings.TrimPrefix(raw, "=")
	case raw != "":
		out.Policy, out.Override = raw, raw
	}
	return out, nil
}

// SetPagePolicy sets (or with "" clears) a page's policy override. Each
// head that does not carry it yet gets a child revision that does, with
// its content unchanged; once all heads agree, the policy applies to
// their divergence at once.
func (r *Repo) SetPagePolicy(ctx context.Context, page cid.Cid, p string) (PagePolicy, error) {
	if p != "" {
		if _, err := CheckPagePolicy(p); err != nil {
			return PagePolicy{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	} else {
		wp, err := r.WikiPolicy(ctx)
		if err != nil {
			return PagePolicy{}, err
		}
		p = "=" + string(wp)
	}
	heads, err := r.store.Heads(ctx, page)
	if err != nil {
		return PagePolicy{}, r.notFound(err, page.String())
	}
	if raw, agree, err := carriedByHeads(r.store.Reader(), heads); err != nil {
		return PagePolicy{}, err
	} else if agree && raw == p {
		return PagePolicy{}, fmt.Errorf("%w: the page's policy is already %s", ErrNoChange, policyName(p))
	}
	if err := r.labelHeads(ctx, page, p); err != nil {
		return PagePolicy{}, err
	}
	return r.PolicyOf(ctx, page)
}

// labelHeads gives each head of page that does not carry policy p a child
// revision that does, content unchanged, then applies the policy.
func (r *Repo) labelHeads(ctx context.Context, page cid.Cid, p string) error {
	heads, err := r.store.Heads(ctx, page)
	if err != nil {
		return r.notFound(err, page.String())
	}
	var batch []history.Block
	for _, h := range heads {
		carried, err := r.store.CarriedPolicy(h)
		if err != nil {
			return err
		}
		if carried == p {
			continue
		}
		v, rev, err := versionOf(r.store.Reader(), h)
		if err != nil {
			return err
		}
		msg := "policy " + p
		if strings.HasPrefix(p, "=") {
			msg = "policy: follow the wiki (" + p[1:] + ")"
		}
		blk, bodies, err := r.build(ctx, Draft{Page: page, Parents: []cid.Cid{h}, Title: v.Title, Body: v.Body,
			Deleted: v.Deleted, Policy: p, Msg: msg, Restamp: true}, []*history.Revision{rev})
		if err != nil {
			return err
		}
		batch = append(batch, append(bodies, blk)...)
	}
	if len(batch) == 0 {
		return nil
	}
	res, err := r.store.PutSignedHere(ctx, batch)
	if err != nil {
		return err
	}
	return r.ApplyPolicies(ctx, res.Divergent)
}

func policyName(p string) string {
	if p == "" || strings.HasPrefix(p, "=") {
		return "the wiki's"
	}
	return p
}
