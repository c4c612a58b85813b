package web

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

// network is what the page shows of the node running on the repo, if
// any: the replicas connected now, and who has which page open in an
// editor elsewhere. The web server runs no node of its own: it asks the
// repo's (serve, or the terminal UI) over its control socket, and reads
// the presence the node keeps beside the repo.
type network struct {
	Running bool
	Kind    string   // who runs the node: "peerwiki serve", "the terminal UI"
	Peers   []string // connected replicas, by name (or short id)
	// Editing lists, by page id, the other replicas editing it now.
	Editing map[string][]editor
}

// editor is another replica's editor open on a page (presence: advisory).
type editor struct {
	PeerID string
	Name   string
	Since  time.Time
}

// nodeLink keeps one client of the repo's node, dialled again after a
// failure (the node stopped, or another started).
type nodeLink struct {
	mu sync.Mutex
	c  *p2p.NodeClient
}

func (l *nodeLink) client(dir string) *p2p.NodeClient {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		l.c, _ = p2p.DialNode(dir)
	}
	return l.c
}

func (l *nodeLink) drop(c *p2p.NodeClient) {
	l.mu.Lock()
	if l.c == c {
		l.c = nil
	}
	l.mu.Unlock()
}

// readNetwork asks the repo's node, briefly; without one the page says
// no node runs.
func (l *nodeLink) readNetwork(ctx context.Context, r *wiki.Repo) network {
	n := network{Editing: map[string][]editor{}}
	for _, e := range p2p.ReadPresence(r.Dir) {
		if e.PeerID == r.ID.ID.String() {
			continue
		}
		n.Editing[e.Page] = append(n.Editing[e.Page], editor{PeerID: e.PeerID, Name: e.Name, Since: time.UnixMilli(e.Since)})
	}
	c := l.client(r.Dir)
	if c == nil {
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		l.drop(c)
		return n
	}
	n.Running, n.Kind = true, st.Kind
	if peers, err := c.Peers(ctx); err == nil {
		for _, p := range peers {
			if p.Connected {
				n.Peers = append(n.Peers, wiki.AuthorName(p.Name, p.ID.String()))
			}
		}
	}
	sort.Strings(n.Peers)
	return n
}

// signature changes when what the page shows of the network changes.
func (n network) signature() string {
	var b strings.Builder
	b.WriteString(n.Kind)
	for _, p := range n.Peers {
		b.WriteString("|" + p)
	}
	pages := make([]string, 0, len(n.Editing))
	for p := range n.Editing {
		pages = append(pages, p)
	}
	sort.Strings(pages)
	for _, p := range pages {
		for _, e := range n.Editing[p] {
			b.WriteString("|" + p + ":" + e.PeerID)
		}
	}
	return b.String()
}
