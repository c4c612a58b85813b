package wiki

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The member list is a replay of every membership operation held
// (members.go). Replaying costs a read of every operation: an admin who
// wrote thousands of them (a team that grew, or a rogue admin on
// purpose) would slow every command of every member, each of which reads
// the list when it opens the repo (2,000 operations cost a `list` 80 ms).
// Two caches keep that cost where the list changes, not where it is read:
//
//   - the replica's snapshot: the list computed for the members page's
//     current heads, in members.cache in the repo, written by whichever
//     process computed it and read by the next to open the repo while
//     the heads are the same (one small file instead of every operation);
//   - in a process, the operations already read, by CID (immutable, like
//     every block): a replay after a change reads only the new ones.
//
// Both are derived: a snapshot that does not match the heads, the wiki,
// or this build's format, or that cannot be read, is ignored and
// rewritten; deleting it is always safe.

// memberSnapFile is the snapshot's file in the repo directory.
const memberSnapFile = "members.cache"

// memberSnapVersion changes whenever replay or the snapshot's shape does.
const memberSnapVersion = 1

type memberSnap struct {
	V         int                     `json:"v"`
	Wiki      string                  `json:"wiki"`
	Heads     []string                `json:"heads"`
	Founder   peer.ID                 `json:"founder"`
	List      []snapMember            `json:"list"`
	Frontiers map[string]frontierList `json:"frontiers"` // by peer id as text
	Uses      map[string]int          `json:"uses"`
	Revoked   map[string]bool         `json:"revoked"`
	Founding  string                  `json:"founding"`
	Removals  []string                `json:"removals"`
}

// snapMember is a Member as the snapshot keeps it: peer ids as text,
// empty where the list has none (the founder was added by nobody).
type snapMember struct {
	Peer, Name, Role, AddedBy, Invite, RemovedBy string
	Since, RemovedAt                             time.Time
	Removed                                      bool
}

func idText(p peer.ID) string {
	if p == "" {
		return ""
	}
	return p.String()
}

func idOf(s string) (peer.ID, error) {
	if s == "" {
		return "", nil
	}
	return peer.Decode(s)
}

func cidStrings(cs []cid.Cid) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

// saveMemberSnap writes m, a founded list, as the replica's snapshot.
// Failing to write only costs the next process a replay.
func (r *Repo) saveMemberSnap(m *Members) {
	if !m.Founded || r.Dir == "" {
		return
	}
	s := memberSnap{V: memberSnapVersion, Wiki: r.Config.Wiki, Heads: cidStrings(m.heads), Founder: m.Founder,
		Frontiers: map[string]frontierList{}, Uses: m.uses, Revoked: m.revoked, Removals: cidStrings(m.removals)}
	for p, f := range m.frontiers {
		s.Frontiers[p.String()] = f
	}
	for _, e := range m.List() {
		s.List = append(s.List, snapMember{Peer: idText(e.Peer), Name: e.Name, Role: e.Role, AddedBy: idText(e.AddedBy),
			Invite: e.Invite, RemovedBy: idText(e.RemovedBy), Since: e.Since, RemovedAt: e.RemovedAt, Removed: e.Removed})
	}
	if m.founding.Defined() {
		s.Founding = m.founding.String()
	}
	data, err := json.Marshal(s)
	if err != nil {
		return
	}
	path := filepath.Join(r.Dir, memberSnapFile)
	tmp, err := os.CreateTemp(r.Dir, memberSnapFile+".*")
	if err != nil {
		return
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

// loadMemberSnap returns the snapshot's list when it was computed for
// heads, else nil.
func (r *Repo) loadMemberSnap(heads []cid.Cid) *Members {
	if r.Dir == "" || len(heads) == 0 {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(r.Dir, memberSnapFile))
	if err != nil {
		return nil
	}
	var s memberSnap
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if d.Decode(&s) != nil || s.V != memberSnapVersion || s.Wiki != r.Config.Wiki || !slices.Equal(s.Heads, cidStrings(heads)) {
		return nil
	}
	m := &Members{Founded: true, Founder: s.Founder, list: map[peer.ID]*Member{}, frontiers: map[peer.ID]frontierList{},
		counted: map[peer.ID]map[cid.Cid]bool{},
		uses:    s.Uses, revoked: s.Revoked, heads: slices.Clone(heads)}
	for _, e := range s.List {
		p, err1 := idOf(e.Peer)
		by, err2 := idOf(e.AddedBy)
		rmBy, err3 := idOf(e.RemovedBy)
		if err := errors.Join(err1, err2, err3); err != nil || p == "" {
			return nil
		}
		m.list[p] = &Member{Peer: p, Name: e.Name, Role: e.Role, AddedBy: by, Since: e.Since, Invite: e.Invite,
			Removed: e.Removed, RemovedBy: rmBy, RemovedAt: e.RemovedAt}
	}
	for ps, f := range s.Frontiers {
		p, err := peer.Decode(ps)
		if err != nil {
			return nil
		}
		m.frontiers[p] = f
	}
	if m.uses == nil {
		m.uses = map[string]int{}
	}
	if m.revoked == nil {
		m.revoked = map[string]bool{}
	}
	if s.Founding != "" {
		if m.founding, err = cid.Decode(s.Founding); err != nil {
			return nil
		}
	}
	for _, c := range s.Removals {
		rc, err := cid.Decode(c)
		if err != nil {
			return nil
		}
		m.removals = append(m.removals, rc)
	}
	if _, ok := m.list[m.Founder]; !ok {
		return nil
	}
	return m
}

// memberOpMemo remembers, in a process, the membership operations read.
type memberOpMemo struct {
	mu  sync.Mutex
	ops map[cid.Cid]*memberRevision
}

func (mm *memberOpMemo) get(c cid.Cid) *memberRevision {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.ops[c]
}

func (mm *memberOpMemo) put(mr *memberRevision) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.ops == nil {
		mm.ops = map[cid.Cid]*memberRevision{}
	}
	mm.ops[mr.cid] = mr
}
