package history

import (
	"fmt"

	"github.com/ipfs/go-cid"
)

// carriedPolicy is the page policy override a revision carries. A signed
// revision carries its own Policy field. An automatic merge names in its
// Policy field the policy that made it, which may have been the wiki's
// default rather than an override, so it carries instead the override its
// parents agree on ("" when they carry none or disagree). This keeps the
// override a pure function of the DAG.
//
// A person's resolution (a signed revision with several parents) made
// before sync version 4 copied the policy its heads carried without the
// "=" that marks the wiki's default, and so pinned the page to the
// default of that moment as if it were an override. A signed revision of
// several parents that names policy P while every parent carries "=P" is
// read as carrying "=P": no resolution sets a policy of its own (changing
// a page's policy gives each head a child of its own), so this reads
// every such revision as it was meant, and no CID changes.
func carriedPolicy(q querier, c cid.Cid, memo map[cid.Cid]string) (string, error) {
	if p, ok := memo[c]; ok {
		return p, nil
	}
	rev, err := getRevision(q, c)
	if err != nil {
		return "", err
	}
	if !rev.IsAuto() {
		carried := rev.Policy
		if len(rev.Parents) > 1 && carried != "" && carried[0] != '=' {
			pinned := true
			for _, p := range rev.Parents {
				pp, err := carriedPolicy(q, p.Cid, memo)
				if err != nil {
					return "", err
				}
				pinned = pinned && pp == "="+carried
			}
			if pinned {
				carried = "=" + carried
			}
		}
		memo[c] = carried
		return carried, nil
	}
	common := ""
	for i, p := range rev.Parents {
		pp, err := carriedPolicy(q, p.Cid, memo)
		if err != nil {
			return "", err
		}
		if i == 0 {
			common = pp
		} else if pp != common {
			common = ""
			break
		}
	}
	memo[c] = common
	return common, nil
}

// CarriedPolicy returns the policy override revision c carries.
func (s *Store) CarriedPolicy(c cid.Cid) (string, error) {
	return carriedPolicy(s.q, c, map[cid.Cid]string{})
}

func (r txReader) CarriedPolicy(c cid.Cid) (string, error) {
	return carriedPolicy(r.q, c, map[cid.Cid]string{})
}

func (r txReader) PageDAG(page cid.Cid) (map[cid.Cid]*DAGNode, error) {
	// The genesis's revision row, or a shallow page's anchor.
	var id int64
	if err := r.q.QueryRow(`SELECT b.id FROM blocks b WHERE b.cid = ? AND EXISTS(SELECT 1 FROM revisions r WHERE r.page = b.id)`, page.Bytes()).Scan(&id); err != nil {
		return nil, fmt.Errorf("page %s: %w", page, ErrNotFound)
	}
	return mergeableDAG(r.q, id)
}
