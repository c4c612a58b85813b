package merge

import (
	"reflect"
	"slices"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for _, name := range []string{"manual", "merge", "union", "lww"} {
		p, err := ParsePolicy(name)
		if err != nil || string(p) != name {
			t.Errorf("ParsePolicy(%q) = %q, %v", name, p, err)
		}
	}
	for _, name := range []string{"x", "", "Merge", " lww", "last-writer-wins"} {
		_, err := ParsePolicy(name)
		want := `unknown policy "` + name + `" (want manual, merge, union or lww)`
		if err == nil || err.Error() != want {
			t.Errorf("ParsePolicy(%q) error = %v, want %q", name, err, want)
		}
	}
}

// head builds a Version for the tests.
func head(rev, title, body string, deleted bool, time int64, author string) Version {
	return Version{Rev: rev, Title: title, Body: body, Deleted: deleted, Time: time, Author: author}
}

func fieldNames(cs []Conflict) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Field)
	}
	return out
}

func TestResolveMergeAndUnion(t *testing.T) {
	base := Fields{Title: "A", Body: "one\ntwo\nthree\nfour\nfive\n"}
	for _, c := range []struct {
		name      string
		policies  []Policy
		a, b      Version
		want      Fields
		conflicts []string
	}{
		{
			name:     "title changed by a only",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "B", base.Body, false, 1, "p1"),
			b:        head("r2", "A", base.Body, false, 2, "p2"),
			want:     Fields{Title: "B", Body: base.Body},
		},
		{
			name:     "title changed by b only",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "A", base.Body, false, 1, "p1"),
			b:        head("r2", "C", base.Body, false, 2, "p2"),
			want:     Fields{Title: "C", Body: base.Body},
		},
		{
			name:     "title changed the same way",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "B", base.Body, false, 1, "p1"),
			b:        head("r2", "B", base.Body, false, 2, "p2"),
			want:     Fields{Title: "B", Body: base.Body},
		},
		{
			name:      "title A to B against A to C conflicts, under union too",
			policies:  []Policy{PolicyMerge, PolicyUnion},
			a:         head("r1", "B", base.Body, false, 1, "p1"),
			b:         head("r2", "C", base.Body, false, 2, "p2"),
			want:      Fields{Title: "B", Body: base.Body},
			conflicts: []string{FieldTitle},
		},
		{
			name:     "bodies merged line by line",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "A", "ONE\ntwo\nthree\nfour\nfive\n", false, 1, "p1"),
			b:        head("r2", "A", "one\ntwo\nthree\nfour\nFIVE\n", false, 2, "p2"),
			want:     Fields{Title: "A", Body: "ONE\ntwo\nthree\nfour\nFIVE\n"},
		},
		{
			name:      "body conflict under merge keeps markers and reports it",
			policies:  []Policy{PolicyMerge},
			a:         head("r1", "A", "one\nTWO\nthree\nfour\nfive\n", false, 1, "p1"),
			b:         head("r2", "A", "one\n2\nthree\nfour\nfive\n", false, 2, "p2"),
			want:      Fields{Title: "A", Body: "one\n<<<<<<< r1\nTWO\n=======\n2\n>>>>>>> r2\nthree\nfour\nfive\n"},
			conflicts: []string{FieldBody},
		},
		{
			name:     "body conflict under union keeps a then b",
			policies: []Policy{PolicyUnion},
			a:        head("r1", "A", "one\nTWO\nthree\nfour\nfive\n", false, 1, "p1"),
			b:        head("r2", "A", "one\n2\nthree\nfour\nfive\n", false, 2, "p2"),
			want:     Fields{Title: "A", Body: "one\nTWO\n2\nthree\nfour\nfive\n"},
		},
		{
			name:     "union appends both journal entries in order",
			policies: []Policy{PolicyUnion},
			a:        head("r1", "A", base.Body+"monday: a\n", false, 1, "p1"),
			b:        head("r2", "A", base.Body+"monday: b\n", false, 2, "p2"),
			want:     Fields{Title: "A", Body: base.Body + "monday: a\nmonday: b\n"},
		},
		{
			name:     "edit beats delete (a deleted)",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "A", base.Body, true, 5, "p1"),
			b:        head("r2", "B", "edited\n", false, 1, "p2"),
			want:     Fields{Title: "B", Body: "edited\n"},
		},
		{
			name:     "edit beats delete (b deleted, even though later)",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "A", "edited\n", false, 1, "p1"),
			b:        head("r2", "A", base.Body, true, 9, "p2"),
			want:     Fields{Title: "A", Body: "edited\n"},
		},
		{
			name:     "deletion wins when the other side changed nothing",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "A", base.Body, false, 1, "p1"),
			b:        head("r2", "A", base.Body, true, 2, "p2"),
			want:     Fields{Title: "A", Body: base.Body, Deleted: true},
		},
		{
			name:     "both deleted",
			policies: []Policy{PolicyMerge, PolicyUnion},
			a:        head("r1", "A", base.Body, true, 1, "p1"),
			b:        head("r2", "A", base.Body, true, 2, "p2"),
			want:     Fields{Title: "A", Body: base.Body, Deleted: true},
		},
	} {
		for _, p := range c.policies {
			t.Run(string(p)+"/"+c.name, func(t *testing.T) {
				got, cs := Resolve(p, base, c.a, c.b)
				if got != c.want {
					t.Errorf("fields %+v, want %+v", got, c.want)
				}
				if !slices.Equal(fieldNames(cs), c.conflicts) {
					t.Errorf("conflicts %v, want %v", fieldNames(cs), c.conflicts)
				}
				for _, cf := range cs {
					if cf.Base != base || cf.A != c.a || cf.B != c.b {
						t.Errorf("conflict %s does not carry the base and heads", cf.Field)
					}
					if cf.Field == FieldBody && cf.Body.Clean() {
						t.Errorf("body conflict with a clean body merge")
					}
				}
				again, cs2 := Resolve(p, base, c.a, c.b)
				if again != got || !reflect.DeepEqual(cs, cs2) {
					t.Errorf("Resolve is not a function of its inputs")
				}
			})
		}
	}
}

func TestResolveRestoredPage(t *testing.T) {
	base := Fields{Title: "A", Body: "x\n", Deleted: true}
	a := head("r1", "A", "x\n", true, 1, "p1")        // still deleted
	b := head("r2", "A", "x\nmore\n", false, 2, "p2") // restored and edited
	for _, p := range []Policy{PolicyMerge, PolicyUnion} {
		got, cs := Resolve(p, base, a, b)
		if want := (Fields{Title: "A", Body: "x\nmore\n"}); got != want || len(cs) != 0 {
			t.Errorf("%s: %+v %v, want %+v and no conflicts", p, got, fieldNames(cs), want)
		}
	}
}

func TestResolveLWW(t *testing.T) {
	base := Fields{Title: "A", Body: "one\n"}
	for _, c := range []struct {
		name string
		a, b Version
		want string // Rev of the winner
	}{
		{"later time wins", head("r1", "B", "a\n", false, 10, "p1"), head("r2", "C", "b\n", false, 20, "p0"), "r2"},
		{"later time wins in either order", head("r2", "C", "b\n", false, 20, "p0"), head("r1", "B", "a\n", false, 10, "p1"), "r2"},
		{"same time: greater author", head("r1", "B", "a\n", false, 10, "pz"), head("r2", "C", "b\n", false, 10, "pa"), "r1"},
		{"auto-merge author is empty and loses the tie", head("r1", "B", "a\n", false, 10, ""), head("r2", "C", "b\n", false, 10, "p"), "r2"},
		{"same time and author: greater rev", head("rb", "B", "a\n", false, 10, "p"), head("ra", "C", "b\n", false, 10, "p"), "rb"},
		{"later delete beats edit", head("r1", "B", "a\n", false, 10, "p"), head("r2", "A", "one\n", true, 11, "p"), "r2"},
		{"later edit beats delete", head("r1", "A", "one\n", true, 10, "p"), head("r2", "B", "a\n", false, 11, "p"), "r2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			win := c.a
			if c.b.Rev == c.want {
				win = c.b
			}
			got, cs := Resolve(PolicyLWW, base, c.a, c.b)
			if got != win.Fields() || len(cs) != 0 {
				t.Errorf("got %+v %v, want %s's fields %+v and no conflicts", got, fieldNames(cs), c.want, win.Fields())
			}
		})
	}
}

func TestResolveManual(t *testing.T) {
	base := Fields{Title: "A", Body: "one\ntwo\nthree\nfour\nfive\n"}
	a := head("r1", "B", "ONE\ntwo\nthree\nfour\nfive\n", false, 1, "p1")
	b := head("r2", "C", "one\ntwo\nthree\nfour\nFIVE\n", true, 2, "p2")

	for _, p := range []Policy{PolicyManual, "something-else"} {
		got, cs := Resolve(p, base, a, b)
		if want := []string{FieldTitle, FieldBody, FieldDeleted}; !slices.Equal(fieldNames(cs), want) {
			t.Errorf("%s: conflicts %v, want %v", p, fieldNames(cs), want)
		}
		// The proposal is what merge would do: here the edit beats the
		// deletion, so a's fields.
		if want, _ := Resolve(PolicyMerge, base, a, b); got != want {
			t.Errorf("%s: fields %+v, want merge's proposal %+v", p, got, want)
		}
		for _, c := range cs {
			if c.Field == FieldBody && (c.Body.Hunks == nil || !c.Body.Clean()) {
				t.Errorf("%s: body conflict lacks its (clean) line merge", p)
			}
		}
	}

	// Identical heads are still not resolved without a person.
	same := head("r3", "A", base.Body, false, 3, "p3")
	if _, cs := Resolve(PolicyManual, base, same, same); len(cs) != 1 || cs[0].Field != FieldBody {
		t.Errorf("manual with identical heads: conflicts %v, want [body]", fieldNames(cs))
	}
	// Only the title differs: only the title is asked about.
	x, y := head("r4", "X", base.Body, false, 1, "p"), head("r5", "Y", base.Body, false, 2, "p")
	if _, cs := Resolve(PolicyManual, base, x, y); !slices.Equal(fieldNames(cs), []string{FieldTitle}) {
		t.Errorf("manual, titles differ: conflicts %v, want [title]", fieldNames(cs))
	}
}
