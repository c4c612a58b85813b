package wiki

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
)

// An invite is a token signed by an admin: the wiki, a random id, the role
// it grants, how many people may use it and until when. It holds no
// secret of the wiki: whoever holds it can ask an admin's node to be
// added, while it is valid, and nothing else. Uses are counted from the
// member list (each add names the invite it redeemed); revocations are
// membership operations, so every admin's node refuses a revoked invite.
//
// One code tried at two admins' nodes at the same moment can admit two
// people before either node has seen the other's add: each node enforces
// the count it knows. `invite --list` and `members` show both adds under
// the invite, and an admin can remove the extra member.

// Invite limits.
const (
	DefaultInviteUses   = 1
	DefaultInviteExpiry = 7 * 24 * time.Hour
	MaxInviteUses       = 1000
	MaxInviteExpiry     = 365 * 24 * time.Hour
	maxInviteToken      = 4 << 10
)

// inviteToken is the signed token a join code carries.
type inviteToken struct {
	Wiki    string `cbor:"w"`
	ID      []byte `cbor:"i"`
	Role    string `cbor:"r"`
	Uses    int    `cbor:"u"`
	Expires int64  `cbor:"e"` // unix ms
	Issuer  []byte `cbor:"a"` // peer id bytes
	Sig     []byte `cbor:"s,omitempty"`
}

var (
	tokenEnc, _ = cbor.CoreDetEncOptions().EncMode()
	tokenDec, _ = cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, MaxArrayElements: 16, MaxMapPairs: 16,
		MaxNestedLevels: 4, ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}.DecMode()
)

func (t *inviteToken) unsigned() []byte {
	u := *t
	u.Sig = nil
	b, err := tokenEnc.Marshal(u)
	if err != nil {
		panic(err)
	}
	return append([]byte("peerwiki invite v1\n"), b...)
}

// InviteInfo describes an invite this replica issued.
type InviteInfo struct {
	ID      string    `json:"id"`
	Role    string    `json:"role"`
	Uses    int       `json:"uses"`
	Used    int       `json:"used"`
	Expires time.Time `json:"expires"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked"`
}

// Status is what an invite's state reads as ("valid", "expired", "used up", "revoked").
func (i InviteInfo) Status(now time.Time) string {
	switch {
	case i.Revoked:
		return "revoked"
	case i.Used >= i.Uses:
		return "used up"
	case now.After(i.Expires):
		return "expired"
	}
	return "valid"
}

// invitesFile lists the invites this replica issued (local, 0600).
const invitesFile = "invites.json"

var invitesMu sync.Mutex

func (r *Repo) readInvites() ([]InviteInfo, error) {
	b, err := os.ReadFile(filepath.Join(r.Dir, invitesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []InviteInfo
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %v", invitesFile, err)
	}
	return out, nil
}

func (r *Repo) writeInvites(list []InviteInfo) error {
	b, _ := json.MarshalIndent(list, "", "  ")
	tmp := filepath.Join(r.Dir, invitesFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.Dir, invitesFile))
}

// NewInvite issues an invite signed by this replica, which must be an
// admin, and returns the token a join code carries.
func (r *Repo) NewInvite(ctx context.Context, role string, uses int, expiry time.Duration) ([]byte, InviteInfo, error) {
	switch {
	case role != RoleAdmin && role != RoleMember:
		return nil, InviteInfo{}, fmt.Errorf("%w: role %q (admin or member)", ErrInvalid, role)
	case uses < 1 || uses > MaxInviteUses:
		return nil, InviteInfo{}, fmt.Errorf("%w: --uses %d (1 to %d)", ErrInvalid, uses, MaxInviteUses)
	case expiry <= 0 || expiry > MaxInviteExpiry:
		return nil, InviteInfo{}, fmt.Errorf("%w: --expires %s (more than 0, at most %s)", ErrInvalid, expiry, MaxInviteExpiry)
	}
	if _, err := r.UpgradeMembers(ctx); err != nil {
		return nil, InviteInfo{}, err
	}
	if _, err := r.requireAdmin(ctx); err != nil {
		if errors.Is(err, ErrNotAdmin) {
			return nil, InviteInfo{}, fmt.Errorf("%w: only an admin can invite (see 'peerwiki members')", ErrNotAdmin)
		}
		return nil, InviteInfo{}, err
	}
	now := r.Now()
	t := inviteToken{Wiki: r.Config.Wiki, ID: newNonce(), Role: role, Uses: uses,
		Expires: now.Add(expiry).UnixMilli(), Issuer: []byte(r.ID.ID)}
	sig, err := r.ID.Key.Sign(t.unsigned())
	if err != nil {
		return nil, InviteInfo{}, err
	}
	t.Sig = sig
	b, err := tokenEnc.Marshal(t)
	if err != nil {
		return nil, InviteInfo{}, err
	}
	info := InviteInfo{ID: hex.EncodeToString(t.ID), Role: role, Uses: uses,
		Expires: time.UnixMilli(t.Expires).UTC(), Created: now.UTC()}
	invitesMu.Lock()
	defer invitesMu.Unlock()
	list, err := r.readInvites()
	if err != nil {
		return nil, InviteInfo{}, err
	}
	if err := r.writeInvites(append(list, info)); err != nil {
		return nil, InviteInfo{}, err
	}
	return b, info, nil
}

// Invites lists the invites this replica issued, with their uses and
// revocations as the member list records them.
func (r *Repo) Invites(ctx context.Context) ([]InviteInfo, error) {
	list, err := r.readInvites()
	if err != nil {
		return nil, err
	}
	m, err := r.Members(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].Used = m.Uses(list[i].ID)
		list[i].Revoked = m.Revoked(list[i].ID)
	}
	sortInvites(list)
	return list, nil
}

// RevokeInvite revokes an invite by its id or a unique prefix of it (at
// least 4 characters): every admin's node refuses it from then on.
func (r *Repo) RevokeInvite(ctx context.Context, prefix string) (InviteInfo, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if len(prefix) < 4 {
		return InviteInfo{}, fmt.Errorf("%w: give at least 4 characters of the invite id (see 'peerwiki invite --list')", ErrInvalid)
	}
	list, err := r.Invites(ctx)
	if err != nil {
		return InviteInfo{}, err
	}
	var found []InviteInfo
	for _, i := range list {
		if strings.HasPrefix(i.ID, prefix) {
			found = append(found, i)
		}
	}
	if len(found) != 1 {
		if len(found) == 0 {
			return InviteInfo{}, fmt.Errorf("%w: no invite %q issued here (see 'peerwiki invite --list')", ErrNotFound, prefix)
		}
		return InviteInfo{}, fmt.Errorf("%w: %q names %d invites", ErrAmbiguous, prefix, len(found))
	}
	inv := found[0]
	if inv.Revoked {
		return inv, fmt.Errorf("%w: invite %s was revoked already", ErrNoChange, inv.ID)
	}
	if _, err := r.requireAdmin(ctx); err != nil {
		return inv, err
	}
	if _, err := r.commitMemberOp(ctx, memberOp{Op: "revoke", Invite: inv.ID}, "revoke invite "+inv.ID[:8]); err != nil {
		return inv, err
	}
	inv.Revoked = true
	return inv, nil
}

// redeemMu makes redemptions at this node one at a time, so an invite's
// uses are counted against every add this node made.
var redeemMu sync.Mutex

// Redeem checks an invite token presented by p, who wants to be called
// name, and adds p as a member. It returns the role granted. The error's
// text is meant for the joiner.
func (r *Repo) Redeem(ctx context.Context, token []byte, p peer.ID, name string) (string, error) {
	t, err := r.checkToken(token)
	if err != nil {
		return "", err
	}
	redeemMu.Lock()
	defer redeemMu.Unlock()
	m, err := r.Members(ctx)
	if err != nil {
		return "", err
	}
	id := hex.EncodeToString(t.ID)
	issuer := peer.ID(t.Issuer)
	switch {
	case !m.Founded || !m.IsAdmin(r.ID.ID):
		return "", fmt.Errorf("%w: this member cannot add members; ask an admin", ErrNotAdmin)
	case m.Revoked(id):
		return "", fmt.Errorf("%w: the invite was revoked", ErrBadInvite)
	case r.Now().UnixMilli() > t.Expires:
		return "", fmt.Errorf("%w: the invite expired at %s", ErrBadInvite, time.UnixMilli(t.Expires).UTC().Format(time.RFC3339))
	case !m.IsAdmin(issuer):
		return "", fmt.Errorf("%w: its issuer %s is not an admin of the wiki", ErrBadInvite, issuer)
	case m.IsRemoved(p):
		return "", ErrRemoved
	}
	if e, ok := m.Get(p); ok {
		return e.Role, nil // joining twice with one repo is not a second use
	}
	if m.Uses(id) >= t.Uses {
		return "", fmt.Errorf("%w: it was used %d of %d times", ErrInviteUsed, m.Uses(id), t.Uses)
	}
	if name = strings.TrimSpace(name); name == "" {
		name = "member"
	}
	if err := checkMemberName(name); err != nil {
		return "", err
	}
	if err := r.addMember(ctx, p, name, t.Role, id); err != nil {
		return "", err
	}
	return t.Role, nil
}

// checkToken decodes a token and checks its form, wiki and signature.
func (r *Repo) checkToken(b []byte) (*inviteToken, error) {
	if len(b) > maxInviteToken {
		return nil, fmt.Errorf("%w: token of %d bytes", ErrBadInvite, len(b))
	}
	var t inviteToken
	if err := tokenDec.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: malformed token", ErrBadInvite)
	}
	if again, err := tokenEnc.Marshal(t); err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: token not in canonical form", ErrBadInvite)
	}
	if t.Wiki != r.Config.Wiki {
		return nil, fmt.Errorf("%w: it is an invite to another wiki", ErrBadInvite)
	}
	if len(t.ID) != 16 || (t.Role != RoleAdmin && t.Role != RoleMember) || t.Uses < 1 || t.Uses > MaxInviteUses {
		return nil, fmt.Errorf("%w: malformed token", ErrBadInvite)
	}
	issuer, err := peer.IDFromBytes(t.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed issuer", ErrBadInvite)
	}
	pub, err := issuer.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: malformed issuer", ErrBadInvite)
	}
	if ok, err := pub.Verify(t.unsigned(), t.Sig); err != nil || !ok {
		return nil, fmt.Errorf("%w: the signature does not match (a forged or altered invite)", ErrBadInvite)
	}
	return &t, nil
}

// InviteWiki returns the wiki id a token names, for a joiner that has no
// repo yet; it checks only the form.
func InviteWiki(b []byte) (string, error) {
	var t inviteToken
	if len(b) > maxInviteToken || tokenDec.Unmarshal(b, &t) != nil || t.Wiki == "" {
		return "", fmt.Errorf("%w: malformed token", ErrBadInvite)
	}
	return t.Wiki, nil
}

// sortInvites orders invites newest first.
func sortInvites(list []InviteInfo) {
	slices.SortFunc(list, func(a, b InviteInfo) int { return b.Created.Compare(a.Created) })
}
