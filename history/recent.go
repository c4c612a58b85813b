package history

import (
	"maps"
	"sync"

	"github.com/ipfs/go-cid"
)

// A command that commits next to a running node tells the node so (the
// control socket's commit notice), and the node announces the new
// revisions to its peers. Read back by the node, they cost the edit's
// trip two queries of a database another process has just changed (its
// page cache reloaded: 0.5 ms at the median, 2-3 ms at the 99th
// percentile on a 10,000-revision wiki). The committing process holds
// the revisions and their blocks in memory already: it records them
// here, and the notice carries them.

// LocalCommit is a revision this Store committed itself, with the blocks
// a heads announcement inlines for it: its body, then the revision
// (RevisionBlocks's order).
type LocalCommit struct {
	Rev    NewRevision
	Blocks []Block
}

// maxRecentLocal bounds the bytes of blocks kept for TakeLocalCommits: a
// commit larger than a heads announcement's inline blocks is announced
// by its CIDs anyway, read back by the node. (So is a chunked body,
// which is larger than this.)
const maxRecentLocal = 60 << 10

// recentLocal holds what TakeLocalCommits returns.
type recentLocal struct {
	mu   sync.Mutex
	list []LocalCommit
	size int
	// over marks that something was committed that the list lacks.
	over bool
	hook func() // OnLocalCommit's
}

// OnLocalCommit has f called after every commit this Store makes of its
// own revisions (once TakeLocalCommits can tell them), in the committing
// goroutine: it must not block. A long-lived process that writes next to
// a node (the terminal UI) tells the node with it.
func (s *Store) OnLocalCommit(f func()) {
	s.recent.mu.Lock()
	defer s.recent.mu.Unlock()
	s.recent.hook = f
}

// TakeLocalCommits returns the revisions this Store committed since it
// was opened or last asked, with their blocks, parents first, and
// forgets them. ok is false when it cannot tell them all (more than
// maxRecentLocal bytes, a body not in the batch, a void or deferred
// revision): the caller then names none, and the node reads the commits
// back.
func (s *Store) TakeLocalCommits() (commits []LocalCommit, ok bool) {
	r := &s.recent
	r.mu.Lock()
	defer r.mu.Unlock()
	commits, ok = r.list, !r.over
	r.list, r.size, r.over = nil, 0, false
	if !ok {
		return nil, false
	}
	return commits, true
}

// keepForRecord is a copy of c's other blocks for recordLocal, taken
// before the writer consumes them; nil when the batch is too large to
// be recorded, or nothing more is until the next take (a process that
// never takes, a serve, copies no more than its first commits).
func (s *Store) keepForRecord(c *Checked) map[cid.Cid]Block {
	s.recent.mu.Lock()
	over := s.recent.over
	s.recent.mu.Unlock()
	if over {
		return nil
	}
	size := 0
	for _, p := range c.revs {
		size += len(p.block.Data)
	}
	for _, b := range c.others {
		size += len(b.Data)
	}
	if size > maxRecentLocal {
		return nil
	}
	return maps.Clone(c.others)
}

// recordLocal records a local batch's stored revisions for
// TakeLocalCommits, once it committed; others is keepForRecord's copy.
func (s *Store) recordLocal(c *Checked, others map[cid.Cid]Block, res *PutResult) {
	if len(res.Revisions) == 0 {
		return
	}
	r := &s.recent
	r.mu.Lock()
	hook := r.hook
	s.recordLocked(c, others, res)
	r.mu.Unlock()
	if hook != nil {
		hook()
	}
}

// recordLocked is recordLocal under s.recent.mu.
func (s *Store) recordLocked(c *Checked, others map[cid.Cid]Block, res *PutResult) {
	r := &s.recent
	if r.over {
		return
	}
	if others == nil {
		r.list, r.size, r.over = nil, 0, true
		return
	}
	commits, size, ok := c.localCommits(others, res)
	if !ok || r.size+size > maxRecentLocal {
		r.list, r.size, r.over = nil, 0, true
		return
	}
	r.list = append(r.list, commits...)
	r.size += size
}

// localCommits is what recordLocal keeps of a stored batch: every stored
// revision with its blocks from the batch, or ok false when one of them
// is void or a block is not in the batch.
func (c *Checked) localCommits(others map[cid.Cid]Block, res *PutResult) (out []LocalCommit, size int, ok bool) {
	if len(res.Void) > 0 || len(res.Deferred) > 0 {
		return nil, 0, false
	}
	byCID := make(map[cid.Cid]pendingRev, len(c.revs))
	parent := map[cid.Cid]bool{}
	for _, p := range c.revs {
		byCID[p.block.Cid] = p
		for _, l := range p.rev.Parents {
			parent[l.Cid] = true
		}
	}
	for _, rc := range res.Revisions { // parents first
		p, have := byCID[rc]
		if !have {
			return nil, 0, false
		}
		page := p.block.Cid
		if p.rev.Page != nil {
			page = p.rev.Page.Cid
		}
		body, have := others[p.rev.Body.Cid]
		if !have {
			return nil, 0, false
		}
		if body.Cid.Prefix().Codec != CodecRaw {
			// A chunked body (over ChunkThreshold) is never inlined.
			return nil, 0, false
		}
		blocks := []Block{body, p.block}
		for _, b := range blocks {
			size += len(b.Data)
		}
		out = append(out, LocalCommit{
			Rev:    NewRevision{Cid: p.block.Cid, Page: page, Head: !parent[p.block.Cid]},
			Blocks: blocks,
		})
	}
	return out, size, true
}
