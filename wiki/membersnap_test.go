package wiki_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// membersView is what a member list tells its readers.
type membersView struct {
	List    []wiki.Member
	Founder string
	Secret  []byte
	Uses    int
	Counts  bool
	Removed bool
}

// bobsRev is a revision of a member's, to ask whether it counts.
type bobsRev struct {
	cid    cid.Cid
	rev    *history.Revision
	author peer.ID
}

func viewMembers(t *testing.T, r *wiki.Repo, invite string, b bobsRev) membersView {
	t.Helper()
	m, err := r.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	list := m.List()
	for i := range list { // times as a JSON round trip keeps them
		list[i].Since, list[i].RemovedAt = list[i].Since.UTC(), list[i].RemovedAt.UTC()
	}
	return membersView{List: list, Founder: m.Founder.String(), Secret: m.RendezvousSecret(), Uses: m.Uses(invite),
		Counts: m.Counts(b.cid, b.rev), Removed: m.IsRemoved(b.author)}
}

// The member list a process computes is kept for the next one (the
// snapshot), which reads it instead of replaying every operation; a
// snapshot that is stale, damaged or missing is replayed past, and the
// list read is the same in every case.
func TestMemberListSnapshot(t *testing.T) {
	ctx := context.Background()
	a := newRepo(t)
	dir := a.Dir
	bob := newReplica(t, a, "bob")
	newReplica(t, a, "carol")
	page, err := bob.Create(ctx, "Bob's page", "hello\n", "")
	if err != nil {
		t.Fatal(err)
	}
	copyAll(t, bob, a)
	_, info, err := a.NewInvite(ctx, wiki.RoleMember, 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RemoveMember(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	heads, err := wikitest.Store(a).Heads(ctx, page)
	if err != nil || len(heads) != 1 {
		t.Fatal(heads, err)
	}
	r0, err := wikitest.Store(a).Revision(ctx, heads[0])
	if err != nil {
		t.Fatal(err)
	}
	rev := bobsRev{heads[0], r0, bob.ID.ID}
	want := viewMembers(t, a, info.ID, rev)
	if !want.Removed || !want.Counts || len(want.List) != 3 || want.Secret == nil {
		t.Fatalf("the list before: %+v", want)
	}
	snap := filepath.Join(dir, "members.snap")
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot written: %v", err)
	}
	reopen := func() *wiki.Repo {
		t.Helper()
		r, err := wiki.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a.Close()
	// The snapshot is what the next process reads (trusted as the
	// database beside it is): a name changed in it shows.
	b, _ := os.ReadFile(snap)
	cborText := func(s string) []byte { return append([]byte{0x60 | byte(len(s))}, s...) }
	named := func(name string) []byte { return append(cborText("name"), cborText(name)...) }
	if !bytes.Contains(b, named("bob")) {
		t.Fatalf("no member named bob in the snapshot: %x", b)
	}
	os.WriteFile(snap, bytes.Replace(b, named("bob"), named("robert"), 1), 0o600)
	if m, err := reopen().Members(ctx); err != nil || m.List()[1].Name != "robert" && m.List()[2].Name != "robert" {
		t.Fatalf("the snapshot was not read: %v, %v", m.List(), err)
	}
	os.WriteFile(snap, b, 0o600)
	for _, tc := range []struct {
		name  string
		spoil func()
	}{
		{"from the snapshot", func() {}},
		{"damaged", func() { os.WriteFile(snap, b[:len(b)/2], 0o600) }},
		{"an older build's JSON", func() { os.WriteFile(snap, []byte(`{"v":1,"wiki":"x"}`), 0o600) }},
		{"missing", func() { os.Remove(snap) }},
		{"for other heads", func() {
			var v map[string]any
			if err := cbor.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			other, _ := cid.Decode("bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
			v["heads"] = [][]byte{other.Bytes()}
			changed, err := cbor.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(snap, changed, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spoil()
			r := reopen()
			if got := viewMembers(t, r, info.ID, rev); !reflect.DeepEqual(got, want) {
				t.Fatalf("list read %s:\n got %+v\nwant %+v", tc.name, got, want)
			}
			r.Close()
		})
	}
}

// pageByARemovedMember is a repo where bob, removed, then made a page
// (void here), which it returns.
func pageByARemovedMember(t *testing.T) (*wiki.Repo, cid.Cid) {
	t.Helper()
	ctx := context.Background()
	a := newRepo(t)
	bob := newReplica(t, a, "bob")
	if _, err := bob.Create(ctx, "Before", "counted\n", ""); err != nil {
		t.Fatal(err)
	}
	copyAll(t, bob, a)
	if _, err := a.RemoveMember(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	after, err := bob.Create(ctx, "After", "made after bob was removed\n", "")
	if err != nil {
		t.Fatal(err)
	}
	copyAll(t, bob, a)
	return a, after
}

// A process that dies between changing the member list and marking the
// revisions it voids leaves marks made for another version of the list:
// the next process to open the repo marks again.
func TestVoidMarksRedoneAfterACrash(t *testing.T) {
	ctx := context.Background()
	a, after := pageByARemovedMember(t)
	dir := a.Dir
	isVoid := func(r *wiki.Repo) bool {
		t.Helper()
		v, err := wikitest.Store(r).IsVoid(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !isVoid(a) {
		t.Fatal("bob's page made after his removal should be void")
	}
	// What a crash after the list's commit and before the marking leaves.
	db := wikitest.Store(a).DB()
	if _, err := db.Exec(`DELETE FROM void`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE meta SET value = 'members:an-older-list' WHERE key = 'void_basis'`); err != nil {
		t.Fatal(err)
	}
	a.Close()
	r, err := wiki.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !isVoid(r) {
		t.Fatal("the next process did not mark bob's revision void again")
	}
}

// fsck checks the void marks against the member list.
func TestFsckChecksVoidMarks(t *testing.T) {
	ctx := context.Background()
	a, after := pageByARemovedMember(t)
	probs, err := a.Fsck(ctx, nil)
	if err != nil || len(probs) != 0 {
		t.Fatalf("fsck of a sound repo: %v, %v", probs, err)
	}
	if _, err := wikitest.Store(a).DB().Exec(`DELETE FROM void`); err != nil {
		t.Fatal(err)
	}
	probs, err = a.Fsck(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range probs {
		found = found || p.Object == after.String() && strings.Contains(p.What, "member list voids it")
	}
	if !found {
		t.Fatalf("fsck did not see the missing void mark: %v", probs)
	}
}
