package wiki

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"peerwiki/history"
)

// Membership is replicated, signed data, like the settings: a members page
// whose genesis is the same unsigned block on every replica, and whose
// every other revision is one operation signed by an admin (found, add,
// remove, role, revoke; see memberOp). The member list is a pure function
// of the set of those revisions, computed by replaying them (replay), so
// every replica that holds the same operations holds the same list,
// whatever order it learnt them in.
//
// The rules, also in the README:
//
//   - Order. Operations are replayed parents first; operations that are
//     concurrent are taken removals first, then by author id, then by CID.
//   - Authority. found is valid once, from the wiki's founder (new wikis:
//     the peer whose id and nonce hash to the wiki id; wikis made before
//     membership: the author of the earliest revision). Every other
//     operation needs an author who is an admin at that point of the replay.
//     The last admin cannot be removed or demoted.
//   - Removal is permanent for that peer id and names the removed member's
//     frontier: the revisions of theirs the remover held. Their revisions
//     at or below the frontier keep counting; every other revision of
//     theirs is void everywhere (stored, because a member may have built on
//     it, but never a head, never shown, never counted). So a removal beats
//     every concurrent change by the removed member: a membership
//     operation of theirs that the remover had not seen is voided, and the
//     replay runs again without it (once voided, an operation stays
//     voided, so the replay ends).
//   - A revision counts when its author was ever added and, if removed,
//     it lies within the removal's frontier. An automatic merge counts
//     when all its parents do. Revisions by authors never added are
//     refused when received.

// Roles.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Membership errors callers branch on.
var (
	ErrNotAdmin   = errors.New("only an admin can change the member list")
	ErrNotMember  = errors.New("no such member")
	ErrLastAdmin  = errors.New("the wiki's last admin cannot be removed or demoted")
	ErrRemoved    = errors.New("that peer was removed from the wiki; a removal is permanent")
	ErrUnfounded  = errors.New("this replica has not received the wiki's member list yet")
	ErrBadInvite  = errors.New("invalid invite")
	ErrInviteUsed = errors.New("invite used up")
)

// memberOp is the body of a membership revision (JSON, one object).
type memberOp struct {
	Op string `json:"op"` // found, add, remove, role, revoke
	// Peer is the member an add, remove or role is about.
	Peer string `json:"peer,omitempty"`
	Name string `json:"name,omitempty"`
	Role string `json:"role,omitempty"`
	// Invite is the id (hex) of the invite an add redeemed, or a revoke revokes.
	Invite string `json:"invite,omitempty"`
	// Nonce (found, new wikis) is what the founder hashed into the wiki id.
	Nonce string `json:"nonce,omitempty"`
	// Members (found, upgraded wikis) are the authors the founder knew.
	Members []string `json:"members,omitempty"`
	// Frontier (remove) is the removed member's revisions the remover
	// held that no revision of theirs it held descends from.
	Frontier frontierList `json:"frontier,omitempty"`
}

// frontierList is a removal's frontier as written (a JSON array of CID
// strings), decoded only when a removed member's revisions are judged:
// every command reads the member list, few need the frontier.
type frontierList json.RawMessage

func (f frontierList) MarshalJSON() ([]byte, error) {
	if len(f) == 0 {
		return []byte("[]"), nil
	}
	return f, nil
}

func (f *frontierList) UnmarshalJSON(b []byte) error {
	*f = append((*f)[:0], b...)
	return nil
}

// newFrontierList writes cs as a frontier.
func newFrontierList(cs []cid.Cid) frontierList {
	strs := make([]string, len(cs))
	for i, c := range cs {
		strs[i] = c.String()
	}
	b, _ := json.Marshal(strs)
	return b
}

// cids decodes the frontier; entries that are not CIDs are skipped (every
// replica skips the same ones).
func (f frontierList) cids() []cid.Cid {
	var strs []string
	if json.Unmarshal(f, &strs) != nil {
		return nil
	}
	out := make([]cid.Cid, 0, len(strs))
	for _, s := range strs {
		if c, err := cid.Decode(s); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// equal reports whether two frontiers are written alike.
func (f frontierList) equal(g frontierList) bool { return bytes.Equal(f, g) }

// Member is one entry of the member list.
type Member struct {
	Peer    peer.ID
	Name    string
	Role    string
	AddedBy peer.ID // empty for the founder
	Since   time.Time
	Invite  string // the invite redeemed, if any
	// Removed members stay in the list, marked, with who removed them.
	Removed   bool
	RemovedBy peer.ID
	RemovedAt time.Time
}

// Members is the member list as of the membership operations a replica holds.
type Members struct {
	// Founded is false until the founding operation is held: a wiki made
	// before membership that its founder has not upgraded yet, or a new
	// replica that has not received the list. Everyone counts then.
	Founded bool
	Founder peer.ID
	list    map[peer.ID]*Member
	// frontiers are the removed members' frontiers, as their removals
	// name them; counted, for each, their revisions that count (at or
	// below it), read from the store when first needed (a removal of a
	// member who wrote on 100,000 pages reaches as many revisions: no
	// command but the ones that need it should pay for them).
	frontiers map[peer.ID]frontierList
	countedMu sync.Mutex
	counted   map[peer.ID]map[cid.Cid]bool
	within    func(p peer.ID, frontier []cid.Cid) (map[cid.Cid]bool, error)
	uses      map[string]int
	revoked   map[string]bool
	// heads are the members page's heads this list was computed from.
	heads []cid.Cid
	// legacyAuthors (a wiki from before membership, not founded yet) are
	// the authors of the revisions held: the members until it is.
	legacyAuthors map[peer.ID]bool
	// founding is the founding operation, and removals the removal
	// operations applied: what RendezvousSecret is made of.
	founding cid.Cid
	removals []cid.Cid
}

// RendezvousSecret is what only members can know of the wiki, for their
// nodes to find each other on a DHT (p2p.RendezvousKey): SHA-256 over
// the founding operation's CID and the removal operations' CIDs, sorted.
// Members receive the members page, strangers are refused it, and it
// changes when someone is removed (the removed member never receives
// the new one). Nil until the list is founded.
func (m *Members) RendezvousSecret() []byte {
	if !m.Founded || !m.founding.Defined() {
		return nil
	}
	rs := make([][]byte, len(m.removals))
	for i, c := range m.removals {
		rs[i] = c.Bytes()
	}
	slices.SortFunc(rs, bytes.Compare)
	h := sha256.New()
	h.Write([]byte("peerwiki rendezvous secret\x00"))
	h.Write(m.founding.Bytes())
	for _, r := range rs {
		h.Write(r)
	}
	return h.Sum(nil)
}

// List returns the members, removed ones included, founder first, then by name.
func (m *Members) List() []Member {
	out := make([]Member, 0, len(m.list))
	for _, e := range m.list {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Peer == m.Founder) != (out[j].Peer == m.Founder) {
			return out[i].Peer == m.Founder
		}
		if out[i].Removed != out[j].Removed {
			return !out[i].Removed
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// Get returns the entry of p.
func (m *Members) Get(p peer.ID) (Member, bool) {
	e, ok := m.list[p]
	if !ok {
		return Member{}, false
	}
	return *e, true
}

// IsMember reports whether p is a current member (in an unfounded wiki,
// whether p authored a revision the replica holds is for the caller).
func (m *Members) IsMember(p peer.ID) bool {
	e, ok := m.list[p]
	return ok && !e.Removed
}

// IsAdmin reports whether p is a current admin.
func (m *Members) IsAdmin(p peer.ID) bool {
	e, ok := m.list[p]
	return ok && !e.Removed && e.Role == RoleAdmin
}

// IsRemoved reports whether p was a member and was removed.
func (m *Members) IsRemoved(p peer.ID) bool {
	e, ok := m.list[p]
	return ok && e.Removed
}

// anyRemoved reports whether anyone was ever removed from the list.
func (m *Members) anyRemoved() bool {
	for _, e := range m.list {
		if e.Removed {
			return true
		}
	}
	return false
}

// holdsOthers reports whether, before the list is founded, the replica
// self holds revisions by anyone else.
func (m *Members) holdsOthers(self peer.ID) bool {
	for p := range m.legacyAuthors {
		if p != self {
			return true
		}
	}
	return false
}

// Uses is how many members were added with the invite id.
func (m *Members) Uses(invite string) int { return m.uses[invite] }

// Revoked reports whether the invite id was revoked.
func (m *Members) Revoked(invite string) bool { return m.revoked[invite] }

func (m *Members) admins() int {
	n := 0
	for _, e := range m.list {
		if !e.Removed && e.Role == RoleAdmin {
			n++
		}
	}
	return n
}

// Counts reports whether a revision counts (see the rules above).
func (m *Members) Counts(c cid.Cid, r *history.Revision) bool {
	if !m.Founded || r.IsAuto() {
		return true
	}
	e, ok := m.list[r.AuthorID()]
	if !ok {
		return false
	}
	if !e.Removed {
		return true
	}
	counted, err := m.countedOf(e.Peer)
	return err == nil && counted[c]
}

// countedOf returns the revisions of removed member p that count, reading
// them from the store the first time.
func (m *Members) countedOf(p peer.ID) (map[cid.Cid]bool, error) {
	m.countedMu.Lock()
	defer m.countedMu.Unlock()
	if c, ok := m.counted[p]; ok {
		return c, nil
	}
	frontier := m.frontiers[p].cids()
	out := map[cid.Cid]bool{}
	for _, c := range frontier {
		out[c] = true
	}
	if m.within != nil {
		below, err := m.within(p, frontier)
		if err != nil {
			return nil, err
		}
		for c := range below {
			out[c] = true
		}
	}
	m.counted[p] = out
	return out, nil
}

// forgetCounted drops what countedOf read of ps: revisions of theirs
// arrived that may lie below their frontiers.
func (m *Members) forgetCounted(ps []peer.ID) {
	m.countedMu.Lock()
	defer m.countedMu.Unlock()
	for _, p := range ps {
		delete(m.counted, p)
	}
}

// admits reports whether a received revision may be stored.
func (m *Members) admits(r *history.Revision) error {
	if !m.Founded || r.IsAuto() {
		return nil
	}
	if _, ok := m.list[r.AuthorID()]; !ok {
		return fmt.Errorf("%w: %s", history.ErrNotMember, r.AuthorID())
	}
	return nil
}

// membersGenesis is the members page's genesis block and its empty body.
func membersGenesis(wiki string) (history.Block, history.Block) {
	return systemGenesis(wiki, "peerwiki members v1", "members")
}

// MembersPage is the id of the wiki's members page.
func (r *Repo) MembersPage() cid.Cid {
	g, _ := membersGenesis(r.Config.Wiki)
	return g.Cid
}

// ensureMembersPage stores the members genesis if it is not stored yet.
func (r *Repo) ensureMembersPage(ctx context.Context) error {
	return r.ensureSystemPage(ctx, membersGenesis)
}

// wikiIDPrefix marks wiki ids bound to their founder (FoundedWikiID).
const wikiIDPrefix = "v2"

// FoundedWikiID is the id of a wiki founded by founder with nonce: the
// founding operation carries the nonce, so every replica can check who
// founded the wiki, and nobody can found it again.
func FoundedWikiID(founder peer.ID, nonce []byte) string {
	h := sha256.New()
	h.Write([]byte("peerwiki wiki id v2\n"))
	h.Write([]byte(founder))
	h.Write(nonce)
	sum := h.Sum(nil)
	return wikiIDPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// IsLegacyWikiID reports whether a wiki id predates membership (random,
// not bound to a founder).
func IsLegacyWikiID(id string) bool { return !(len(id) == 28 && strings.HasPrefix(id, wikiIDPrefix)) }

// memberRevision is one membership operation as stored.
type memberRevision struct {
	cid     cid.Cid
	author  peer.ID
	name    string
	time    int64
	parents []cid.Cid
	op      memberOp
	valid   bool // decoded and well formed
}

// loadMemberOps reads every revision of the members page, void ones
// included (the replay decides what counts).
func (r *Repo) loadMemberOps(ctx context.Context) (map[cid.Cid]*memberRevision, []cid.Cid, error) {
	page := r.MembersPage()
	dag, err := r.store.PageDAG(ctx, page)
	if errors.Is(err, history.ErrNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	heads, err := r.store.Heads(ctx, page)
	if err != nil && !errors.Is(err, history.ErrNotFound) {
		return nil, nil, err
	}
	ops := make(map[cid.Cid]*memberRevision, len(dag))
	for c, n := range dag {
		if c.Equals(page) {
			continue
		}
		if mr := r.members.ops.get(c); mr != nil {
			ops[c] = mr
			continue
		}
		rev, err := r.store.Revision(ctx, c)
		if err != nil {
			return nil, nil, err
		}
		mr := &memberRevision{cid: c, author: rev.AuthorID(), name: rev.Name, time: rev.Time}
		for _, p := range n.Parents {
			if !p.Equals(page) {
				mr.parents = append(mr.parents, p)
			}
		}
		if body, err := r.store.Body(ctx, rev.Body.Cid); err == nil && !rev.IsAuto() {
			mr.valid = decodeMemberOp([]byte(body), &mr.op) == nil
		} else if err != nil && !rev.IsAuto() {
			ops[c] = mr // a body not held yet: read again next time
			continue
		}
		ops[c] = mr
		r.members.ops.put(mr)
	}
	return ops, heads, nil
}

// maxMemberOp bounds one operation's body: a removal's frontier grows with
// the pages the removed member wrote (about 62 bytes a page: a member who
// wrote on 100,000 pages makes a 6 MB removal), so the bound is the body
// limit itself.
const maxMemberOp = history.MaxBodySize

func decodeMemberOp(b []byte, op *memberOp) error {
	if len(b) > maxMemberOp {
		return errors.New("membership operation too large")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(op); err != nil {
		return err
	}
	switch op.Op {
	case "found", "add", "remove", "role", "revoke":
	default:
		return fmt.Errorf("unknown membership operation %q", op.Op)
	}
	return nil
}

// replayOrder is the deterministic order of the replay: parents first;
// among operations ready at once, removals first, then by author id, then
// by CID bytes.
func replayOrder(ops map[cid.Cid]*memberRevision) []*memberRevision {
	children := map[cid.Cid][]*memberRevision{}
	waiting := map[cid.Cid]int{}
	var ready []*memberRevision
	for _, o := range ops {
		n := 0
		for _, p := range o.parents {
			if _, ok := ops[p]; ok {
				children[p] = append(children[p], o)
				n++
			}
		}
		waiting[o.cid] = n
		if n == 0 {
			ready = append(ready, o)
		}
	}
	less := func(a, b *memberRevision) int {
		ra, rb := a.valid && a.op.Op == "remove", b.valid && b.op.Op == "remove"
		if ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		if a.author != b.author {
			return strings.Compare(string(a.author), string(b.author))
		}
		return bytes.Compare(a.cid.Bytes(), b.cid.Bytes())
	}
	out := make([]*memberRevision, 0, len(ops))
	for len(ready) > 0 {
		slices.SortFunc(ready, less)
		o := ready[0]
		ready = ready[1:]
		out = append(out, o)
		for _, ch := range children[o.cid] {
			if waiting[ch.cid]--; waiting[ch.cid] == 0 {
				ready = append(ready, ch)
			}
		}
	}
	return out
}

// ancestors returns the members-page operations below c, c included.
func ancestors(ops map[cid.Cid]*memberRevision, c cid.Cid) map[cid.Cid]bool {
	seen := map[cid.Cid]bool{}
	history.MarkReachable(seen, []cid.Cid{c}, func(x cid.Cid) []cid.Cid {
		if o, ok := ops[x]; ok {
			return o.parents
		}
		return nil
	})
	return seen
}

// founderCheck says whether a found operation by author is the wiki's
// founding: for new wikis the id binds the founder; for wikis made before
// membership the founder is the author of the earliest revision.
type founderCheck func(author peer.ID, op memberOp) bool

// replay computes the member list from the operations.
func replay(ops map[cid.Cid]*memberRevision, isFounder founderCheck) *Members {
	order := replayOrder(ops)
	voided := map[cid.Cid]bool{}
	for {
		m, applied, removals := replayOnce(order, voided, isFounder)
		grew := false
		for target, rm := range removals {
			below := ancestors(ops, rm)
			for c := range applied {
				if ops[c].author == target && !below[c] && !voided[c] {
					voided[c] = true
					grew = true
				}
			}
		}
		if !grew {
			for _, rm := range removals {
				m.removals = append(m.removals, rm)
			}
			return m
		}
	}
}

// MaxMembers bounds the member list, removed members included: every
// command reads it (from the snapshot, membersnap.go, about 280 bytes a
// member), so an admin adding members without end would slow everyone's.
// An addition past it is not applied, on every replica alike (the replay
// order is the same everywhere).
const MaxMembers = 10_000

// replayOnce runs the operations in order, skipping voided ones. It
// returns the list, the operations it applied, and the removal operation
// of each removed member.
func replayOnce(order []*memberRevision, voided map[cid.Cid]bool, isFounder founderCheck) (*Members, map[cid.Cid]bool, map[peer.ID]cid.Cid) {
	m := &Members{list: map[peer.ID]*Member{}, counted: map[peer.ID]map[cid.Cid]bool{}, frontiers: map[peer.ID]frontierList{},
		uses: map[string]int{}, revoked: map[string]bool{}}
	applied := map[cid.Cid]bool{}
	removals := map[peer.ID]cid.Cid{}
	for _, o := range order {
		if voided[o.cid] || !o.valid {
			continue
		}
		if applyOp(m, o, isFounder, removals) {
			applied[o.cid] = true
		}
	}
	return m, applied, removals
}

// applyOp applies one operation if its author may make it.
func applyOp(m *Members, o *memberRevision, isFounder founderCheck, removals map[peer.ID]cid.Cid) bool {
	op := o.op
	at := time.UnixMilli(o.time).UTC()
	if op.Op == "found" {
		if m.Founded || !isFounder(o.author, op) {
			return false
		}
		m.Founded, m.Founder, m.founding = true, o.author, o.cid
		name := op.Name
		if name == "" {
			name = o.name
		}
		m.list[o.author] = &Member{Peer: o.author, Name: name, Role: RoleAdmin, Since: at}
		for _, s := range op.Members {
			p, err := peer.Decode(s)
			if err != nil || p == o.author {
				continue
			}
			if _, ok := m.list[p]; !ok && len(m.list) < MaxMembers {
				m.list[p] = &Member{Peer: p, Role: RoleMember, AddedBy: o.author, Since: at}
			}
		}
		return true
	}
	if !m.Founded || !m.IsAdmin(o.author) {
		return false
	}
	target, err := peer.Decode(op.Peer)
	if op.Op != "revoke" && err != nil {
		return false
	}
	switch op.Op {
	case "add":
		if _, ok := m.list[target]; ok || (op.Role != RoleAdmin && op.Role != RoleMember) {
			return false // already listed (a removal is permanent)
		}
		if len(m.list) >= MaxMembers {
			return false
		}
		m.list[target] = &Member{Peer: target, Name: op.Name, Role: op.Role, AddedBy: o.author, Since: at, Invite: op.Invite}
		if op.Invite != "" {
			m.uses[op.Invite]++
		}
	case "remove":
		e, ok := m.list[target]
		if !ok || e.Removed || (e.Role == RoleAdmin && m.admins() == 1) {
			return false
		}
		e.Removed, e.RemovedBy, e.RemovedAt = true, o.author, at
		removals[target] = o.cid
		frontier := op.Frontier
		m.frontiers[target] = frontier
	case "role":
		e, ok := m.list[target]
		if !ok || e.Removed || (op.Role != RoleAdmin && op.Role != RoleMember) || e.Role == op.Role {
			return false
		}
		if e.Role == RoleAdmin && m.admins() == 1 {
			return false
		}
		e.Role = op.Role
	case "revoke":
		if op.Invite == "" {
			return false
		}
		m.revoked[op.Invite] = true
	default:
		return false
	}
	return true
}
