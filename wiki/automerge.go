package wiki

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/merge"
)

// policySame is merge.PolicySame.
const policySame = merge.PolicySame

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
	fields, picks, clean := merge.Pick(p, vs)
	if picks && !clean {
		return history.Block{}, nil, errNotClean
	}
	if !picks {
		dag, err := rd.PageDAG(page)
		if err != nil {
			return history.Block{}, nil, err
		}
		acc := vs[0]
		for k := 1; k < len(heads); k++ {
			base, _, err := baseFields(rd, dag, heads[:k], heads[k], p, 0)
			if err != nil {
				return history.Block{}, nil, err
			}
			f, conflicts := merge.Resolve(p, base, acc, vs[k])
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
	rev.StampMerge(revs)
	blk, err := rev.Block()
	return blk, bodies, err
}

// maxVirtualDepth bounds how deep baseFields recurses into criss-crosses
// of criss-crosses before settling for one base.
const maxVirtualDepth = 8

// baseFields is the base against which h is merged into the merge of set,
// and the revision it is (cid.Undef when it is no single revision). With
// one lowest common ancestor it is that revision. A criss-cross history
// (replicas that merged the same changes in different orders, each merge
// made as the other side's edits trickled in) has several, and any one of
// them makes changes the other side merged long ago look new, and
// conflict. Like git's recursive strategy, the base is then the merge of
// those ancestors themselves, under the same policy, folded in CID order
// so that every replica gets the same; should that merge leave a
// conflict, the base is the one ancestor MergeBaseIn picks.
func baseFields(rd history.Reader, dag map[cid.Cid]*history.DAGNode, set []cid.Cid, h cid.Cid, p merge.Policy, depth int) (merge.Fields, cid.Cid, error) {
	withSet, tip := dag, set[0]
	if len(set) > 1 {
		withSet, tip = withVirtualMerge(dag, set)
	}
	bases := history.MergeBasesIn(withSet, tip, h)
	if len(bases) == 0 {
		return merge.Fields{}, cid.Undef, fmt.Errorf("no common ancestor of %d heads and %s", len(set), h)
	}
	revision := func(b cid.Cid) (merge.Fields, cid.Cid, error) {
		v, _, err := versionOf(rd, b)
		return v.Fields(), b, err
	}
	if len(bases) == 1 {
		return revision(bases[0])
	}
	single := func() (merge.Fields, cid.Cid, error) {
		b, ok := history.MergeBaseIn(withSet, tip, h)
		if !ok {
			return merge.Fields{}, cid.Undef, fmt.Errorf("no common ancestor of %d heads and %s", len(set), h)
		}
		return revision(b)
	}
	if depth >= maxVirtualDepth {
		return single()
	}
	acc, _, err := versionOf(rd, bases[0])
	if err != nil {
		return merge.Fields{}, cid.Undef, err
	}
	for k := 1; k < len(bases); k++ {
		base, _, err := baseFields(rd, dag, bases[:k], bases[k], p, depth+1)
		if err != nil {
			return merge.Fields{}, cid.Undef, err
		}
		vk, _, err := versionOf(rd, bases[k])
		if err != nil {
			return merge.Fields{}, cid.Undef, err
		}
		f, conflicts := merge.Resolve(p, base, acc, vk)
		if len(conflicts) > 0 {
			return single()
		}
		acc = merge.Version{Rev: acc.Rev, Title: f.Title, Body: f.Body, Deleted: f.Deleted, Time: max(acc.Time, vk.Time)}
	}
	return acc.Fields(), cid.Undef, nil
}

// withVirtualMerge returns dag with one more node, a merge of set, and
// that node's id.
func withVirtualMerge(dag map[cid.Cid]*history.DAGNode, set []cid.Cid) (map[cid.Cid]*history.DAGNode, cid.Cid) {
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
	return withVirtual, virtual
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
// the merge revision, or cid.Undef when the page's heads agree, its policy
// is manual, or the policy leaves a real conflict for a person.
func (r *Repo) AutoMerge(ctx context.Context, page cid.Cid) (cid.Cid, error) {
	heads, err := r.store.Heads(ctx, page)
	if err != nil {
		return cid.Undef, r.notFound(err, page.String())
	}
	if len(heads) < 2 {
		return cid.Undef, nil
	}
	heads = sortByBytes(heads)
	rd := r.store.Reader()
	p, err := r.applicablePolicy(ctx, rd, page, heads)
	if err != nil {
		return cid.Undef, err
	}
	if same, err := headsAgree(rd, heads); err != nil || same {
		return cid.Undef, err
	}
	blk, bodies, err := autoMergeBlocks(rd, r.Config.Wiki, page, heads, p)
	if errors.Is(err, errNotClean) {
		return cid.Undef, nil
	} else if err != nil {
		return cid.Undef, err
	}
	if _, err := r.store.Put(ctx, append(bodies, blk)); err != nil {
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
	return merge.Same(vs), nil
}

// AutoMergeAll applies every conflicted page's policy (and settles the
// settings page). It returns the pages it merged.
func (r *Repo) AutoMergeAll(ctx context.Context) ([]cid.Cid, error) {
	rows, err := r.store.Conflicted(ctx)
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

// ApplyPolicies runs after blocks from anywhere (a peer, an import, an
// edit on an old revision) were stored: each page that gained a divergence
// gets its replicated policy applied.
func (r *Repo) ApplyPolicies(ctx context.Context, divergent []cid.Cid) error {
	for _, p := range divergent {
		if _, err := r.AutoMerge(ctx, p); err != nil {
			return fmt.Errorf("automatic merge of page %s: %w", Short(p), err)
		}
		if err := r.runResolvers(ctx, p); err != nil {
			return fmt.Errorf("resolver for page %s: %w", Short(p), err)
		}
	}
	return nil
}

// forged is verifyAuto's verdict on a revision that is not what it
// claims: history.ErrForgedMerge, which gets its sender banned like a bad
// signature. Errors of reading are returned as they are.
func forged(format string, a ...any) error {
	return fmt.Errorf("%w: %s", history.ErrForgedMerge, fmt.Sprintf(format, a...))
}

// verifyAuto is the store's check of an automatic merge revision received
// from anywhere: it must be what this replica computes from the same
// parents, under a policy those parents allow.
func verifyAuto(rd history.Reader, c cid.Cid, rev *history.Revision) error {
	if rev.Page == nil {
		g, _ := settingsGenesis(rev.Wiki)
		m, _ := membersGenesis(rev.Wiki)
		if !g.Cid.Equals(c) && !m.Cid.Equals(c) {
			return forged("unsigned genesis that is not the wiki's settings or members page")
		}
		return nil
	}
	if merge.Policy(rev.Policy) == policySame {
		want, _, err := autoMergeBlocks(rd, rev.Wiki, rev.Page.Cid, rev.ParentCIDs(), policySame)
		if errors.Is(err, errNotClean) {
			return forged(`made by "same" but its parents differ`)
		} else if err != nil {
			return err
		}
		if !want.Cid.Equals(c) {
			return forged("does not recompute: same gives %s", want.Cid)
		}
		return nil
	}
	p, err := CheckPagePolicy(rev.Policy)
	if err != nil || p == merge.PolicyManual {
		return forged("names no automatic policy (%q)", rev.Policy)
	}
	heads := rev.ParentCIDs()
	if len(heads) < 2 {
		return forged("an automatic merge needs two parents or more")
	}
	page := rev.Page.Cid
	g, _ := settingsGenesis(rev.Wiki)
	if page.Equals(g.Cid) {
		if p != merge.PolicyLWW {
			return forged("the settings page merges by lww only")
		}
	} else if carried, overridden, err := headsPolicy(rd, heads); err != nil {
		return err
	} else if overridden && carried != p {
		return forged("made by %s but its parents carry %s", p, carried)
	} else if _, home := merge.HomeOf(p); home && !overridden {
		return forged("made by %s, which its parents do not carry", p)
	}
	want, _, err := autoMergeBlocks(rd, rev.Wiki, page, heads, p)
	if errors.Is(err, errNotClean) {
		return forged("%s does not merge these parents cleanly", p)
	} else if err != nil {
		return err
	}
	if !want.Cid.Equals(c) {
		return forged("does not recompute: %s gives %s", p, want.Cid)
	}
	return nil
}

// FoldBase is the base against which head h is folded into the merge of
// set, as the merge policy computes it (baseFields): the version of their
// lowest common ancestor, or, on a criss-cross history with several, the
// merge of those, whose Rev is then empty. Automatic merges, resolvers and
// the merge screen all fold heads against this base.
func (r *Repo) FoldBase(ctx context.Context, page cid.Cid, set []cid.Cid, h cid.Cid) (Version, error) {
	rd := r.store.Reader()
	dag, err := rd.PageDAG(page)
	if err != nil {
		return Version{}, err
	}
	f, rev, err := baseFields(rd, dag, set, h, merge.PolicyMerge, 0)
	if err != nil {
		return Version{}, err
	}
	if rev.Defined() {
		v, _, err := r.RevisionVersion(ctx, rev)
		return v, err
	}
	return Version{Title: f.Title, Body: f.Body, Deleted: f.Deleted}, nil
}
