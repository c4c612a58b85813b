package test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// memberJSON is one entry of `members --json`.
type memberJSON struct {
	PeerID  string `json:"peer_id"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Removed bool   `json:"removed"`
}

func (r *Repo) members() []memberJSON {
	r.T.Helper()
	var ms []memberJSON
	r.JSON(&ms, "members", "--json")
	return ms
}

func (r *Repo) peerID() string {
	r.T.Helper()
	var st struct {
		PeerID string `json:"peer_id"`
	}
	r.JSON(&st, "status", "--json")
	return st.PeerID
}

// memberState is a replica's member list as one comparable string.
func (r *Repo) memberState() string {
	r.T.Helper()
	var out []string
	for _, m := range r.members() {
		out = append(out, m.PeerID+" "+m.Role+" "+map[bool]string{true: "removed", false: "in"}[m.Removed])
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// counted returns the revisions of every page the replica counts (not
// void), and the void ones, each mapped to its author.
func (r *Repo) counted() (counted, void map[string]string) {
	r.T.Helper()
	counted, void = map[string]string{}, map[string]string{}
	var pages []Page
	r.JSON(&pages, "list", "--all", "--json")
	for _, p := range pages {
		var log []struct {
			Rev    string
			Author string
			Void   bool
		}
		r.JSON(&log, "log", p.ID, "--json")
		for _, e := range log {
			if e.Void {
				void[e.Rev] = e.Author
			} else {
				counted[e.Rev] = e.Author
			}
		}
	}
	return counted, void
}

// Five replicas in the natural topology; Ada (the founder) removes Dave.
// Carol, offline from Ada, syncs with Dave after the removal was written
// and builds on what Dave wrote after it; when Carol meets Ada again,
// every replica agrees that nothing Dave wrote after his removal counts,
// Carol's own edit does, and Dave, who keeps his repo, his addresses and
// tries again, is refused by everyone and receives nothing new.
func TestRemovedMemberGetsNothingAndCountsNothing(t *testing.T) {
	ada := InitRepo(t, "ada")
	page := ada.OK("new", "Plan", "--body", "v1\n")
	sa := ada.StartServe()
	repos, serves := inviteAndServe(t, ada, "bob", "carol", "dave", "erin")
	bob, carol, dave, erin := repos[0], repos[1], repos[2], repos[3]
	sc, sd := serves[1], serves[2]
	all := []*Repo{ada, bob, carol, dave, erin}
	converged := func(rs []*Repo) func() bool {
		return func() bool {
			want := rs[0].HeadsState()
			for _, r := range rs[1:] {
				if r.HeadsState() != want {
					return false
				}
			}
			return true
		}
	}

	// Dave writes before his removal: that stays.
	before := dave.OK("new", "Dave's notes", "--body", "kept\n")
	Eventually(t, 20*time.Second, "every replica to hold Dave's page", converged(all))
	daveID := dave.peerID()

	// Carol and Dave go offline; Dave writes on; Ada removes Dave.
	sc.Stop()
	sd.Stop()
	after := dave.OK("edit", page, "--body", "v2 by dave, after his removal\n")
	ada.OK("member", "remove", "dave")
	ada.Fail(1, []string{"member", "remove", "ada"}, "last admin")

	// Dave's node comes back (Ada's refuses it); Carol syncs with it
	// before she learns of the removal, and edits on top of what Dave
	// wrote.
	sd = dave.StartServe()
	carol.OK("sync", "--peer", sd.Addr())
	carolEdit := carol.OK("edit", page, "--body", "v3 by carol, on dave's v2\n")
	sd.Stop()

	// Carol meets Ada again.
	sc = carol.StartServe("--peer", sa.Addr())
	members := []*Repo{ada, bob, carol, erin}
	Eventually(t, 30*time.Second, "the four members to converge", converged(members))
	for _, r := range members {
		r.OK("sync")
	}
	Eventually(t, 30*time.Second, "the four members to converge after a sync round", converged(members))

	want := ada.memberState()
	if !strings.Contains(want, daveID+" member removed") {
		t.Fatalf("Ada's list does not show Dave removed:\n%s", want)
	}
	wantCounted, wantVoid := ada.counted()
	for _, r := range members {
		if got := r.memberState(); got != want {
			t.Fatalf("member lists differ:\n%s\nvs\n%s", got, want)
		}
		counted, void := r.counted()
		if _, ok := counted[after]; ok {
			t.Fatalf("%s counts Dave's revision written after his removal", r.Dir)
		}
		if _, ok := counted[before]; !ok {
			t.Fatal("Dave's page from before his removal no longer counts")
		}
		if _, ok := counted[carolEdit]; !ok {
			t.Fatal("Carol's edit built on Dave's void revision was lost")
		}
		if !sameKeys(counted, wantCounted) || !sameKeys(void, wantVoid) {
			t.Fatalf("replicas disagree on which revisions count: %d/%d counted, %d/%d void",
				len(counted), len(wantCounted), len(void), len(wantVoid))
		}
		if got := r.Show(page); !strings.Contains(got.Body, "v3 by carol") {
			t.Fatalf("the page shows %q, want Carol's edit", got.Body)
		}
	}

	// Dave keeps trying, with his repo, his remembered peers and his old
	// addresses: every member refuses him and he receives nothing new.
	fresh := ada.OK("new", "After Dave", "--body", "not for dave\n")
	dave.Fail(1, []string{"sync", "--timeout", "5s"})
	for _, s := range []*Serve{sa, serves[0], sc, serves[3]} {
		dave.Fail(1, []string{"sync", "--peer", s.Addr(), "--timeout", "5s"})
	}
	sd = dave.StartServe()
	time.Sleep(2 * time.Second) // gives its redials a chance to (wrongly) succeed
	sd.Stop()
	if strings.Contains(dave.OK("list", "--json"), fresh) {
		t.Fatal("Dave received a page written after his removal")
	}
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// Invites: a code for one person admits one; an expired, a revoked and a
// forged code are refused with the reason, and leave no replica behind.
func TestInvitesAreRefusedWithTheReason(t *testing.T) {
	ada := InitRepo(t, "ada")
	ada.OK("new", "Note", "--body", "hi\n")
	sa := ada.StartServe()

	// A code of another wiki that names Ada's node.
	bea := InitRepo(t, "bea")
	NewRepo(t).Fail(1, []string{"join", bea.OK("invite", "--addr", sa.Addr())}, "another wiki")

	once := ada.OK("invite")
	NewRepo(t).OK("join", once, "--name", "bob")
	second := NewRepo(t)
	second.Fail(1, []string{"join", once, "--name", "eve"}, "used")
	if _, err := os.Stat(filepath.Join(second.Dir, "config.json")); err == nil {
		t.Fatal("a refused join left a repo behind")
	}

	expiring := ada.OK("invite", "--expires", "1s")
	time.Sleep(1500 * time.Millisecond)
	NewRepo(t).Fail(1, []string{"join", expiring}, "expired")

	revoked := ada.OK("invite", "--uses", "5")
	var list []struct{ ID string }
	ada.JSON(&list, "invite", "--list", "--json")
	for _, i := range list {
		if strings.Contains(ada.OK("invite", "--list"), i.ID[:12]+"  member  0/5") {
			ada.OK("invite", "--revoke", i.ID[:8])
		}
	}
	NewRepo(t).Fail(1, []string{"join", revoked}, "revoked")

	// A member who is not an admin cannot invite.
	bob := NewRepo(t)
	bob.OK("join", ada.OK("invite"), "--name", "bob2")
	bob.Fail(1, []string{"invite", "--addr", "/ip4/127.0.0.1/tcp/9"}, "only an admin")

	// Removing yourself is allowed (once another admin remains), with a
	// warning; bob2 is then the wiki's admin.
	ada.OK("member", "role", "bob2", "admin")
	res := ada.Run("member", "remove", "ada")
	if res.Code != 0 || !strings.Contains(res.Stderr, "warning: you removed yourself") {
		t.Fatalf("removing yourself: %+v", res)
	}
	ada.Fail(1, []string{"member", "role", "bob2", "member"}, "only an admin")

	// Bad input.
	NewRepo(t).Fail(1, []string{"join", "peerwiki2:abc"}, "invalid join code")
	NewRepo(t).Fail(1, []string{"join", "peerwiki1:aaaa"}, "older peerwiki")
	bob.Fail(1, []string{"invite", "--uses", "0", "--addr", "/ip4/127.0.0.1/tcp/9"}, "--uses")
	bob.Fail(1, []string{"invite", "--role", "owner", "--addr", "/ip4/127.0.0.1/tcp/9"}, "role")
	ada.Fail(1, []string{"member", "remove", "nobody"}, "only an admin")
}

// A repo made before membership (a legacy wiki id and key) upgrades in
// place: its founder's serve writes the member list, invites work, and a
// new member syncs the old history.
func TestLegacyRepoUpgradesAndInvites(t *testing.T) {
	a := oldBuildRepo(t)
	a.StartServe()
	ms := a.members()
	if len(ms) != 1 || ms[0].Role != "admin" || ms[0].Name != "ada" {
		t.Fatalf("the upgraded member list: %+v", ms)
	}
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")
	if got, want := b.HeadsState(), a.HeadsState(); got != want {
		t.Fatalf("the new member's replica differs from the founder's:\n%s\nvs\n%s", got, want)
	}
	if got := b.memberState(); got != a.memberState() {
		t.Fatalf("member lists differ:\n%s\nvs\n%s", got, a.memberState())
	}
}
