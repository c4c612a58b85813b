package wiki

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// MaxTitleLen bounds a title in bytes.
const MaxTitleLen = history.MaxTitleLen

// CheckTitle validates a page title (history.CheckTitle: the same rule
// holds for revisions from peers).
func CheckTitle(t string) error {
	if err := history.CheckTitle(t); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, strings.TrimPrefix(err.Error(), history.ErrBadTitle.Error()+": "))
	}
	return nil
}

// CheckBody validates a page body.
func CheckBody(b string) error {
	if !utf8.ValidString(b) {
		return fmt.Errorf("%w: body is not valid UTF-8 text", ErrInvalid)
	}
	if len(b) > history.MaxBodySize {
		return fmt.Errorf("%w: body is %d bytes, the limit is %d", ErrInvalid, len(b), history.MaxBodySize)
	}
	return nil
}

// Draft is the content of a revision to be made.
type Draft struct {
	Page    cid.Cid // undefined for a new page
	Parents []cid.Cid
	Title   string
	Body    string
	Deleted bool
	Policy  string
	Msg     string
	// Restamp makes the revision's time its parents' time plus one instead
	// of now: for revisions that only re-label content (a policy change),
	// so that last-writer-wins still orders the content by when it was written.
	Restamp bool
}

// build makes the signed revision block and its body blocks. parentRevs
// are the decoded parents (for height and clock).
func (r *Repo) build(ctx context.Context, d Draft, parentRevs []*history.Revision) (history.Block, []history.Block, error) {
	if err := r.stampPolicy(ctx, &d); err != nil {
		return history.Block{}, nil, err
	}
	bodies, err := history.BodyBlocks(d.Body)
	if err != nil {
		return history.Block{}, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	rev := &history.Revision{
		Wiki: r.Config.Wiki, Title: d.Title, Body: history.Link{Cid: bodies[0].Cid},
		Deleted: d.Deleted, Policy: d.Policy, Name: r.Config.Name, Msg: d.Msg, Height: 1,
	}
	if !d.Page.Defined() {
		rev.Nonce = make([]byte, 16)
		if _, err := rand.Read(rev.Nonce); err != nil {
			return history.Block{}, nil, err
		}
	} else {
		rev.Page = &history.Link{Cid: d.Page}
		rev.SetParents(d.Parents)
	}
	now := r.Now()
	if d.Restamp && len(parentRevs) > 0 {
		now = time.UnixMilli(0)
	}
	rev.Stamp(parentRevs, now)
	if err := rev.Sign(r.ID.Key); err != nil {
		return history.Block{}, nil, err
	}
	blk, err := rev.Block()
	return blk, bodies, err
}

// commit builds and stores one revision; a divergence it creates gets
// the page's policy applied.
func (r *Repo) commit(ctx context.Context, d Draft) (cid.Cid, error) {
	var parents []*history.Revision
	for _, p := range d.Parents {
		pr, err := r.store.Revision(ctx, p)
		if err != nil {
			return cid.Undef, err
		}
		parents = append(parents, pr)
	}
	return r.commitOn(ctx, d, parents)
}

// commitOn is commit for a caller that has read the parents already.
func (r *Repo) commitOn(ctx context.Context, d Draft, parents []*history.Revision) (cid.Cid, error) {
	if m := r.members.get(); m != nil && m.IsRemoved(r.ID.ID) {
		// It would be stored void: nothing written here counts any more.
		e, _ := m.Get(r.ID.ID)
		return cid.Undef, &removedError{at: e.RemovedAt}
	}
	blk, bodies, err := r.build(ctx, d, parents)
	if err != nil {
		return cid.Undef, err
	}
	res, err := r.store.PutSignedHere(ctx, append(bodies, blk))
	if err != nil {
		return cid.Undef, err
	}
	if len(res.Void) > 0 {
		r.voidWrites.Add(1)
	}
	if err := r.ApplyPolicies(ctx, res.Divergent); err != nil {
		return blk.Cid, err
	}
	return blk.Cid, nil
}

// Create makes a new page and returns its id (the genesis revision's CID).
func (r *Repo) Create(ctx context.Context, title, body, msg string) (cid.Cid, error) {
	if err := CheckTitle(title); err != nil {
		return cid.Undef, err
	}
	if err := CheckBody(body); err != nil {
		return cid.Undef, err
	}
	return r.commit(ctx, Draft{Title: title, Body: body, Msg: msg})
}

// Edit says what an edit changes; nil fields keep the parent's value.
type Edit struct {
	Title  *string
	Body   *string
	Msg    string
	Parent cid.Cid // build on this revision instead of the single head
	Delete bool
}

// Edit makes a revision of page. Without Parent it builds on the page's
// heads, which must agree (ErrConflict otherwise; heads that agree are
// joined); with Parent it builds on any revision of the page, which on an
// old one creates a divergent head, as an offline replica would (a Parent
// that is one of several agreeing heads joins them all). Editing a
// deleted page restores it.
func (r *Repo) Edit(ctx context.Context, page cid.Cid, e Edit) (cid.Cid, error) {
	parents := []cid.Cid{e.Parent}
	if !e.Parent.Defined() {
		var err error
		if parents, err = r.CurrentHeads(ctx, page); err != nil {
			return cid.Undef, err
		}
	} else if p, err := r.store.RevisionPage(ctx, e.Parent); err != nil || !p.Equals(page) {
		return cid.Undef, fmt.Errorf("%w: revision %s is not a revision of this page", ErrInvalid, e.Parent)
	} else if heads, err := r.CurrentHeads(ctx, page); err == nil && len(heads) > 1 && slices.ContainsFunc(heads, e.Parent.Equals) {
		parents = append(parents, slices.DeleteFunc(heads, e.Parent.Equals)...)
	}
	base := parents[0]
	parentRevs := make([]*history.Revision, len(parents))
	for i, p := range parents {
		var err error
		if parentRevs[i], err = r.store.Revision(ctx, p); err != nil {
			return cid.Undef, err
		}
	}
	prev := parentRevs[0]
	body, err := r.store.Body(ctx, prev.Body.Cid)
	if err != nil {
		return cid.Undef, err
	}
	// The policy the parent carries, not its raw field: an automatic
	// merge names the policy that made it, and a resolution of an earlier
	// version the default it followed, both without the "=" of a default
	// (history.carriedPolicy); copying either pinned the page to it.
	carried, err := r.store.CarriedPolicy(base)
	if err != nil {
		return cid.Undef, err
	}
	d := Draft{Page: page, Parents: parents, Title: prev.Title, Body: body, Policy: carried, Msg: e.Msg}
	if e.Title != nil {
		if err := CheckTitle(*e.Title); err != nil {
			return cid.Undef, err
		}
		d.Title = *e.Title
	}
	if e.Body != nil {
		if err := CheckBody(*e.Body); err != nil {
			return cid.Undef, err
		}
		d.Body = *e.Body
	}
	if e.Delete {
		if prev.Deleted {
			return cid.Undef, fmt.Errorf("%w: page is already deleted", ErrNoChange)
		}
		d.Deleted = true
	} else if d.Title == prev.Title && d.Body == body && !prev.Deleted {
		return cid.Undef, fmt.Errorf("%w: title and body are the same as revision %s", ErrNoChange, Short(base))
	}
	return r.commitOn(ctx, d, parentRevs)
}

// CurrentHeads returns the heads an edit builds on: the page's heads when
// they all hold the same version (usually there is one), ErrConflict when
// they differ.
func (r *Repo) CurrentHeads(ctx context.Context, page cid.Cid) ([]cid.Cid, error) {
	heads, err := r.store.Heads(ctx, page)
	if err != nil {
		return nil, r.notFound(err, page.String())
	}
	if len(heads) == 1 {
		return heads, nil
	}
	if same, err := headsAgree(r.store.Reader(), heads); err != nil {
		return nil, err
	} else if !same {
		return nil, fmt.Errorf("%w: %d heads; resolve them with 'peerwiki merge' or 'peerwiki resolve', or pick one with --parent", ErrConflict, len(heads))
	}
	return heads, nil
}

func (r *Repo) notFound(err error, ref string) error {
	if errors.Is(err, history.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return err
}

// ShortID abbreviates an id (a page, a revision, a peer) for people:
// enough characters to be unique in practice, and a valid prefix to type
// back. Every UI shortens ids this way.
func ShortID(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// Short is ShortID of a CID.
func Short(c cid.Cid) string { return ShortID(c.String()) }

// AuthorName names who made a revision in few words: the display name
// its author's client put in it, else the author's short peer id, or
// "automatic merge" for a revision a policy made. The name is the
// author's own text: quote it before it reaches a terminal.
func AuthorName(name, authorID string) string {
	switch {
	case authorID == "":
		return "automatic merge"
	case name == "":
		return ShortID(authorID)
	}
	return name
}

// AuthorLabel is AuthorName with the short peer id after a display name,
// where there is room: names are chosen freely, ids are not.
func AuthorLabel(name, authorID string) string {
	if authorID == "" || name == "" {
		return AuthorName(name, authorID)
	}
	return name + " (" + ShortID(authorID) + ")"
}

// FindPage resolves a reference a user typed: a page id, a unique prefix of
// one, or a title (case-insensitive). Deleted pages are found by id, and by
// title only when no live page has it.
func (r *Repo) FindPage(ctx context.Context, ref string) (history.PageRow, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return history.PageRow{}, fmt.Errorf("%w: empty page reference", ErrInvalid)
	}
	// Every page id is a CIDv1 of a dag-cbor block hashed with sha2-256,
	// whose string form starts "bafyrei": only such a ref can be an id (a
	// title like "brainstorm" is not looked up by a scan of every id).
	if strings.HasPrefix(ref, "bafyrei") && len(ref) >= 8 {
		ids, err := r.store.PagesByPrefix(ctx, ref, 10)
		if err != nil {
			return history.PageRow{}, err
		}
		if len(ids) == 1 {
			return r.store.Page(ctx, ids[0])
		}
		if len(ids) > 1 {
			var names []string
			for _, id := range ids {
				names = append(names, id.String())
			}
			return history.PageRow{}, fmt.Errorf("%w: page id prefix %q matches %s", ErrAmbiguous, ref, strings.Join(names, ", "))
		}
	}
	ps, err := r.store.PagesByTitle(ctx, ref)
	if err != nil {
		return history.PageRow{}, err
	}
	live := livePages(ps)
	if len(live) == 0 {
		live = ps
	}
	switch len(live) {
	case 0:
		return history.PageRow{}, fmt.Errorf("%w: %q", ErrNotFound, ref)
	case 1:
		return live[0], nil
	}
	var names []string
	for _, p := range live {
		names = append(names, fmt.Sprintf("%s (%q)", Short(p.ID), p.Title))
	}
	return history.PageRow{}, fmt.Errorf("%w: title %q names %d pages: %s; use a page id", ErrAmbiguous, ref, len(live), strings.Join(names, ", "))
}

// LivePagesTitled returns the live pages titled title (case-insensitive):
// those FindPage finds by that title.
func (r *Repo) LivePagesTitled(ctx context.Context, title string) ([]history.PageRow, error) {
	ps, err := r.store.PagesByTitle(ctx, strings.TrimSpace(title))
	return livePages(ps), err
}

// livePages keeps the pages not deleted; a deleted page with a conflict
// is live: someone edited it.
func livePages(ps []history.PageRow) []history.PageRow {
	var live []history.PageRow
	for _, p := range ps {
		if !p.Deleted || p.Versions > 1 {
			live = append(live, p)
		}
	}
	return live
}

// FindRevision resolves a revision id or unique prefix, optionally
// requiring it to be of page.
func (r *Repo) FindRevision(ctx context.Context, ref string, page cid.Cid) (cid.Cid, error) {
	ref = strings.TrimSpace(ref)
	if len(ref) < 8 {
		return cid.Undef, fmt.Errorf("%w: revision %q: give at least 8 characters of its id", ErrInvalid, ref)
	}
	cs, err := r.store.RevisionsByPrefix(ctx, ref, 10)
	if err != nil {
		return cid.Undef, err
	}
	if page.Defined() {
		var mine []cid.Cid
		for _, c := range cs {
			if p, err := r.store.RevisionPage(ctx, c); err == nil && p.Equals(page) {
				mine = append(mine, c)
			}
		}
		cs = mine
	}
	switch len(cs) {
	case 0:
		if page.Defined() {
			return cid.Undef, fmt.Errorf("%w: no revision %q of this page", ErrNotFound, ref)
		}
		return cid.Undef, fmt.Errorf("%w: no revision %q", ErrNotFound, ref)
	case 1:
		return cs[0], nil
	}
	return cid.Undef, fmt.Errorf("%w: revision prefix %q matches %d revisions", ErrAmbiguous, ref, len(cs))
}

// removedError is a write refused because this replica was removed.
type removedError struct{ at time.Time }

func (e *removedError) Error() string {
	return fmt.Sprintf("this replica was removed from the wiki on %s: nothing written here counts any more", e.at.Format("2006-01-02"))
}

func (e *removedError) Is(target error) bool { return target == ErrRemoved }
