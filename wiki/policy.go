package wiki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
	"peerwiki/merge"
)

// The wiki-wide default policy is replicated data: it lives in a settings
// page whose genesis is the same unsigned block on every replica (a pure
// function of the wiki id), so all replicas share one settings page without
// coordinating. Changes to it are ordinary signed revisions; concurrent
// changes are settled by last-writer-wins.

// HomePrefix starts a page-home policy, "home:PEERID": the replica whose
// edits win any conflict on the page (routing a record's writes through
// one leader). The others' concurrent edits stay in history as parents of
// the result. Only a page can carry it, never the wiki's default.
const HomePrefix = "home:"

// PriorityPrefix starts a replica-priority policy, "priority:ID,ID,...":
// a conflict is resolved in favour of the head whose author comes first
// in the list (authors not listed come last), last-writer-wins among
// equals. The list travels inside the policy, so the merge stays a pure
// function of the heads; 'peerwiki priority' keeps the wiki's list.
const PriorityPrefix = "priority:"

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

// priorityOf returns the ordered peer ids of a priority policy.
func priorityOf(p merge.Policy) ([]string, bool) {
	list, ok := strings.CutPrefix(string(p), PriorityPrefix)
	if !ok {
		return nil, false
	}
	return strings.Split(list, ","), true
}

// PriorityList is the wiki's replica priority, highest first.
func (r *Repo) PriorityList(ctx context.Context) ([]string, error) {
	s, _, err := r.settings(ctx)
	if err != nil || s["priority"] == "" {
		return nil, err
	}
	return strings.Split(s["priority"], ","), nil
}

// SetPriorityList replaces the wiki's replica priority (replicated, like
// the default policy). Pages get it with 'policy PAGE priority'.
func (r *Repo) SetPriorityList(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := peer.Decode(id); err != nil {
			return fmt.Errorf("%w: %q is not a peer id", ErrInvalid, id)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: give the peer ids, highest priority first", ErrInvalid)
	}
	return r.setSetting(ctx, "priority", strings.Join(ids, ","), "replica priority")
}

// homeOf returns the home replica of a home policy.
func homeOf(p merge.Policy) (string, bool) {
	return strings.CutPrefix(string(p), HomePrefix)
}

// A page's revisions always carry the policy that governs their
// divergences, so that an automatic merge is a pure function of the heads
// it merges, whatever each replica believes the wiki's default to be:
//
//   - "NAME" (or home:PEERID) is the page's own override;
//   - "=NAME" is the wiki's default as the writer knew it when writing.
//
// Heads that carry different policies are left to a person. Changing the
// wiki's default re-labels the heads of pages that are in conflict now, and
// every later write carries the new default.

// stampPolicy fills in the policy a new signed revision carries: the
// override it inherited, else the wiki's current default.
func (r *Repo) stampPolicy(ctx context.Context, d *Draft) error {
	if d.Page.Defined() && d.Page.Equals(r.SettingsPage()) {
		d.Policy = ""
		return nil
	}
	if d.Policy != "" && !strings.HasPrefix(d.Policy, "=") {
		return nil
	}
	wp, err := r.cachedWikiPolicy(ctx)
	if err != nil {
		return err
	}
	d.Policy = "=" + string(wp)
	return nil
}

// cachedWikiPolicy is WikiPolicy, remembered until the next commit (an
// import builds a thousand revisions before it commits any).
func (r *Repo) cachedWikiPolicy(ctx context.Context) (merge.Policy, error) {
	n, err := r.Store.CommitCount(ctx)
	if err != nil {
		return "", err
	}
	if r.policyCache.valid && r.policyCache.commits == n {
		return r.policyCache.policy, nil
	}
	p, err := r.WikiPolicy(ctx)
	if err != nil {
		return "", err
	}
	r.policyCache.valid, r.policyCache.commits, r.policyCache.policy = true, n, p
	return p, nil
}

// ErrNoConflict is returned when resolving a page with one head.
var ErrNoConflict = errors.New("page has no conflict")

// DefaultPolicy is the policy of a wiki nobody has configured.
const DefaultPolicy = merge.PolicyManual

// settingsGenesis is the settings page's genesis block and its (empty) body.
func settingsGenesis(wiki string) (history.Block, history.Block) {
	body := history.NewBlock(history.CodecRaw, nil)
	rev := &history.Revision{Wiki: wiki, Nonce: []byte("peerwiki settings v1"), Title: "settings",
		Body: history.Link{Cid: body.Cid}, Time: 0, Height: 1}
	blk, err := rev.Block()
	if err != nil {
		panic(err) // a constant-shaped revision always encodes
	}
	return blk, body
}

// SettingsPage is the id of the wiki's settings page.
func (r *Repo) SettingsPage() cid.Cid {
	g, _ := settingsGenesis(r.Config.Wiki)
	return g.Cid
}

// ensureSettings stores the settings genesis if it is not stored yet.
func (r *Repo) ensureSettings(ctx context.Context) error {
	g, body := settingsGenesis(r.Config.Wiki)
	if ok, err := r.Store.Has(ctx, g.Cid); err != nil || ok {
		return err
	}
	_, err := r.Store.Put(ctx, []history.Block{body, g})
	return err
}

// parseSettings reads "key = value" lines.
func parseSettings(body string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func formatSettings(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, m[k])
	}
	return b.String()
}

// settings returns the current settings: those of the settings page's
// last writer when it has several heads.
func (r *Repo) settings(ctx context.Context) (map[string]string, []cid.Cid, error) {
	heads, err := r.Store.Heads(ctx, r.SettingsPage())
	if errors.Is(err, history.ErrNotFound) {
		return map[string]string{}, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	winner, err := r.lwwHead(ctx, heads)
	if err != nil {
		return nil, nil, err
	}
	return parseSettings(winner.Body), heads, nil
}

// setSetting changes one key of the replicated settings with a signed
// revision whose parents are all the settings page's heads.
func (r *Repo) setSetting(ctx context.Context, key, value, msg string) error {
	if err := r.ensureSettings(ctx); err != nil {
		return err
	}
	s, heads, err := r.settings(ctx)
	if err != nil {
		return err
	}
	s[key] = value
	_, err = r.commit(ctx, Draft{Page: r.SettingsPage(), Parents: heads, Title: "settings",
		Body: formatSettings(s), Msg: msg})
	return err
}

// WikiPolicy is the wiki-wide default policy.
func (r *Repo) WikiPolicy(ctx context.Context) (merge.Policy, error) {
	s, _, err := r.settings(ctx)
	if err != nil {
		return "", err
	}
	p, err := CheckPagePolicy(s["policy"])
	if _, home := homeOf(p); err != nil || home {
		return DefaultPolicy, nil
	}
	return p, nil
}

// SetWikiPolicy changes the wiki-wide default policy, then applies it to
// pages that are conflicted now. It returns the pages it merged.
func (r *Repo) SetWikiPolicy(ctx context.Context, p merge.Policy) ([]cid.Cid, error) {
	s, heads, err := r.settings(ctx)
	if err != nil {
		return nil, err
	}
	if s["policy"] == string(p) && len(heads) == 1 {
		return nil, fmt.Errorf("%w: the wiki's policy is already %s", ErrNoChange, p)
	}
	if err := r.setSetting(ctx, "policy", string(p), "wiki policy "+string(p)); err != nil {
		return nil, err
	}
	// Pages in conflict now that follow the wiki get the new default on
	// their heads, so it applies to their divergence.
	rows, err := r.Store.Conflicted(ctx)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		pp, err := r.PolicyOf(ctx, row.ID)
		if err != nil {
			return nil, err
		}
		if pp.Override == "" {
			if err := r.labelHeads(ctx, row.ID, "="+string(p)); err != nil {
				return nil, err
			}
		}
	}
	return r.AutoMergeAll(ctx)
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
		if vs[i], _, err = versionOf(r.Store.Reader(), h); err != nil {
			return merge.Version{}, err
		}
	}
	return lastWriter(vs), nil
}

// lastWriter picks the winner under lww: the latest by (time, author,
// revision id), the order merge.Resolve uses, so a tie still has one answer.
func lastWriter(vs []merge.Version) merge.Version {
	best := vs[0]
	for _, v := range vs[1:] {
		if v.Time > best.Time || v.Time == best.Time && (v.Author > best.Author || v.Author == best.Author && v.Rev > best.Rev) {
			best = v
		}
	}
	return best
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
	heads, err := r.Store.Heads(ctx, page)
	if err != nil {
		return PagePolicy{}, r.notFound(err, page.String())
	}
	out := PagePolicy{Page: page.String(), Policy: string(wp), Wiki: string(wp)}
	raw, agree, err := carriedByHeads(r.Store.Reader(), heads)
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
	heads, err := r.Store.Heads(ctx, page)
	if err != nil {
		return PagePolicy{}, r.notFound(err, page.String())
	}
	if raw, agree, err := carriedByHeads(r.Store.Reader(), heads); err != nil {
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
	heads, err := r.Store.Heads(ctx, page)
	if err != nil {
		return r.notFound(err, page.String())
	}
	var batch []history.Block
	for _, h := range heads {
		carried, err := r.Store.CarriedPolicy(h)
		if err != nil {
			return err
		}
		if carried == p {
			continue
		}
		v, rev, err := versionOf(r.Store.Reader(), h)
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
	res, err := r.Store.Put(ctx, batch)
	if err != nil {
		return err
	}
	return r.AfterReceive(ctx, res.Divergent)
}

func policyName(p string) string {
	if p == "" || strings.HasPrefix(p, "=") {
		return "the wiki's"
	}
	return p
}

// policySame names the automatic merge of heads whose title, body and
// deleted state are all identical (two people made the same change, or
// two replicas' resolvers reached the same result): nothing differs, so
// whatever the page's policy, there is nothing for a person to decide.
const policySame merge.Policy = "same"

// sameFields reports whether every version has the same fields.
func sameFields(vs []merge.Version) bool {
	for _, v := range vs[1:] {
		if v.Fields() != vs[0].Fields() {
			return false
		}
	}
	return true
}

// errNotClean means the policy leaves a conflict for a person.
var errNotClean = errors.New("the policy leaves a conflict for a person")

// autoMergeBlocks computes the automatic merge of heads under policy p: a
// pure function of the heads and their DAG, so that every replica makes
// the byte-identical block. heads must be sorted by CID bytes.
func autoMergeBlocks(rd history.Reader, wiki string, page cid.Cid, heads []cid.Cid, p merge.Policy) (history.Block, []history.Block, error) {
	if p == merge.PolicyManual || len(heads) < 2 {
		return history.Block{}, nil, errNotClean
	}
	vs := make([]merge.Version, len(heads))
	revs := make([]*history.Revision, len(heads))
	for i, h := range heads {
		var err error
		if vs[i], revs[i], err = versionOf(rd, h); err != nil {
			return history.Block{}, nil, err
		}
	}
	var fields merge.Fields
	if p == policySame {
		if !sameFields(vs) {
			return history.Block{}, nil, errNotClean
		}
		fields = vs[0].Fields()
	} else if order, ok := priorityOf(p); ok {
		rank := func(author string) int {
			for i, id := range order {
				if id == author {
					return i
				}
			}
			return len(order)
		}
		best := len(order) + 1
		var top []merge.Version
		for _, v := range vs {
			switch k := rank(v.Author); {
			case k < best:
				best, top = k, []merge.Version{v}
			case k == best:
				top = append(top, v)
			}
		}
		fields = lastWriter(top).Fields()
	} else if home, ok := homeOf(p); ok {
		var homes []merge.Version
		for _, v := range vs {
			if v.Author == home {
				homes = append(homes, v)
			}
		}
		if len(homes) == 0 {
			homes = vs // no head is the home's: the last writer wins
		}
		fields = lastWriter(homes).Fields()
	} else if p == merge.PolicyLWW {
		fields = lastWriter(vs).Fields()
	} else {
		dag, err := rd.PageDAG(page)
		if err != nil {
			return history.Block{}, nil, err
		}
		acc := vs[0]
		for k := 1; k < len(heads); k++ {
			base, err := mergeBaseOfSet(dag, heads[:k], heads[k])
			if err != nil {
				return history.Block{}, nil, err
			}
			bv, _, err := versionOf(rd, base)
			if err != nil {
				return history.Block{}, nil, err
			}
			f, conflicts := merge.Resolve(p, bv.Fields(), acc, vs[k])
			if len(conflicts) > 0 {
				return history.Block{}, nil, errNotClean
			}
			acc = merge.Version{Rev: acc.Rev, Title: f.Title, Body: f.Body, Deleted: f.Deleted,
				Time: max(acc.Time, vs[k].Time)}
		}
		fields = acc.Fields()
	}
	bodies, err := history.BodyBlocks(fields.Body)
	if err != nil {
		return history.Block{}, nil, err
	}
	rev := &history.Revision{Wiki: wiki, Page: &history.Link{Cid: page}, Title: fields.Title,
		Body: history.Link{Cid: bodies[0].Cid}, Deleted: fields.Deleted, Policy: string(p)}
	rev.SetParents(heads)
	for _, pr := range revs {
		rev.Time = max(rev.Time, pr.Time)
		rev.Height = max(rev.Height, pr.Height+1)
	}
	blk, err := rev.Block()
	return blk, bodies, err
}

// mergeBaseOfSet is the merge base of the virtual merge of set with h.
func mergeBaseOfSet(dag map[cid.Cid]*history.DAGNode, set []cid.Cid, h cid.Cid) (cid.Cid, error) {
	if len(set) == 1 {
		if b, ok := history.MergeBaseIn(dag, set[0], h); ok {
			return b, nil
		}
		return cid.Undef, fmt.Errorf("no common ancestor of %s and %s", set[0], h)
	}
	virtual := history.SumCID(history.CodecDagCBOR, []byte("peerwiki virtual merge"))
	withVirtual := make(map[cid.Cid]*history.DAGNode, len(dag)+1)
	for k, v := range dag {
		withVirtual[k] = v
	}
	node := &history.DAGNode{Cid: virtual, Parents: set}
	for _, s := range set {
		if n := dag[s]; n != nil {
			node.Height = max(node.Height, n.Height+1)
		}
	}
	withVirtual[virtual] = node
	b, ok := history.MergeBaseIn(withVirtual, virtual, h)
	if !ok {
		return cid.Undef, fmt.Errorf("no common ancestor of %d heads and %s", len(set), h)
	}
	return b, nil
}

func sortByBytes(cs []cid.Cid) []cid.Cid {
	out := append([]cid.Cid(nil), cs...)
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Bytes(), out[j].Bytes()) < 0 })
	return out
}

// applicablePolicy is the policy an automatic merge of heads may use on
// this replica: the heads' own override, else the wiki default (lww for
// the settings page itself).
func (r *Repo) applicablePolicy(ctx context.Context, rd history.Reader, page cid.Cid, heads []cid.Cid) (merge.Policy, error) {
	if page.Equals(r.SettingsPage()) {
		return merge.PolicyLWW, nil
	}
	p, overridden, err := headsPolicy(rd, heads)
	if err != nil || overridden {
		return p, err
	}
	return r.WikiPolicy(ctx)
}

// AutoMerge applies the page's policy to its divergent heads. It returns
// the merge revision, or cid.Undef when the page is clean, its policy is
// manual, or the policy leaves a real conflict for a person.
func (r *Repo) AutoMerge(ctx context.Context, page cid.Cid) (cid.Cid, error) {
	heads, err := r.Store.Heads(ctx, page)
	if err != nil {
		return cid.Undef, r.notFound(err, page.String())
	}
	if len(heads) < 2 {
		return cid.Undef, nil
	}
	heads = sortByBytes(heads)
	rd := r.Store.Reader()
	p, err := r.applicablePolicy(ctx, rd, page, heads)
	if err != nil {
		return cid.Undef, err
	}
	if same, err := headsAgree(rd, heads); err != nil {
		return cid.Undef, err
	} else if same {
		p = policySame
	}
	blk, bodies, err := autoMergeBlocks(rd, r.Config.Wiki, page, heads, p)
	if errors.Is(err, errNotClean) {
		return cid.Undef, nil
	} else if err != nil {
		return cid.Undef, err
	}
	if _, err := r.Store.Put(ctx, append(bodies, blk)); err != nil {
		return cid.Undef, err
	}
	return blk.Cid, nil
}

// headsAgree reports whether all heads have the same fields.
func headsAgree(rd history.Reader, heads []cid.Cid) (bool, error) {
	vs := make([]merge.Version, len(heads))
	for i, h := range heads {
		var err error
		if vs[i], _, err = versionOf(rd, h); err != nil {
			return false, err
		}
	}
	return sameFields(vs), nil
}

// AutoMergeAll applies every conflicted page's policy (and settles the
// settings page). It returns the pages it merged.
func (r *Repo) AutoMergeAll(ctx context.Context) ([]cid.Cid, error) {
	rows, err := r.Store.Conflicted(ctx)
	if err != nil {
		return nil, err
	}
	pages := []cid.Cid{r.SettingsPage()}
	for _, p := range rows {
		pages = append(pages, p.ID)
	}
	var merged []cid.Cid
	for _, p := range pages {
		m, err := r.AutoMerge(ctx, p)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return merged, err
		}
		if m.Defined() && !p.Equals(r.SettingsPage()) {
			merged = append(merged, p)
		}
	}
	return merged, nil
}

// AfterReceive runs after blocks from elsewhere (a peer, an import, an
// edit on an old revision) were stored: each page that gained a divergence
// gets its replicated policy applied.
func (r *Repo) AfterReceive(ctx context.Context, divergent []cid.Cid) error {
	for _, p := range divergent {
		if _, err := r.AutoMerge(ctx, p); err != nil {
			return fmt.Errorf("automatic merge of page %s: %w", short(p), err)
		}
		if err := r.runResolvers(ctx, p); err != nil {
			return fmt.Errorf("resolver for page %s: %w", short(p), err)
		}
	}
	return nil
}

// verifyAuto is the store's check of an automatic merge revision received
// from anywhere: it must be what this replica computes from the same
// parents, under a policy those parents allow.
func verifyAuto(rd history.Reader, c cid.Cid, rev *history.Revision) error {
	if rev.Page == nil {
		g, _ := settingsGenesis(rev.Wiki)
		if !g.Cid.Equals(c) {
			return errors.New("unsigned genesis that is not the wiki's settings page")
		}
		return nil
	}
	if merge.Policy(rev.Policy) == policySame {
		want, _, err := autoMergeBlocks(rd, rev.Wiki, rev.Page.Cid, rev.ParentCIDs(), policySame)
		if errors.Is(err, errNotClean) {
			return errors.New(`made by "same" but its parents differ`)
		} else if err != nil {
			return err
		}
		if !want.Cid.Equals(c) {
			return fmt.Errorf("does not recompute: same gives %s", want.Cid)
		}
		return nil
	}
	p, err := CheckPagePolicy(rev.Policy)
	if err != nil || p == merge.PolicyManual {
		return fmt.Errorf("names no automatic policy (%q)", rev.Policy)
	}
	heads := rev.ParentCIDs()
	if len(heads) < 2 {
		return errors.New("an automatic merge needs two parents or more")
	}
	page := rev.Page.Cid
	g, _ := settingsGenesis(rev.Wiki)
	if page.Equals(g.Cid) {
		if p != merge.PolicyLWW {
			return errors.New("the settings page merges by lww only")
		}
	} else if carried, overridden, err := headsPolicy(rd, heads); err != nil {
		return err
	} else if overridden && carried != p {
		return fmt.Errorf("made by %s but its parents carry %s", p, carried)
	} else if _, home := homeOf(p); home && !overridden {
		return fmt.Errorf("made by %s, which its parents do not carry", p)
	}
	want, _, err := autoMergeBlocks(rd, rev.Wiki, page, heads, p)
	if errors.Is(err, errNotClean) {
		return fmt.Errorf("%s does not merge these parents cleanly", p)
	} else if err != nil {
		return err
	}
	if !want.Cid.Equals(c) {
		return fmt.Errorf("does not recompute: %s gives %s", p, want.Cid)
	}
	return nil
}

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
	heads, err := r.Store.Heads(ctx, page)
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
			return cid.Undef, fmt.Errorf("%w: revision %s is not a head of this page", ErrInvalid, short(res.Take))
		}
		from = res.Take
	}
	v, _, err := versionOf(r.Store.Reader(), from)
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
	if p, overridden, err := headsPolicy(r.Store.Reader(), heads); err != nil {
		return cid.Undef, err
	} else if overridden && p != merge.PolicyManual {
		d.Policy = string(p)
	} else if carried, err := r.Store.CarriedPolicy(from); err == nil {
		d.Policy = carried
	}
	if d.Msg == "" {
		d.Msg = fmt.Sprintf("resolve %d heads", len(heads))
	}
	return r.commit(ctx, d)
}

// ConfirmDefault is how many other replicas must confirm each write
// unless a command says otherwise (replicated; 0 when unset).
func (r *Repo) ConfirmDefault(ctx context.Context) int {
	s, _, err := r.settings(ctx)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(s["confirm"])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// SetConfirmDefault changes the wiki's default for --confirm.
func (r *Repo) SetConfirmDefault(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("%w: a negative number of replicas", ErrInvalid)
	}
	return r.setSetting(ctx, "confirm", strconv.Itoa(n), "confirm "+strconv.Itoa(n))
}
