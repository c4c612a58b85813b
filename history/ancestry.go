package history

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
)

// DAGNode is one revision of a page's DAG, with what ancestry needs.
type DAGNode struct {
	Cid     cid.Cid
	Height  uint64
	Time    int64
	Parents []cid.Cid
}

// pageDAG loads every revision of a page (by page row id) with its parents.
func pageDAG(q querier, page int64) (map[cid.Cid]*DAGNode, error) {
	rows, err := q.Query(`SELECT b.cid, r.height, r.time, pb.cid FROM revisions r
		JOIN blocks b ON b.id = r.id
		LEFT JOIN parents p ON p.child = r.id
		LEFT JOIN blocks pb ON pb.id = p.parent
		WHERE r.page = ?`, page)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	nodes := map[cid.Cid]*DAGNode{}
	for rows.Next() {
		var cb, pb []byte
		var n DAGNode
		if err := rows.Scan(&cb, &n.Height, &n.Time, &pb); err != nil {
			return nil, err
		}
		c, err := cid.Cast(cb)
		if err != nil {
			return nil, err
		}
		node := nodes[c]
		if node == nil {
			n.Cid = c
			node = &n
			nodes[c] = node
		}
		if pb != nil {
			p, err := cid.Cast(pb)
			if err != nil {
				return nil, err
			}
			node.Parents = append(node.Parents, p)
		}
	}
	return nodes, rows.Err()
}

func revPage(q querier, c cid.Cid) (int64, error) {
	var page int64
	err := q.QueryRow(`SELECT r.page FROM revisions r JOIN blocks b ON b.id = r.id WHERE b.cid = ?`, c.Bytes()).Scan(&page)
	if err != nil {
		return 0, fmt.Errorf("revision %s: %w", c, ErrNotFound)
	}
	return page, nil
}

// ancestors returns c and every revision reachable from it.
func ancestors(dag map[cid.Cid]*DAGNode, c cid.Cid) map[cid.Cid]bool {
	seen := map[cid.Cid]bool{}
	MarkReachable(seen, []cid.Cid{c}, dagParents(dag))
	return seen
}

// MarkReachable adds from, and everything reachable from it through
// parents, to seen; a walk stops at what seen already holds (whose
// ancestors an earlier walk reached).
func MarkReachable[K comparable](seen map[K]bool, from []K, parents func(K) []K) {
	stack := append([]K(nil), from...)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		stack = append(stack, parents(x)...)
	}
}

// dagParents is the parents of a revision of a loaded DAG (none for one
// outside it).
func dagParents(dag map[cid.Cid]*DAGNode) func(cid.Cid) []cid.Cid {
	return func(c cid.Cid) []cid.Cid {
		if n := dag[c]; n != nil {
			return n.Parents
		}
		return nil
	}
}

// MergeBaseIn picks the merge base of a and b within a loaded DAG: among
// their common ancestors, the highest, ties broken by the smallest CID
// bytes. The highest common ancestor is never an ancestor of another
// common one, so it is a lowest common ancestor; the tie-break makes the
// choice the same on every replica for criss-cross histories.
func MergeBaseIn(dag map[cid.Cid]*DAGNode, a, b cid.Cid) (cid.Cid, bool) {
	inA := ancestors(dag, a)
	var best *DAGNode
	for c := range ancestors(dag, b) {
		if !inA[c] {
			continue
		}
		n := dag[c]
		if n == nil {
			continue
		}
		if best == nil || n.Height > best.Height ||
			(n.Height == best.Height && bytes.Compare(n.Cid.Bytes(), best.Cid.Bytes()) < 0) {
			best = n
		}
	}
	if best == nil {
		return cid.Undef, false
	}
	return best.Cid, true
}

// MergeBasesIn returns every lowest common ancestor of a and b within a
// loaded DAG (the common ancestors that are no other common ancestor's
// ancestor), ordered by CID bytes. A criss-cross history has several.
func MergeBasesIn(dag map[cid.Cid]*DAGNode, a, b cid.Cid) []cid.Cid {
	inA := ancestors(dag, a)
	var common []*DAGNode
	for c := range ancestors(dag, b) {
		if n := dag[c]; inA[c] && n != nil {
			common = append(common, n)
		}
	}
	// Highest first: each candidate still standing is a lowest common
	// ancestor; its proper ancestors are not. A walk stops at nodes an
	// earlier walk reached, whose ancestors it reached too.
	sort.Slice(common, func(i, j int) bool { return common[i].Height > common[j].Height })
	below := map[cid.Cid]bool{}
	var out []cid.Cid
	for _, n := range common {
		if below[n.Cid] {
			continue
		}
		out = append(out, n.Cid)
		MarkReachable(below, n.Parents, dagParents(dag))
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Bytes(), out[j].Bytes()) < 0 })
	return out
}

func mergeBase(q querier, a, b cid.Cid) (cid.Cid, error) {
	pa, err := revPage(q, a)
	if err != nil {
		return cid.Undef, err
	}
	pb, err := revPage(q, b)
	if err != nil {
		return cid.Undef, err
	}
	if pa != pb {
		return cid.Undef, fmt.Errorf("revisions %s and %s are of different pages", a, b)
	}
	// A shallow page's merge bases are right from its one boundary up
	// (shallow.go); with more, the history below may hold a higher one.
	dag, err := mergeableDAG(q, pa)
	if err != nil {
		return cid.Undef, err
	}
	base, ok := MergeBaseIn(dag, a, b)
	if !ok {
		return cid.Undef, fmt.Errorf("revisions %s and %s have no common ancestor", a, b)
	}
	return base, nil
}

// MergeBase returns the deterministic merge base of two revisions of a page.
func (s *Store) MergeBase(ctx context.Context, a, b cid.Cid) (cid.Cid, error) {
	return mergeBase(s.q, a, b)
}

// IsAncestor reports whether a is b or an ancestor of b.
func (s *Store) IsAncestor(ctx context.Context, a, b cid.Cid) (bool, error) {
	page, err := revPage(s.db, b)
	if err != nil {
		return false, err
	}
	dag, err := pageDAG(s.db, page)
	if err != nil {
		return false, err
	}
	return ancestors(dag, b)[a], nil
}

// PageDAG returns every revision of a page with its parents.
func (s *Store) PageDAG(ctx context.Context, page cid.Cid) (map[cid.Cid]*DAGNode, error) {
	id, err := s.pageRowID(page)
	if err != nil {
		return nil, err
	}
	return mergeableDAG(s.db, id)
}

// mergeableDAG is pageDAG for what merges: ErrShallow for a page with
// more than one boundary revision (see shallow.go), whose merge bases
// may lie in the history not here yet.
func mergeableDAG(q querier, page int64) (map[cid.Cid]*DAGNode, error) {
	if n, err := pageBoundaries(q, page); err != nil {
		return nil, err
	} else if n > 1 {
		return nil, fmt.Errorf("page #%d: %w", page, ErrShallow)
	}
	return pageDAG(q, page)
}

// TopoOrder sorts a DAG newest first in a topological order (children
// before parents): by height, then time, then CID, all descending.
func TopoOrder(dag map[cid.Cid]*DAGNode) []*DAGNode {
	out := make([]*DAGNode, 0, len(dag))
	for _, n := range dag {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Height != b.Height {
			return a.Height > b.Height
		}
		if a.Time != b.Time {
			return a.Time > b.Time
		}
		return bytes.Compare(a.Cid.Bytes(), b.Cid.Bytes()) > 0
	})
	return out
}

// LogEntry is one revision in a page's log.
type LogEntry struct {
	Cid cid.Cid
	Rev *Revision
}

// Log returns every revision of a page, newest first, children before parents.
func (s *Store) Log(ctx context.Context, page cid.Cid) ([]LogEntry, error) {
	dag, err := s.PageDAG(ctx, page)
	if err != nil {
		return nil, err
	}
	var out []LogEntry
	for _, n := range TopoOrder(dag) {
		r, err := getRevision(s.q, n.Cid)
		if err != nil {
			return nil, err
		}
		out = append(out, LogEntry{n.Cid, r})
	}
	return out, nil
}
