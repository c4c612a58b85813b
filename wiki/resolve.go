package wiki

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// ErrNoConflict is returned when resolving a page with one head.
var ErrNoConflict = errors.New("page has no conflict")

// Resolution is what `resolve` builds from.
type Resolution struct {
	Title *string
	Body  *string
	Take  cid.Cid // keep this head's version
	Msg   string
}

// Resolve makes one signed revision whose parents are all the page's
// current heads, ending the conflict.
func (r *Repo) Resolve(ctx context.Context, page cid.Cid, res Resolution) (cid.Cid, error) {
	heads, err := r.store.Heads(ctx, page)
	if err != nil {
		return cid.Undef, r.notFound(err, page.String())
	}
	if len(heads) < 2 {
		return cid.Undef, fmt.Errorf("%w: it has one head; use 'peerwiki edit' to change it", ErrNoConflict)
	}
	from := heads[0]
	if res.Take.Defined() {
		found := false
		for _, h := range heads {
			found = found || h.Equals(res.Take)
		}
		if !found {
			return cid.Undef, fmt.Errorf("%w: revision %s is not a head of this page", ErrInvalid, Short(res.Take))
		}
		from = res.Take
	}
	v, _, err := versionOf(r.store.Reader(), from)
	if err != nil {
		return cid.Undef, err
	}
	d := Draft{Page: page, Parents: heads, Title: v.Title, Body: v.Body, Deleted: v.Deleted, Msg: res.Msg}
	if res.Title != nil {
		if err := CheckTitle(*res.Title); err != nil {
			return cid.Undef, err
		}
		d.Title, d.Deleted = *res.Title, false
	}
	if res.Body != nil {
		if err := CheckBody(*res.Body); err != nil {
			return cid.Undef, err
		}
		d.Body, d.Deleted = *res.Body, false
	}
	// The resolution carries the page's override when its heads agree on
	// one, and else what the head it starts from carries: a head made
	// under the wiki's default ("=P") leaves the resolution to the
	// default, restamped as it is now, not pinned to P.
	if raw, agree, err := carriedByHeads(r.store.Reader(), heads); err != nil {
		return cid.Undef, err
	} else if agree {
		d.Policy = raw
	} else if carried, err := r.store.CarriedPolicy(from); err == nil {
		d.Policy = carried
	}
	if d.Msg == "" {
		d.Msg = fmt.Sprintf("resolve %d heads", len(heads))
	}
	return r.commit(ctx, d)
}
