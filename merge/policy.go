package merge

import "fmt"

// Policy is how divergent heads of a page are reconciled (DESIGN.md,
// "Conflict handling"). It is replicated data: every peer that applies a
// policy to the same heads must get the same fields.
type Policy string

const (
	// PolicyManual keeps the heads until a person resolves them.
	PolicyManual Policy = "manual"
	// PolicyMerge merges title, body and deleted three-way; a clean result
	// may be committed automatically, a conflict waits for a person.
	PolicyMerge Policy = "merge"
	// PolicyUnion is PolicyMerge, except that conflicting body hunks keep
	// both sides (a's, then b's): for append-mostly notes and journals.
	PolicyUnion Policy = "union"
	// PolicyLWW takes the later head entirely: last writer wins.
	PolicyLWW Policy = "lww"
)

// ParsePolicy returns the policy called s.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicyManual, PolicyMerge, PolicyUnion, PolicyLWW:
		return p, nil
	}
	return "", fmt.Errorf("unknown policy %q (want manual, merge, union or lww)", s)
}

// Fields are the parts of a page a merge decides.
type Fields struct {
	Title, Body string
	Deleted     bool
}

// Version is one head to merge: its fields and what orders it.
type Version struct {
	Rev         string // the head's CID, as a string
	Title, Body string
	Deleted     bool
	Time        int64  // hybrid logical clock, ms
	Author      string // peer id; "" for an automatic merge revision
}

// Fields returns v's fields.
func (v Version) Fields() Fields {
	return Fields{Title: v.Title, Body: v.Body, Deleted: v.Deleted}
}

// Field names in a Conflict.
const (
	FieldTitle   = "title"
	FieldBody    = "body"
	FieldDeleted = "deleted"
)

// Conflict is one field a person has to decide, with everything a merge
// UI needs to show it.
type Conflict struct {
	Field string  // FieldTitle, FieldBody or FieldDeleted
	Base  Fields  // the fields at the merge base
	A, B  Version // the two heads, in the order given to Resolve
	// Body is the line-by-line merge of the bodies, for FieldBody: its
	// HunkConflict hunks are what is left to decide, and the rest is
	// merged already. Zero for the other fields.
	Body Result
}

// Resolve merges heads a and b of a page, whose merge base has the fields
// base, under policy p. It returns the merged fields and the conflicts
// that remain; no conflicts means the result may be committed as an
// automatic merge. Resolve is a pure function of its arguments, so every
// peer computes the same merge; for merge and union the caller must pass
// a and b in a deterministic order (body conflicts under union keep a's
// side first).
//
// The rules, per field:
//   - title is one value: if only one side changed it that side wins; both
//     changed it to the same value, that value; to different values, a
//     conflict (under union too), and the result keeps a's title.
//   - body is merged three-way (Merge3). Under merge a conflict leaves the
//     body with git-style markers labelled by a.Rev and b.Rev; under union
//     each conflicting hunk keeps a's lines then b's, so it never conflicts.
//   - deleted: if only one side changed it, that side wins. One side
//     deleted while the other changed anything: the edit wins, nothing is
//     lost: the result is not deleted and has the editing side's title and
//     body (the deleting side's own changes stay in history).
//
// Under lww the later head wins every field, ordered by Time, then Author,
// then Rev, so that a tie still has one answer; there is never a conflict.
//
// Under manual nothing is decided for the person: the fields are what
// merge would propose, and every field in which a and b differ is a
// conflict; if they differ in none, the body is reported anyway, so a
// manual result is never clean. Any policy not listed above counts as
// manual, the safe choice.
func Resolve(p Policy, base Fields, a, b Version) (Fields, []Conflict) {
	switch p {
	case PolicyLWW:
		if later(b, a) {
			return b.Fields(), nil
		}
		return a.Fields(), nil
	case PolicyMerge, PolicyUnion:
		return resolveFields(p, base, a, b)
	}
	out, _ := resolveFields(PolicyMerge, base, a, b)
	var cs []Conflict
	if a.Title != b.Title {
		cs = append(cs, Conflict{Field: FieldTitle, Base: base, A: a, B: b})
	}
	if a.Body != b.Body || a.Title == b.Title && a.Deleted == b.Deleted {
		cs = append(cs, Conflict{Field: FieldBody, Base: base, A: a, B: b, Body: Merge3(base.Body, a.Body, b.Body)})
	}
	if a.Deleted != b.Deleted {
		cs = append(cs, Conflict{Field: FieldDeleted, Base: base, A: a, B: b})
	}
	return out, cs
}

// later reports whether x comes after y in last-writer-wins order.
func later(x, y Version) bool {
	if x.Time != y.Time {
		return x.Time > y.Time
	}
	if x.Author != y.Author {
		return x.Author > y.Author
	}
	return x.Rev > y.Rev
}

// resolveFields applies the merge or union rules.
func resolveFields(p Policy, base Fields, a, b Version) (Fields, []Conflict) {
	if a.Deleted != b.Deleted {
		del, kept := a, b
		if b.Deleted {
			del, kept = b, a
		}
		if kept.Fields() != base {
			return kept.Fields(), nil // an edit beats a deletion
		}
		return del.Fields(), nil // only the deleting side changed anything
	}
	out := Fields{Deleted: a.Deleted}
	var cs []Conflict

	switch {
	case a.Title == b.Title || b.Title == base.Title:
		out.Title = a.Title
	case a.Title == base.Title:
		out.Title = b.Title
	default:
		out.Title = a.Title
		cs = append(cs, Conflict{Field: FieldTitle, Base: base, A: a, B: b})
	}

	switch {
	case a.Body == b.Body || b.Body == base.Body:
		out.Body = a.Body
	case a.Body == base.Body:
		out.Body = b.Body
	default:
		r := Merge3(base.Body, a.Body, b.Body)
		switch {
		case r.Clean():
			out.Body = r.Text(MarkerOptions{})
		case p == PolicyUnion:
			out.Body = r.Union()
		default:
			out.Body = r.Text(MarkerOptions{OursLabel: a.Rev, TheirsLabel: b.Rev})
			cs = append(cs, Conflict{Field: FieldBody, Base: base, A: a, B: b, Body: r})
		}
	}
	return out, cs
}
