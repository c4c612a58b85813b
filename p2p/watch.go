package p2p

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"github.com/ipfs/go-cid"
	"golang.org/x/sys/unix"

	"peerwiki/history"
)

// watchCommits notices revisions stored by any process on the repo (the
// CLI writing next to a running serve, or this node's own policies) and
// announces the local ones. It looks when a command on the repo tells it
// it committed (Notice, through the control socket), on inotify events on
// the repo directory (the database's WAL changes on every commit: a
// commit made by anything else), and every PollInterval in case inotify
// is missing.
func (n *Node) watchCommits(ctx context.Context) error {
	mark, err := n.store.LastRevisionID(ctx)
	if err != nil {
		return err
	}
	last, err := n.store.CommitCount(ctx)
	if err != nil {
		return err
	}
	walWake := make(chan struct{}, 1)
	if n.cfg.RepoDir != "" {
		n.inotify(n.cfg.RepoDir, n.walPath(), walWake)
		// The store's checkpointer writes the log too (it starts it
		// over): those events, like this node's stores, need no look.
		n.store.SetBackgroundWriteHook(func() func() {
			n.storing.Add(1)
			return func() { n.recordOwnWAL(); n.storing.Add(-1) }
		})
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if n.cfg.RepoDir != "" {
			defer n.store.SetBackgroundWriteHook(nil) // the store may outlive this node
		}
		tick := time.NewTicker(n.cfg.PollInterval)
		defer tick.Stop()
		// A write to the WAL wakes us before the writer has published the
		// commit (in shared memory, which inotify does not see), and one
		// commit writes it several times: a WAL event schedules a look 2
		// ms later (unless one is scheduled), and a look that finds
		// nothing new looks again after twice as long, while the last
		// event is under 60 ms old. (Looking at every event, and every 2
		// ms after, it was 75 looks an edit, and a replica's own commits,
		// checkpoints and log syncs woke it several times an edit: 4-8 ms
		// of CPU an edit received, most of what a running node spent on
		// one.) A command's notice comes after its commit is visible: it
		// ends the rechecks that the same commit's WAL writes started
		// (about 1 ms of CPU an edit). A second writer's commit among them
		// that sends no notice waits for the poll at most.
		const recheckFirst, recheckFor = 2 * time.Millisecond, 60 * time.Millisecond
		recheck := time.NewTimer(time.Hour)
		defer recheck.Stop()
		var walAt time.Time
		armed, recheckEvery := false, recheckFirst
		for {
			noticed := false
			select {
			case <-n.ctx.Done():
				return
			case <-tick.C:
			case <-recheck.C:
				armed = false
				recheckEvery *= 2
			case <-walWake:
				walAt = time.Now()
				if !armed {
					armed, recheckEvery = true, recheckFirst
					recheck.Reset(recheckEvery)
				}
				continue
			case <-n.wake:
				// A notice: the commit whose WAL writes came before it is
				// visible now, whether this look or an earlier one finds it.
				armed, walAt = false, time.Time{}
				recheck.Stop()
				noticed = true
			case <-n.wakeLater:
				// A notice that announced its commits: the look that
				// records them waits until they are on their way.
				walAt = time.Time{}
				armed, recheckEvery = true, noticedLook
				recheck.Reset(recheckEvery)
				continue
			}
			// After a notice there is a commit to look for: the counter
			// would only say so (a query on the edit's way to its peers);
			// the next look without a notice brings it up to date.
			if !noticed {
				cc, err := n.store.CommitCount(n.ctx)
				if err != nil || cc == last {
					if !armed && time.Since(walAt) < recheckFor {
						armed = true
						recheck.Reset(recheckEvery)
					}
					continue
				}
				last = cc
			}
			for {
				revs, next, err := n.store.RevisionsAfter(n.ctx, mark, maxAnnouncedHeads)
				if err != nil || len(revs) == 0 {
					break
				}
				mark = next
				full := len(revs) == maxAnnouncedHeads
				if revs = n.claimAnnounce(revs); len(revs) > 0 && !n.announceFound(revs) {
					return
				}
				if !full {
					break
				}
			}
		}
	}()
	return nil
}

// announceFound tells the member list of revisions the watcher found,
// and announces them unless GossipSub carried them already; false when
// the node stops meanwhile.
func (n *Node) announceFound(revs []history.NewRevision) bool {
	n.observeLocal(revs)
	relay := n.allFromNetwork(revs)
	// Revisions that came by gossip: GossipSub's mesh forwarded them
	// already, unless it is still forming or an older peer refused them
	// (gossipMayMiss). Those a sync brought (a one-shot `sync` or `join`
	// pushing to this node, a peer met again) reach the other peers only
	// if this node tells them: CIDs, which a peer that lacks them syncs.
	byGossip := relay && n.allByGossip(revs)
	if byGossip && (n.gossip == nil || !n.gossipMayMiss()) {
		return true
	}
	if byGossip {
		// Let the original publisher's own message reach its direct
		// peers first.
		select {
		case <-time.After(relayDelay):
		case <-n.ctx.Done():
			return false
		}
	}
	n.announce(revs, !relay)
	return true
}

// noticedLook is how long after a notice that announced its commits the
// watcher looks at them (to record them as seen, and for any other
// commit among them).
const noticedLook = 20 * time.Millisecond

// relayDelay holds back announcing revisions that came from peers.
const relayDelay = 25 * time.Millisecond

func (n *Node) allFromNetwork(revs []history.NewRevision) bool {
	for _, r := range revs {
		if !n.isFromNetwork(r.Cid) {
			return false
		}
	}
	return true
}

// announce publishes new revisions: local commits always; revisions from
// peers only while gossip may miss a peer (gossipMayMiss: the mesh may be
// forming, meshWindow, or an older peer refuses what is forwarded), so
// that an edit crosses even a line of peers that GossipSub would not
// forward to yet. Relays name CIDs only: a peer that lacks them syncs,
// and peers that have them spend next to nothing on the message.
func (n *Node) announce(revs []history.NewRevision, inline bool) {
	n.announceWith(revs, inline, nil)
}

// announceWith is announce with the inline blocks of some revisions at
// hand (the rest are read from the store).
func (n *Node) announceWith(revs []history.NewRevision, inline bool, blocks map[cid.Cid][]history.Block) {
	var local []history.NewRevision
	for _, r := range revs {
		if !n.isFromNetwork(r.Cid) {
			local = append(local, r)
		}
	}
	if len(local) > 0 {
		n.log.Debug("local commit", "revisions", len(local), "last", local[len(local)-1].Cid, "us", time.Now().UnixMicro())
	}
	if n.gossip != nil {
		if err := n.gossip.announce(n.ctx, revs, inline, blocks); err != nil {
			n.log.Warn("announce failed", "err", err)
			return
		}
	}
	ev := Event{Kind: EventAnnounced}
	for _, r := range revs {
		if !n.isFromNetwork(r.Cid) {
			ev.Revisions = append(ev.Revisions, r.Cid)
		}
	}
	if len(ev.Revisions) > 0 {
		n.emit(ev)
	}
}

// inotify wakes the watcher when the write-ahead log at walPath, in dir,
// changes, unless this node's own store left it so (ownWAL): every commit
// (in WAL mode) writes to it, and nothing else there needs a look (the
// database file changes at checkpoints, the other files are this node's
// own, and a command closing the log as it exits wrote nothing: that
// event woke the watcher for a round of looks after every edit). Failing
// to set it up only makes the watcher rely on polling.
func (n *Node) inotify(dir, walPath string, wake chan<- struct{}) {
	wal := filepath.Base(walPath)
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE); err != nil {
		unix.Close(fd)
		return
	}
	f := os.NewFile(uintptr(fd), "inotify")
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		<-n.ctx.Done()
		f.Close()
	}()
	go func() {
		defer n.wg.Done()
		buf := make([]byte, 4096)
		for {
			k, err := f.Read(buf)
			if err != nil {
				return
			}
			// A store of revisions from peers under way (or just done)
			// wrote the log itself: its inotify events arrive before
			// putChecked can record the log as it left it. A command's
			// commit among them is not missed: commands next to a node
			// send it a notice, and the watcher polls anyway.
			if !walEvent(buf[:k], wal) || n.storing.Load() > 0 || n.ownWAL.unchanged(walPath) {
				continue
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
}

// walEvent reports whether a read of inotify events names the file wal
// (or overflowed, when any file may have changed).
func walEvent(events []byte, wal string) bool {
	for len(events) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&events[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(events) {
			return true
		}
		name := string(bytes.TrimRight(events[unix.SizeofInotifyEvent:end], "\x00"))
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 || name == wal {
			return true
		}
		events = events[end:]
	}
	return false
}

// walPath is the store's write-ahead log.
func (n *Node) walPath() string { return n.store.Path() + "-wal" }

// walState is a write-ahead log's size and modification time, as a store
// of this node's left it: its own writes then wake nobody (each woke the
// commit watcher for a round of queries that found nothing to announce).
// Any other writer's commit changes the time.
type walState struct {
	mu       sync.Mutex
	size     int64
	mtime    time.Time
	path     string
	recorded bool
}

func (w *walState) record(path string) {
	st, err := os.Stat(path)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.path, w.recorded = path, err == nil
	if err == nil {
		w.size, w.mtime = st.Size(), st.ModTime()
	}
}

// unchanged reports whether the log at path is as last recorded.
func (w *walState) unchanged(path string) bool {
	st, err := os.Stat(path)
	w.mu.Lock()
	defer w.mu.Unlock()
	return err == nil && w.recorded && w.path == path && st.Size() == w.size && st.ModTime().Equal(w.mtime)
}

// recordOwnWAL notes the log as a store of this node's left it (see
// walState), while Node.storing still keeps its inotify events quiet.
func (n *Node) recordOwnWAL() {
	if n.cfg.RepoDir != "" {
		n.ownWAL.record(n.walPath())
	}
}

// gossipMayMiss reports whether GossipSub may not carry what it brought
// this node to every peer on the topic, so that the node announces it
// too: while the mesh may be forming, and while a peer of an older build
// is on the topic (it refuses the unsigned announcements this build
// forwards; this node's own are signed for it, see gossip.publish).
func (n *Node) gossipMayMiss() bool {
	return n.gossip.meshForming() || n.gossip.olderPeers()
}

// storedFromPeer follows a store of revisions from a peer: the commit
// watcher needs a look for what a sync brought (it announces them) and,
// while gossip may miss a peer (gossipMayMiss), for what gossip brought
// (it relays them, see watchCommits); otherwise its next look skips them.
func (n *Node) storedFromPeer(viaGossip bool) {
	if viaGossip && n.gossip != nil && !n.gossipMayMiss() {
		return
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}
