package merge

import "strings"

// The policies that pick one head's fields instead of merging them. Each
// is a pure function of the heads, like every policy: a change here
// changes which automatic merges recompute, and forks the network.

// PolicySame names an automatic merge of heads whose title, body and
// deleted state are all identical. Earlier versions of peerwiki made
// them; replicas now only verify them when they arrive (heads that agree
// are one version and need no merge: every replica making its own merge
// of the agreeing heads it held made merge storms, chaos seed 35).
const PolicySame Policy = "same"

// HomePrefix starts a page-home policy, "home:PEERID": the replica whose
// edits win any conflict on the page (routing a record's writes through
// one leader). The others' concurrent edits stay in history as parents of
// the result. Only a page can carry it, never the wiki's default.
const HomePrefix = "home:"

// PriorityPrefix starts a replica-priority policy, "priority:ID,ID,...":
// a conflict is resolved in favour of the head whose author comes first
// in the list (authors not listed come last), last-writer-wins among
// equals. The list travels inside the policy, so the merge stays a pure
// function of the heads.
const PriorityPrefix = "priority:"

// PriorityOf returns the ordered author ids of a priority policy.
func PriorityOf(p Policy) ([]string, bool) {
	list, ok := strings.CutPrefix(string(p), PriorityPrefix)
	if !ok {
		return nil, false
	}
	return strings.Split(list, ","), true
}

// HomeOf returns the home replica of a home policy.
func HomeOf(p Policy) (string, bool) {
	return strings.CutPrefix(string(p), HomePrefix)
}

// LastWriter is the head last-writer-wins picks: the latest by (time,
// author, revision id), so that a tie still has one answer.
func LastWriter(vs []Version) Version {
	best := vs[0]
	for _, v := range vs[1:] {
		if later(v, best) {
			best = v
		}
	}
	return best
}

// Same reports whether every version has the same fields.
func Same(vs []Version) bool {
	for _, v := range vs[1:] {
		if v.Fields() != vs[0].Fields() {
			return false
		}
	}
	return true
}

// Pick applies a policy that picks one head's fields (same, priority,
// home, lww) to heads vs. picks is false for a policy that merges
// instead (merge, union) or leaves the heads to a person (manual);
// clean is false when the policy picks but these heads leave a conflict
// (same, with heads that differ).
func Pick(p Policy, vs []Version) (f Fields, picks, clean bool) {
	if order, ok := PriorityOf(p); ok {
		rank := func(author string) int {
			for i, id := range order {
				if id == author {
					return i
				}
			}
			return len(order)
		}
		best := len(order) + 1
		var top []Version
		for _, v := range vs {
			switch k := rank(v.Author); {
			case k < best:
				best, top = k, []Version{v}
			case k == best:
				top = append(top, v)
			}
		}
		return LastWriter(top).Fields(), true, true
	}
	if home, ok := HomeOf(p); ok {
		var homes []Version
		for _, v := range vs {
			if v.Author == home {
				homes = append(homes, v)
			}
		}
		if len(homes) == 0 {
			homes = vs // no head is the home's: the last writer wins
		}
		return LastWriter(homes).Fields(), true, true
	}
	switch p {
	case PolicySame:
		return vs[0].Fields(), true, Same(vs)
	case PolicyLWW:
		return LastWriter(vs).Fields(), true, true
	}
	return Fields{}, false, false
}
