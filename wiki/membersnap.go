package wiki

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
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
//     current heads, in members.snap in the repo, written by whichever
//     process computed it and read by the next to open the repo while
//     the heads are the same (one small file instead of every operation);
//   - in a process, the operations already read, by CID (immutable, like
//     every block): a replay after a change reads only the new ones.
//
// Both are derived: a snapshot that does not match the heads, the wiki,
// or this build's format, or that cannot be read, is ignored and
// rewritten; deleting it is always safe.

// memberSnapFile is the snapshot's file in the repo directory. It is
// CBOR, peer ids and CIDs as their bytes: the JSON of older builds
// (members.cache, which they still write and read) cost a command 5.2-5.6
// ms to read at 500 members, two thirds of it encoding/json and most of
// the rest base58 (BenchmarkMemberSnapshot500). Each format has its own
// file, so that an older serve and a newer command on one repo (an
// upgrade's moment) do not each find the other's and replay.
const memberSnapFile = "members.snap"

// memberSnapVersion changes whenever replay or the snapshot's shape does.
const memberSnapVersion = 2

// memberSnap is the snapshot as written.
type memberSnap struct {
	V         int             `cbor:"v"`
	Wiki      string          `cbor:"wiki"`
	Heads     [][]byte        `cbor:"heads"`
	Founder   []byte          `cbor:"founder"`
	List      []snapMember    `cbor:"list"`
	Frontiers []snapFrontier  `cbor:"frontiers"`
	Uses      map[string]int  `cbor:"uses"`
	Revoked   map[string]bool `cbor:"revoked"`
	Founding  []byte          `cbor:"founding"`
	Removals  [][]byte        `cbor:"removals"`
}

// snapFrontier is a removed member's frontier as its removal wrote it
// (a list, not a map: CBOR's map keys here would be text, and a peer id's
// bytes are not UTF-8).
type snapFrontier struct {
	Peer     []byte `cbor:"peer"`
	Frontier []byte `cbor:"frontier"`
}

// snapMember is a Member as the snapshot keeps it: peer ids as bytes,
// empty where the list has none (the founder was added by nobody); times
// in unix milliseconds, as the operations give them.
type snapMember struct {
	Peer      []byte `cbor:"peer"`
	Name      string `cbor:"name"`
	Role      string `cbor:"role"`
	AddedBy   []byte `cbor:"by"`
	Since     int64  `cbor:"since"`
	Invite    string `cbor:"invite"`
	Removed   bool   `cbor:"removed"`
	RemovedBy []byte `cbor:"removedBy"`
	RemovedAt int64  `cbor:"removedAt"`
}

// memberSnapDec reads a snapshot strictly: one with a field this build
// does not know is another build's, and is replayed past. Its sizes are
// the list's own (the file is this replica's, trusted as the database
// beside it): the invites used and revoked are as many as admins made.
var memberSnapDec = func() cbor.DecMode {
	d, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxArrayElements:  1 << 30,
		MaxMapPairs:       1 << 30,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return d
}()

func cidStrings(cs []cid.Cid) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func cidBytes(cs []cid.Cid) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Bytes()
	}
	return out
}

// saveMemberSnap writes m, a founded list, as the replica's snapshot.
// Failing to write only costs the next process a replay.
func (r *Repo) saveMemberSnap(m *Members) {
	if !m.Founded || r.Dir == "" {
		return
	}
	s := memberSnap{V: memberSnapVersion, Wiki: r.Config.Wiki, Heads: cidBytes(m.heads), Founder: []byte(m.Founder),
		Uses: m.uses, Revoked: m.revoked, Removals: cidBytes(m.removals)}
	for p, f := range m.frontiers {
		s.Frontiers = append(s.Frontiers, snapFrontier{Peer: []byte(p), Frontier: f})
	}
	for _, e := range m.List() {
		s.List = append(s.List, snapMember{Peer: []byte(e.Peer), Name: e.Name, Role: e.Role, AddedBy: []byte(e.AddedBy),
			Since: e.Since.UnixMilli(), Invite: e.Invite, Removed: e.Removed, RemovedBy: []byte(e.RemovedBy), RemovedAt: e.RemovedAt.UnixMilli()})
	}
	if m.founding.Defined() {
		s.Founding = m.founding.Bytes()
	}
	data, err := cbor.Marshal(s)
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
	if memberSnapDec.Unmarshal(data, &s) != nil || s.V != memberSnapVersion || s.Wiki != r.Config.Wiki ||
		!slices.EqualFunc(s.Heads, heads, func(b []byte, c cid.Cid) bool { return bytes.Equal(b, c.Bytes()) }) {
		return nil
	}
	// Most members were added by one of a few admins: each id is checked
	// once.
	ids := map[string]peer.ID{}
	idOf := func(b []byte) (peer.ID, error) {
		if len(b) == 0 {
			return "", nil
		}
		if p, ok := ids[string(b)]; ok {
			return p, nil
		}
		p, err := peer.IDFromBytes(b)
		if err == nil {
			ids[string(b)] = p
		}
		return p, err
	}
	founder, err := idOf(s.Founder)
	if err != nil || founder == "" {
		return nil
	}
	m := &Members{Founded: true, Founder: founder, list: map[peer.ID]*Member{}, frontiers: map[peer.ID]frontierList{},
		counted: map[peer.ID]map[cid.Cid]bool{},
		uses:    s.Uses, revoked: s.Revoked, heads: slices.Clone(heads)}
	for _, e := range s.List {
		p, err1 := idOf(e.Peer)
		by, err2 := idOf(e.AddedBy)
		rmBy, err3 := idOf(e.RemovedBy)
		if err := errors.Join(err1, err2, err3); err != nil || p == "" {
			return nil
		}
		m.list[p] = &Member{Peer: p, Name: e.Name, Role: e.Role, AddedBy: by, Since: time.UnixMilli(e.Since).UTC(), Invite: e.Invite,
			Removed: e.Removed, RemovedBy: rmBy, RemovedAt: time.UnixMilli(e.RemovedAt).UTC()}
	}
	for _, f := range s.Frontiers {
		p, err := idOf(f.Peer)
		if err != nil || p == "" {
			return nil
		}
		m.frontiers[p] = frontierList(f.Frontier)
	}
	if m.uses == nil {
		m.uses = map[string]int{}
	}
	if m.revoked == nil {
		m.revoked = map[string]bool{}
	}
	if len(s.Founding) > 0 {
		if m.founding, err = cid.Cast(s.Founding); err != nil {
			return nil
		}
	}
	for _, c := range s.Removals {
		rc, err := cid.Cast(c)
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
