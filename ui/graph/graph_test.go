package graph

import (
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"peerwiki/wiki"
)

// TestLines pins the drawing of DAGs given newest first; each entry
// is "rev:parent,parent".
func TestLines(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []string
		want    string
	}{
		{"linear", []string{"c:b", "b:a", "a:"}, `
* c
* b
* a`},
		{"fork", []string{"b:a", "c:a", "a:"}, `
* b
| * c
|/
* a`},
		{"merge", []string{"m:a,b", "b:g", "a:g", "g:"}, `
* m
|\
| * b
* | a
|/
* g`},
		// Issue 16: the last join was drawn " /".
		{"two forks, one merged", []string{"m:a,b", "c:g", "b:g", "a:g", "g:"}, `
* m
|\
| | * c
| * | b
| |/
* | a
|/
* g`},
		{"three heads", []string{"a:g", "b:g", "c:g", "g:"}, `
* a
| * b
|/
| * c
|/
* g`},
		{"three heads merged", []string{"m:a,b,c", "c:g", "a:g", "b:g", "g:"}, `
* m
|\ \
| | * c
* | | a
| |/
|/|
| * b
|/
* g`},
		{"a merge beside a line", []string{"x:h1", "m:h1,h2", "h2:g", "h1:g", "g:"}, `
* x
| * m
|/|
| * h2
* | h1
|/
* g`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var entries []wiki.LogEntry
			names := map[cid.Cid]string{}
			for _, s := range tc.entries {
				rev, parents, _ := strings.Cut(s, ":")
				e := wiki.LogEntry{Rev: revCid(t, rev), Parents: []cid.Cid{}}
				names[e.Rev] = rev
				if parents != "" {
					for _, p := range strings.Split(parents, ",") {
						e.Parents = append(e.Parents, revCid(t, p))
					}
				}
				entries = append(entries, e)
			}
			got := strings.Join(Lines(entries, func(e wiki.LogEntry) string { return names[e.Rev] }), "\n")
			if want := strings.TrimPrefix(tc.want, "\n"); got != want {
				t.Fatalf("graph:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// revCid is a CID that stands for the revision named name.
func revCid(t *testing.T, name string) cid.Cid {
	t.Helper()
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte(name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
