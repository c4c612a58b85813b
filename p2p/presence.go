package p2p

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/fxamacker/cbor/v2"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Presence is conflict avoidance, advisory only: a replica where someone
// has a page open in an editor says so on the wiki's presence topic, with
// a lease it keeps renewing; the others show "being edited by NAME" and
// warn a second editor. It never blocks a write, and it expires by itself
// when the editing replica goes away.
//
// Locally, an editing process (`peerwiki edit` with $EDITOR, the terminal
// UI's editor) tells the node on the repo through NodeAPI.Editing, a
// request held open for as long as it edits (a process that dies closes
// it), and the node announces at once. While no node runs it writes
// DIR/editing/<pid>.json instead and removes it when done; a node started
// later announces what is there (dropping files of processes that died).
// The node writes what it hears from others to DIR/presence.json, which
// commands read.

// PresenceTopic is the pubsub topic of a wiki's presence announcements.
func PresenceTopic(wiki string) string { return "peerwiki/" + wiki + "/presence" }

// EditingDir and PresenceFile are the local files of presence.
const (
	EditingDir   = "editing"
	PresenceFile = "presence.json"
)

// DefaultPresenceLease is how long an announcement holds without renewal.
const DefaultPresenceLease = 10 * time.Second

// Editing is one page open in an editor.
type Editing struct {
	Page  string `json:"page"`
	Since int64  `json:"since"` // ms
	PID   int    `json:"pid,omitempty"`
}

// PresenceEntry is another replica's editor on a page, as heard.
type PresenceEntry struct {
	PeerID  string `json:"peer_id"`
	Name    string `json:"name"`
	Page    string `json:"page"`
	Since   int64  `json:"since"`
	Expires int64  `json:"expires"`
}

type presenceMsg struct {
	Wiki    string    `cbor:"wiki"`
	Name    string    `cbor:"name"`
	LeaseMS int64     `cbor:"lease"`
	Pages   []Editing `cbor:"pages"`
}

// StartEditing records that this process edits page; call the returned
// function when done.
func StartEditing(dir, page string) (done func(), err error) {
	d := filepath.Join(dir, EditingDir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return func() {}, err
	}
	path := filepath.Join(d, fmt.Sprintf("%d.json", os.Getpid()))
	b, _ := json.Marshal(Editing{Page: page, Since: time.Now().UnixMilli(), PID: os.Getpid()})
	if err := writeFileAtomic(path, b); err != nil {
		return func() {}, err
	}
	return func() { os.Remove(path) }, nil
}

// localEditing reads DIR/editing, removing files of processes that died.
func localEditing(dir string) []Editing {
	d := filepath.Join(dir, EditingDir)
	entries, err := os.ReadDir(d)
	if err != nil {
		return nil
	}
	var out []Editing
	for _, e := range entries {
		path := filepath.Join(d, e.Name())
		b, err := os.ReadFile(path)
		var ed Editing
		if err != nil || json.Unmarshal(b, &ed) != nil || ed.PID <= 0 {
			continue
		}
		if err := syscall.Kill(ed.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
			os.Remove(path) // its editor is gone
			continue
		}
		ed.PID = 0
		out = append(out, ed)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Page < out[j].Page })
	return out
}

// ReadPresence returns the other replicas' editors heard by the node on
// the repo, without expired ones.
func ReadPresence(dir string) []PresenceEntry {
	b, err := os.ReadFile(filepath.Join(dir, PresenceFile))
	if err != nil {
		return nil
	}
	var all []PresenceEntry
	if json.Unmarshal(b, &all) != nil {
		return nil
	}
	now := time.Now().UnixMilli()
	var out []PresenceEntry
	for _, p := range all {
		if p.Expires > now {
			out = append(out, p)
		}
	}
	return out
}

type presence struct {
	n     *Node
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	sign  pubsub.PubOpt // this node's signature on what it publishes
	lease time.Duration
	mu    sync.Mutex
	heard map[peer.ID][]PresenceEntry
	// changed wakes the announcer when an editor registers or leaves.
	changed chan struct{}
	writeMu sync.Mutex
	written []byte // what write last put in PresenceFile
}

// nudge has the local editors announced now rather than at the next look.
func (p *presence) nudge() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// editing is every page open in an editor on this replica: the files of
// editing processes, and the editors registered with the node's owner.
func (p *presence) editing() []Editing {
	var pages []Editing
	if p.n.cfg.RepoDir != "" {
		pages = localEditing(p.n.cfg.RepoDir)
	}
	if p.n.cfg.Editing != nil {
		pages = append(pages, p.n.cfg.Editing()...)
	}
	sort.Slice(pages, func(i, j int) bool { return pages[i].Page < pages[j].Page })
	return pages
}

// startPresence joins the presence topic of the node's gossip.
func startPresence(n *Node, g *gossip) (*presence, error) {
	p := &presence{n: n, lease: n.cfg.PresenceLease, heard: map[peer.ID][]PresenceEntry{}, changed: make(chan struct{}, 1),
		sign: pubsub.WithSecretKeyAndPeerId(g.key, n.host.ID())}
	if p.lease <= 0 {
		p.lease = DefaultPresenceLease
	}
	name := PresenceTopic(n.wiki)
	if err := g.ps.RegisterTopicValidator(name, p.validate); err != nil {
		return nil, err
	}
	var err error
	if p.topic, err = g.ps.Join(name); err != nil {
		return nil, err
	}
	if p.sub, err = p.topic.Subscribe(); err != nil {
		return nil, err
	}
	n.wg.Add(2)
	go p.readLoop()
	go p.announceLoop()
	return p, nil
}

func (p *presence) close() {
	p.sub.Cancel()
	p.topic.Close()
}

func (p *presence) validate(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if len(m.Data) > 8<<10 {
		return pubsub.ValidationReject
	}
	// Who is editing is the message's author: GossipSub has checked the
	// signature of a message that carries one, and takes one that does
	// not (heads announcements go unsigned), so an unsigned one here
	// could name anyone.
	if m.Signature == nil || m.GetFrom() == "" {
		return pubsub.ValidationReject
	}
	var msg presenceMsg
	if err := wireDec.Unmarshal(m.Data, &msg); err != nil || len(msg.Pages) > 64 || msg.LeaseMS <= 0 || msg.LeaseMS > 600_000 {
		return pubsub.ValidationReject
	}
	if msg.Wiki != p.n.wiki {
		return pubsub.ValidationIgnore
	}
	m.ValidatorData = &msg
	return pubsub.ValidationAccept
}

func (p *presence) readLoop() {
	defer p.n.wg.Done()
	for {
		m, err := p.sub.Next(p.n.ctx)
		if err != nil {
			return
		}
		if m.GetFrom() == p.n.ID() {
			continue
		}
		msg, _ := m.ValidatorData.(*presenceMsg)
		if msg == nil {
			continue
		}
		expires := time.Now().Add(time.Duration(msg.LeaseMS) * time.Millisecond).UnixMilli()
		var entries []PresenceEntry
		for _, e := range msg.Pages {
			entries = append(entries, PresenceEntry{PeerID: m.GetFrom().String(), Name: clip(msg.Name), Page: e.Page, Since: e.Since, Expires: expires})
		}
		p.mu.Lock()
		p.heard[m.GetFrom()] = entries
		p.mu.Unlock()
		p.write()
	}
}

// write saves what was heard (and not expired) for commands to read.
func (p *presence) write() {
	if p.n.cfg.RepoDir == "" {
		return
	}
	now := time.Now().UnixMilli()
	p.mu.Lock()
	all := []PresenceEntry{}
	for id, es := range p.heard {
		var live []PresenceEntry
		for _, e := range es {
			if e.Expires > now {
				live = append(live, e)
			}
		}
		if len(live) == 0 {
			delete(p.heard, id)
		}
		all = append(all, live...)
	}
	p.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Page+all[i].PeerID < all[j].Page+all[j].PeerID })
	b, _ := json.Marshal(all)
	// Readers drop expired entries themselves: the file changes only when
	// what it says does. (Rewritten every 300 ms, it was a file created
	// and renamed in the repo three times a second by every node, each
	// waking the node's watch of the directory.)
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if p.written != nil && bytes.Equal(b, p.written) {
		return
	}
	if writeFileAtomic(filepath.Join(p.n.cfg.RepoDir, PresenceFile), b) == nil {
		p.written = b
	}
}

// announceLoop publishes this replica's editors when they change and at
// a third of the lease while any is open.
func (p *presence) announceLoop() {
	defer p.n.wg.Done()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	var last string
	var lastSent time.Time
	for {
		select {
		case <-p.n.ctx.Done():
			return
		case <-tick.C:
		case <-p.changed:
		}
		if p.n.cfg.RepoDir == "" && p.n.cfg.Editing == nil {
			continue
		}
		pages := p.editing()
		key, _ := json.Marshal(pages)
		changed := string(key) != last
		if !changed && (len(pages) == 0 || time.Since(lastSent) < p.lease/3) {
			continue
		}
		msg := presenceMsg{Wiki: p.n.wiki, Name: p.n.cfg.Name, LeaseMS: p.lease.Milliseconds(), Pages: pages}
		if msg.Pages == nil {
			msg.Pages = []Editing{}
		}
		data, err := cbor.Marshal(msg)
		if err != nil {
			continue
		}
		// Signed by this node, as every build signs presence (see validate).
		if err := p.topic.Publish(p.n.ctx, data, p.sign); err == nil {
			last, lastSent = string(key), time.Now()
		}
		p.write() // also drops expired entries heard from others
	}
}
