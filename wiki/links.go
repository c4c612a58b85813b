package wiki

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/ipfs/go-cid"
)

// linkRE matches [[Title]] and [[Title|label]].
var linkRE = regexp.MustCompile(`\[\[([^\[\]|\n]+)(?:\|[^\[\]\n]*)?\]\]`)

// NormTitle is the form titles are compared in for links: case folded,
// white space collapsed.
func NormTitle(t string) string {
	return strings.ToLower(strings.Join(strings.Fields(t), " "))
}

// Links returns the titles a body links to with [[...]], in order, unique.
func Links(body string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
		t := strings.TrimSpace(m[1])
		if t == "" || seen[NormTitle(t)] {
			continue
		}
		seen[NormTitle(t)] = true
		out = append(out, t)
	}
	return out
}

// LinkTargets is Links normalised, as the store's link index keeps them.
func LinkTargets(body string) []string {
	ls := Links(body)
	for i, l := range ls {
		ls[i] = NormTitle(l)
	}
	return ls
}

// MissingLinks returns those of titles (as Links returns them) that no
// live page has: the links a wiki shows in red, which lead to writing the
// page. A title is looked up as FindPage looks it up, so a link is
// missing exactly when following it finds no live page.
func (r *Repo) MissingLinks(ctx context.Context, titles []string) ([]string, error) {
	out := []string{}
	for _, t := range titles {
		ps, err := r.LivePagesTitled(ctx, t)
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// LinksTo returns the live pages other than page whose heads link to
// title.
func (r *Repo) LinksTo(ctx context.Context, title string, page cid.Cid) ([]PageRef, error) {
	rows, err := r.store.LinkedFrom(ctx, NormTitle(title))
	if err != nil {
		return nil, err
	}
	out := []PageRef{}
	for _, p := range rows {
		if !p.ID.Equals(page) {
			out = append(out, PageRef{ID: p.ID, Title: p.Title})
		}
	}
	return out, nil
}

// RewriteLinks returns body with every link to from ([[from]] or
// [[from|label]], titles compared as NormTitle compares them) leading to
// to instead, labels kept, and how many links it rewrote.
func RewriteLinks(body, from, to string) (string, int) {
	n := 0
	out := linkRE.ReplaceAllStringFunc(body, func(link string) string {
		m := linkRE.FindStringSubmatchIndex(link)
		if NormTitle(link[m[2]:m[3]]) != NormTitle(from) {
			return link
		}
		n++
		return link[:m[2]] + to + link[m[3]:]
	})
	return out, n
}

// CheckLinkTitle refuses a title that a [[link]] cannot name.
func CheckLinkTitle(title string) error {
	if strings.ContainsAny(title, "[]|\n") {
		return fmt.Errorf("%w: title %q cannot be written inside a [[link]]", ErrInvalid, title)
	}
	return nil
}

// LinkUpdate is what UpdateLinks did to the pages that linked to a title.
type LinkUpdate struct {
	// Updated are the pages that got a revision with their links rewritten.
	Updated []PageRef
	// Skipped are the pages in conflict: they are not edited until
	// their heads are resolved.
	Skipped []PageRef
}

// UpdateLinks makes one revision of each live page (other than page)
// that links to from, with those links leading to to: what a rename
// calls for, so that the links keep leading to the renamed page.
func (r *Repo) UpdateLinks(ctx context.Context, page cid.Cid, from, to string) (LinkUpdate, error) {
	res := LinkUpdate{Updated: []PageRef{}, Skipped: []PageRef{}}
	if err := CheckLinkTitle(to); err != nil {
		return res, err
	}
	refs, err := r.LinksTo(ctx, from, page)
	if err != nil {
		return res, err
	}
	for _, ref := range refs {
		heads, err := r.CurrentHeads(ctx, ref.ID)
		if err != nil {
			res.Skipped = append(res.Skipped, ref)
			continue
		}
		v, _, err := r.RevisionVersion(ctx, heads[0])
		if err != nil {
			return res, err
		}
		body, n := RewriteLinks(v.Body, from, to)
		if n == 0 {
			continue
		}
		msg := fmt.Sprintf("links to %q now lead to %q", from, to)
		if _, err := r.Edit(ctx, ref.ID, Edit{Body: &body, Msg: msg}); err != nil {
			return res, fmt.Errorf("update links in %q: %w", ref.Title, err)
		}
		res.Updated = append(res.Updated, ref)
	}
	return res, nil
}

// RenamedFrom returns the title page had before its current one: the
// title of the latest revision that had another title. ok is false when
// the page was never renamed.
func (r *Repo) RenamedFrom(ctx context.Context, page cid.Cid) (title string, ok bool, err error) {
	row, err := r.store.Page(ctx, page)
	if err != nil {
		return "", false, r.notFound(err, page.String())
	}
	entries, err := r.store.Log(ctx, page)
	if err != nil {
		return "", false, err
	}
	current := NormTitle(row.Title)
	for _, e := range entries {
		if NormTitle(e.Rev.Title) != current {
			return e.Rev.Title, true, nil
		}
	}
	return "", false, nil
}
