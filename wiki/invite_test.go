package wiki

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"peerwiki/history"
)

func newTestRepo(t *testing.T, name string) *Repo {
	t.Helper()
	r, err := Init(filepath.Join(t.TempDir(), name), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestForgedInvitesAreRefused(t *testing.T) {
	ctx := context.Background()
	a := newTestRepo(t, "ada")
	joiner, _ := history.NewIdentity()
	good, _, err := a.NewInvite(ctx, RoleMember, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// A changed expiry (or role, or use count) breaks the signature.
	var tok inviteToken
	if err := tokenDec.Unmarshal(good, &tok); err != nil {
		t.Fatal(err)
	}
	tok.Expires += int64(365 * 24 * time.Hour / time.Millisecond)
	longer, _ := tokenEnc.Marshal(tok)
	if _, err := a.Redeem(ctx, longer, joiner.ID, "eve"); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("an invite with a changed expiry: %v", err)
	}

	// Signed by someone who is not an admin (here: not a member at all).
	mallory, _ := history.NewIdentity()
	forged := inviteToken{Wiki: a.Config.Wiki, ID: newNonce(), Role: RoleAdmin, Uses: 100,
		Expires: time.Now().Add(time.Hour).UnixMilli(), Issuer: []byte(mallory.ID)}
	forged.Sig, _ = mallory.Key.Sign(forged.unsigned())
	fb, _ := tokenEnc.Marshal(forged)
	if _, err := a.Redeem(ctx, fb, joiner.ID, "eve"); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("an invite signed by a non-admin: %v", err)
	}

	// Another wiki's invite, garbage, an oversized token.
	b := newTestRepo(t, "bea")
	other, _, _ := b.NewInvite(ctx, RoleMember, 1, time.Hour)
	for name, tok := range map[string][]byte{"other wiki": other, "garbage": []byte("\xa1\x01\x02"), "huge": make([]byte, 5000)} {
		if _, err := a.Redeem(ctx, tok, joiner.ID, "eve"); !errors.Is(err, ErrBadInvite) {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// The real one works once; a second person is refused, the same one is not.
	if role, err := a.Redeem(ctx, good, joiner.ID, "joe"); err != nil || role != RoleMember {
		t.Fatalf("redeem: %q %v", role, err)
	}
	if _, err := a.Redeem(ctx, good, joiner.ID, "joe"); err != nil {
		t.Fatalf("redeeming again for the same member: %v", err)
	}
	second, _ := history.NewIdentity()
	if _, err := a.Redeem(ctx, good, second.ID, "sam"); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("second use: %v", err)
	}
	m, _ := a.Members(ctx)
	if !m.IsMember(joiner.ID) || m.IsMember(second.ID) || m.Uses(hexID(tok.ID)) != 1 {
		t.Fatalf("member list after redeeming: %+v", m.List())
	}
}

func TestRemovalVoidsLaterWritesAndKeepsMembersWork(t *testing.T) {
	ctx := context.Background()
	a := newTestRepo(t, "ada")
	d, err := InitReplica(filepath.Join(t.TempDir(), "dave"), "dave", a.Config.Wiki, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := a.AddMember(ctx, d.ID.ID, "dave", RoleMember); err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, a, d)
	page, err := d.Create(ctx, "Dave's", "before\n", "")
	if err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, d, a)
	// Dave writes on after Ada's removal, which he has not seen.
	if _, err := a.RemoveMember(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	after, err := d.Edit(ctx, page, Edit{Body: ptr("after\n")})
	if err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, d, a)
	if void, _ := a.store.IsVoid(ctx, after); !void {
		t.Fatal("Dave's write after his removal counts")
	}
	if void, _ := a.store.IsVoid(ctx, page); void {
		t.Fatal("Dave's write before his removal no longer counts")
	}
	heads, _ := a.store.Heads(ctx, page)
	if len(heads) != 1 || !heads[0].Equals(page) {
		t.Fatalf("heads after the void write: %v", heads)
	}
}

func ptr(s string) *string { return &s }

func hexID(b []byte) string { return hex.EncodeToString(b) }

// copyBlocks stores every block of from in to, as a sync would, and tells
// to's member list.
func copyBlocks(t *testing.T, from, to *Repo) {
	t.Helper()
	ctx := context.Background()
	plan, err := from.store.PlanSync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []history.Block
	if err := from.store.SendPlan(ctx, plan, func(b history.Block) error { blocks = append(blocks, b); return nil }); err != nil {
		t.Fatal(err)
	}
	res, err := to.store.Put(ctx, blocks)
	if err != nil {
		t.Fatal(err)
	}
	to.ObserveReceived(ctx, res)
}

// A wiki made before membership (a random id, a shared key, no member
// list) upgrades in place: its founder, the author of its earliest
// revision, writes the list with every author it holds; until then every
// author counts; afterwards a stranger's revision is refused.
func TestLegacyWikiUpgrades(t *testing.T) {
	ctx := context.Background()
	id := NewWikiID()
	if !IsLegacyWikiID(id) {
		t.Fatal("a random wiki id should read as one from before membership")
	}
	mk := func(name string) *Repo {
		r, err := InitReplica(filepath.Join(t.TempDir(), name), name, id, NewKey())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	ada, bob, eve := mk("ada"), mk("bob"), mk("eve")
	if _, err := ada.Create(ctx, "First", "x\n", ""); err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, ada, bob)
	if _, err := bob.Create(ctx, "Bob's", "y\n", ""); err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, bob, ada)
	// Not the founder: nothing happens.
	if done, err := bob.UpgradeMembers(ctx); err != nil || done {
		t.Fatalf("bob upgraded the list: %v %v", done, err)
	}
	if member, _ := bob.Access(ada.ID.ID); !member {
		t.Fatal("before the upgrade, an author must count as a member")
	}
	if done, err := ada.UpgradeMembers(ctx); err != nil || !done {
		t.Fatalf("the founder did not upgrade the list: %v %v", done, err)
	}
	m, _ := ada.Members(ctx)
	if !m.IsAdmin(ada.ID.ID) || !m.IsMember(bob.ID.ID) || m.IsAdmin(bob.ID.ID) || m.IsMember(eve.ID.ID) {
		t.Fatalf("upgraded list: %+v", m.List())
	}
	// A replica made after the upgrade (it joined): it holds nothing yet,
	// so it lets its inviter in for the first sync.
	carol := mk("carol")
	if member, _ := carol.Access(ada.ID.ID); !member {
		t.Fatal("a new replica of an upgraded wiki refuses its inviter")
	}
	copyBlocks(t, ada, bob)
	if mb, _ := bob.Members(ctx); !mb.Founded || mb.Founder != ada.ID.ID {
		t.Fatalf("bob's list after the upgrade: %+v", mb.List())
	}
	// Eve, never an author, writes now: refused at Ada's.
	if _, err := eve.Create(ctx, "Eve's", "z\n", ""); err != nil {
		t.Fatal(err)
	}
	plan, _ := eve.store.PlanSync(ctx, nil)
	var blocks []history.Block
	_ = eve.store.SendPlan(ctx, plan, func(b history.Block) error { blocks = append(blocks, b); return nil })
	res, err := ada.store.Put(ctx, blocks)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deferred) == 0 || !errors.Is(res.Deferred[0].Err, history.ErrNotMember) {
		t.Fatalf("a non-member's revision was not refused: %+v", res.Deferred)
	}
	// Until Ada adds her.
	if err := ada.AddMember(ctx, eve.ID.ID, "eve", RoleMember); err != nil {
		t.Fatal(err)
	}
	if res, err := ada.store.Put(ctx, blocks); err != nil || len(res.Deferred) != 0 {
		t.Fatalf("a new member's revision: %v %+v", err, res)
	}
}

// A replica that learnt of its own removal refuses to write: what it
// wrote would count nowhere, its own store included.
func TestARemovedReplicaRefusesToWrite(t *testing.T) {
	ctx := context.Background()
	a := newTestRepo(t, "ada")
	b, err := InitReplica(filepath.Join(t.TempDir(), "bob"), "bob", a.Config.Wiki, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.AddMember(ctx, b.ID.ID, "bob", RoleMember); err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, a, b)
	if _, err := b.Create(ctx, "Bob's", "x\n", ""); err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, b, a)
	if _, err := a.RemoveMember(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	copyBlocks(t, a, b)
	if _, err := b.Create(ctx, "After", "y\n", ""); !errors.Is(err, ErrRemoved) {
		t.Fatalf("a removed replica wrote: %v", err)
	}
}

func TestMemberNamesFollowTheTitleRule(t *testing.T) {
	for name, want := range map[string]string{"car\x1b[31mol": "name contains the control character U+001B", "a\nb": "name contains a line break"} {
		if err := checkMemberName(name); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "title") {
			t.Fatalf("%q: %v", name, err)
		}
	}
	if err := checkMemberName("carol"); err != nil {
		t.Fatal(err)
	}
}
