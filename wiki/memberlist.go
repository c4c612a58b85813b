package wiki

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

// memberCache holds the member list the store's hooks consult (they run
// while revisions are stored and must not read the database themselves)
// and tells watchers when it changes.
type memberCache struct {
	mu      sync.RWMutex
	m       *Members
	ops     memberOpMemo // membership operations read (membersnap.go)
	self    peer.ID
	changed []chan struct{}
}

func (mc *memberCache) get() *Members {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	return mc.m
}

// counts is history.Options.Counts: before the list is read, everything
// counts (the repo reads it at open and after every change).
func (mc *memberCache) counts(c cid.Cid, r *history.Revision) bool {
	m := mc.get()
	return m == nil || m.Counts(c, r)
}

// admit is history.Options.Admit.
func (mc *memberCache) admit(r *history.Revision) error {
	m := mc.get()
	if m == nil {
		return nil
	}
	return m.admits(r)
}

// VoidWrites counts the writes of this process that were stored void: a
// replica not on the member list (its invite not redeemed yet, or never
// given one; a removed one is refused writes instead) keeps what it
// writes, which counts once an admin adds it.
func (r *Repo) VoidWrites() int64 { return r.voidWrites.Load() }

// Changed returns a channel that receives (without blocking the sender)
// each time the member list changes.
func (r *Repo) MembersChanged() <-chan struct{} {
	ch := make(chan struct{}, 1)
	r.members.mu.Lock()
	r.members.changed = append(r.members.changed, ch)
	r.members.mu.Unlock()
	return ch
}

// Members returns the member list as of the membership operations held.
func (r *Repo) Members(ctx context.Context) (*Members, error) {
	heads, err := r.store.Heads(ctx, r.MembersPage())
	if err != nil && !errors.Is(err, history.ErrNotFound) {
		return nil, err
	}
	if m := r.members.get(); m != nil && slices.EqualFunc(m.heads, heads, cid.Cid.Equals) {
		return m, nil
	} else if m == nil {
		// The first reading in this process: the snapshot a process
		// made for these heads spares the replay (membersnap.go).
		if m = r.loadMemberSnap(heads); m != nil {
			m.within = r.authoredWithin
			r.members.mu.Lock()
			r.members.m = m
			r.members.mu.Unlock()
			if err := r.settleVoidMarks(ctx, nil, m); err != nil {
				return nil, err
			}
			return m, nil
		}
	}
	return r.RefreshMembers(ctx)
}

func (r *Repo) authoredWithin(p peer.ID, frontier []cid.Cid) (map[cid.Cid]bool, error) {
	return r.store.AuthoredWithin(context.Background(), p.String(), frontier)
}

// RefreshMembers recomputes the member list from the store, marks the
// revisions of members whose standing changed as counting or void, and
// tells watchers when the list changed.
func (r *Repo) RefreshMembers(ctx context.Context) (*Members, error) {
	ops, heads, err := r.loadMemberOps(ctx)
	if err != nil {
		return nil, err
	}
	var earliest *peer.ID
	isFounder := func(author peer.ID, op memberOp) bool {
		if !IsLegacyWikiID(r.Config.Wiki) {
			nonce, err := hex.DecodeString(op.Nonce)
			return err == nil && FoundedWikiID(author, nonce) == r.Config.Wiki
		}
		if earliest == nil {
			s, err := r.store.EarliestAuthor(ctx)
			p, _ := peer.Decode(s)
			if err != nil {
				p = ""
			}
			earliest = &p
		}
		return *earliest != "" && author == *earliest
	}
	m := replay(ops, isFounder)
	m.heads = heads
	if !m.Founded && IsLegacyWikiID(r.Config.Wiki) {
		authors, err := r.store.Authors(ctx)
		if err != nil {
			return nil, err
		}
		m.legacyAuthors = map[peer.ID]bool{}
		for _, a := range authors {
			if p, err := peer.Decode(a); err == nil {
				m.legacyAuthors[p] = true
			}
		}
	}
	m.within = r.authoredWithin
	old := r.members.get()
	r.members.mu.Lock()
	r.members.m = m
	r.members.mu.Unlock()
	r.saveMemberSnap(m)
	if err := r.settleVoidMarks(ctx, old, m); err != nil {
		return nil, err
	}
	return m, nil
}

// voidBasis names the member list's version the void marks are made for.
func voidBasis(m *Members) string {
	return "members:" + strings.Join(cidStrings(m.heads), ",")
}

// settleVoidMarks marks the revisions whose standing differs under m
// from under old (the list this process read before; nil: none) and
// records that the marks are m's; watchers hear of a change. A process
// that finds, at its first reading, marks recorded for another version
// of the list than the one held follows one that died between changing
// the list and marking: it marks every author's revisions again.
func (r *Repo) settleVoidMarks(ctx context.Context, old, m *Members) error {
	basis := voidBasis(m)
	stored, err := r.store.VoidBasis(ctx)
	if err != nil {
		return err
	}
	changed, all := standingChanged(old, m)
	if old == nil && stored != "" && stored != basis {
		all = true
	}
	if all {
		if changed, err = r.store.Authors(ctx); err != nil {
			return err
		}
	}
	if len(changed) > 0 || stored != basis {
		if _, err := r.store.RevoidFor(ctx, changed, basis); err != nil {
			return err
		}
	}
	if len(changed) > 0 || all {
		r.members.mu.RLock()
		for _, ch := range r.members.changed {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		r.members.mu.RUnlock()
	}
	return nil
}

// standingChanged lists the peers (as strings) whose revisions may count
// differently under m than under old; all when every author's may.
func standingChanged(old, m *Members) (out []string, all bool) {
	if old == nil {
		// The first reading in this process: the void marks in the store
		// were made by the process that changed the list (settleVoidMarks
		// checks that it finished).
		return nil, false
	}
	if old.Founded != m.Founded {
		return nil, true
	}
	for p, e := range m.list {
		o, ok := old.list[p]
		if !ok || o.Removed != e.Removed || (e.Removed && !old.frontiers[p].equal(m.frontiers[p])) {
			out = append(out, p.String())
		}
	}
	for p := range old.list {
		if _, ok := m.list[p]; !ok {
			out = append(out, p.String())
		}
	}
	slices.Sort(out)
	return out, false
}

// ObserveReceived is told of every batch of revisions stored from peers:
// the member list may have changed, or a removed member's revisions may
// have arrived whose standing depends on the revisions around them.
func (r *Repo) ObserveReceived(ctx context.Context, res *history.PutResult) {
	if res == nil || len(res.Revisions) == 0 {
		return
	}
	// The batch may have changed the members page (Members rereads it when
	// its heads moved). A batch known to have touched other pages only
	// leaves the list as it was, and is spared the query (one an edit
	// received); a result without its pages (a node's commit watcher
	// reports other processes' commits by revision only) looks.
	before := r.members.get()
	m := before
	if m == nil || !m.Founded || len(res.Pages) == 0 || slices.ContainsFunc(res.Pages, r.MembersPage().Equals) {
		var err error
		if m, err = r.Members(ctx); err != nil {
			r.logWarn("reading the member list", err)
			return
		}
	}
	if m == before && !m.Founded && m.legacyAuthors != nil {
		// Not founded yet: the authors held are the members, and the
		// batch may have brought new ones.
		if _, err := r.RefreshMembers(ctx); err != nil {
			r.logWarn("reading the member list", err)
		}
		return
	}
	if m != before || !m.Founded || !m.anyRemoved() {
		return
	}
	var removed []string
	authors, err := r.store.RevisionAuthors(ctx, res.Revisions)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, a := range authors {
		p, err := peer.Decode(a)
		if err == nil && m.IsRemoved(p) && !seen[a] {
			seen[a] = true
			removed = append(removed, a)
		}
	}
	if len(removed) > 0 {
		// Their revisions' standing depends on the frontier, which may
		// reach revisions that arrived only now.
		slices.Sort(removed)
		var ps []peer.ID
		for _, a := range removed {
			p, _ := peer.Decode(a)
			ps = append(ps, p)
		}
		m.forgetCounted(ps)
		if _, err := r.store.Revoid(ctx, removed); err != nil {
			r.logWarn("marking a removed member's revisions", err)
		}
	}
}

func (r *Repo) logWarn(what string, err error) {
	if r.Logger != nil {
		r.Logger.Warn(what, "err", err)
	}
}

// commitMemberOp signs one membership operation on top of every head of
// the members page and refreshes the list.
func (r *Repo) commitMemberOp(ctx context.Context, op memberOp, msg string) (*Members, error) {
	if err := r.ensureMembersPage(ctx); err != nil {
		return nil, err
	}
	heads, err := r.store.Heads(ctx, r.MembersPage())
	if err != nil && !errors.Is(err, history.ErrNotFound) {
		return nil, err
	}
	if len(heads) == 0 {
		heads = []cid.Cid{r.MembersPage()}
	}
	body, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	if _, err := r.commit(ctx, Draft{Page: r.MembersPage(), Parents: heads, Title: "members", Body: string(body), Msg: msg}); err != nil {
		return nil, err
	}
	return r.RefreshMembers(ctx)
}

// found writes the founding operation of a new wiki.
func (r *Repo) found(ctx context.Context, nonce []byte) error {
	_, err := r.commitMemberOp(ctx, memberOp{Op: "found", Name: r.Config.Name, Nonce: hex.EncodeToString(nonce)}, "found the wiki")
	return err
}

// UpgradeMembers founds the member list of a wiki made before membership,
// when this replica is its founder (the author of its earliest revision):
// every author it holds becomes a member, the founder its admin. It does
// nothing on other replicas, or once the wiki is founded; it reports
// whether it founded the list.
func (r *Repo) UpgradeMembers(ctx context.Context) (bool, error) {
	if !IsLegacyWikiID(r.Config.Wiki) {
		return false, nil
	}
	m, err := r.Members(ctx)
	if err != nil || m.Founded {
		return false, err
	}
	first, err := r.store.EarliestAuthor(ctx)
	if errors.Is(err, history.ErrNotFound) {
		first = r.ID.ID.String() // an empty wiki: its only replica founds it
	} else if err != nil {
		return false, err
	}
	if first != r.ID.ID.String() {
		return false, nil
	}
	authors, err := r.store.Authors(ctx)
	if err != nil {
		return false, err
	}
	m, err = r.commitMemberOp(ctx, memberOp{Op: "found", Name: r.Config.Name, Members: authors}, "upgrade to signed membership")
	if err != nil {
		return false, err
	}
	return m.Founded, nil
}

// Access says, from memory, what the member list says of p: a current
// member, a removed one, or neither. Before a wiki made before membership
// is founded, the authors of revisions held count as members; before a
// new replica has received its wiki's list, every peer does (it holds
// nothing yet, and what it receives is checked once the list arrives).
func (r *Repo) Access(p peer.ID) (member, removed bool) {
	if p == r.ID.ID {
		return true, false
	}
	m := r.members.get()
	switch {
	case m == nil:
		return false, false
	case !m.Founded && m.holdsOthers(r.ID.ID):
		return m.legacyAuthors[p], false
	case !m.Founded:
		// A new replica (of a new wiki, or one that joined an upgraded
		// wiki): it holds nothing yet, and checks what it receives once
		// the list has arrived with the first sync.
		return true, false
	}
	return m.IsMember(p), m.IsRemoved(p)
}

// RendezvousSecret is, from memory, the member list's RendezvousSecret
// (nil before the list is read or founded).
func (r *Repo) RendezvousSecret() []byte {
	if m := r.members.get(); m != nil {
		return m.RendezvousSecret()
	}
	return nil
}

// IsAdminHere reports, from memory, whether this replica is an admin.
func (r *Repo) IsAdminHere() bool {
	m := r.members.get()
	return m != nil && m.IsAdmin(r.ID.ID)
}

// requireAdmin returns the list when this replica is an admin of it.
func (r *Repo) requireAdmin(ctx context.Context) (*Members, error) {
	m, err := r.Members(ctx)
	if err != nil {
		return nil, err
	}
	if !m.Founded {
		return nil, ErrUnfounded
	}
	if !m.IsAdmin(r.ID.ID) {
		return nil, ErrNotAdmin
	}
	return m, nil
}

// FindMember resolves a name or a peer id (or a unique prefix of one) to a member.
func (m *Members) FindMember(s string) (Member, error) {
	s = strings.TrimSpace(s)
	if p, err := peer.Decode(s); err == nil {
		if e, ok := m.list[p]; ok {
			return *e, nil
		}
		return Member{}, fmt.Errorf("%w: %s", ErrNotMember, s)
	}
	var found []Member
	for _, e := range m.list {
		if e.Name == s || (len(s) >= 6 && strings.HasPrefix(e.Peer.String(), s)) {
			found = append(found, *e)
		}
	}
	switch len(found) {
	case 0:
		return Member{}, fmt.Errorf("%w: %q", ErrNotMember, s)
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, e := range found {
		ids = append(ids, e.Peer.String())
	}
	slices.Sort(ids)
	return Member{}, fmt.Errorf("%w: %q names %d members: %s", ErrAmbiguous, s, len(found), strings.Join(ids, ", "))
}

// AddMember adds a peer directly (no invite), with a role.
func (r *Repo) AddMember(ctx context.Context, p peer.ID, name, role string) error {
	return r.addMember(ctx, p, name, role, "")
}

func (r *Repo) addMember(ctx context.Context, p peer.ID, name, role, invite string) error {
	if role != RoleAdmin && role != RoleMember {
		return fmt.Errorf("%w: role %q (admin or member)", ErrInvalid, role)
	}
	if err := checkMemberName(name); err != nil {
		return err
	}
	m, err := r.requireAdmin(ctx)
	if err != nil {
		return err
	}
	if e, ok := m.list[p]; ok {
		if e.Removed {
			return ErrRemoved
		}
		return fmt.Errorf("%w: %s is a member already", ErrNoChange, p)
	}
	if len(m.list) >= MaxMembers {
		return fmt.Errorf("%w: the wiki lists %d members, removed ones included: the most it can", ErrInvalid, len(m.list))
	}
	_, err = r.commitMemberOp(ctx, memberOp{Op: "add", Peer: p.String(), Name: name, Role: role, Invite: invite}, "add "+name)
	return err
}

// checkMemberName bounds a display name (it reaches terminals and browsers).
func checkMemberName(name string) error {
	if len(name) > 128 {
		return fmt.Errorf("%w: a name of %d bytes (at most 128)", ErrInvalid, len(name))
	}
	if err := history.CheckTitle(name); err != nil {
		// The rule is the titles' one; say it is about a name.
		why := strings.Replace(strings.TrimPrefix(err.Error(), history.ErrBadTitle.Error()+": "), "title", "name", 1)
		return fmt.Errorf("%w: %s", ErrInvalid, why)
	}
	return nil
}

// RemoveMember removes a member: from then on their connections are
// refused, and of their revisions only those this replica holds now
// (their frontier) keep counting. It reports whether the member removed
// themselves.
func (r *Repo) RemoveMember(ctx context.Context, who string) (Member, error) {
	e, err := r.changeableMember(ctx, who, RoleMember)
	if err != nil {
		return e, err
	}
	frontier, err := r.store.AuthorFrontier(ctx, e.Peer.String())
	if err != nil {
		return e, err
	}
	op := memberOp{Op: "remove", Peer: e.Peer.String(), Frontier: newFrontierList(frontier)}
	_, err = r.commitMemberOp(ctx, op, "remove "+e.Name)
	return e, err
}

// changeableMember finds the current member who names, whom this
// replica (an admin) may remove or give role: the wiki's last admin can
// be neither removed nor demoted.
func (r *Repo) changeableMember(ctx context.Context, who, role string) (Member, error) {
	m, err := r.requireAdmin(ctx)
	if err != nil {
		return Member{}, err
	}
	e, err := m.FindMember(who)
	if err != nil {
		return Member{}, err
	}
	if e.Removed {
		return e, fmt.Errorf("%w (%s)", ErrRemoved, e.Peer)
	}
	if e.Role == RoleAdmin && role != RoleAdmin && m.admins() == 1 {
		return e, ErrLastAdmin
	}
	return e, nil
}

// SetMemberRole makes a member an admin or a plain member.
func (r *Repo) SetMemberRole(ctx context.Context, who, role string) (Member, error) {
	if role != RoleAdmin && role != RoleMember {
		return Member{}, fmt.Errorf("%w: role %q (admin or member)", ErrInvalid, role)
	}
	e, err := r.changeableMember(ctx, who, role)
	if err != nil {
		return e, err
	}
	if e.Role == role {
		return e, fmt.Errorf("%w: %s is %s already", ErrNoChange, e.Name, role)
	}
	_, err = r.commitMemberOp(ctx, memberOp{Op: "role", Peer: e.Peer.String(), Role: role}, e.Name+" becomes "+role)
	return e, err
}

// newNonce returns 16 random bytes.
func newNonce() []byte {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}
