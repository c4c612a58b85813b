package p2p

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// replica is a store and identity of the test wiki, and the builder of
// its revisions.
type replica struct {
	*historytest.Builder
}

func newReplica(t *testing.T) *replica {
	t.Helper()
	return &replica{historytest.NewBuilder(t, historytest.NewStore(t, history.Options{}))}
}

// addHistory stores pages × revs revisions in one transaction and
// returns the page ids.
func (r *replica) addHistory(pages, revs int, prefix string) []cid.Cid {
	r.T.Helper()
	var all []history.Block
	var ids []cid.Cid
	for p := range pages {
		var page, prev cid.Cid
		for v := range revs {
			body := fmt.Sprintf("# %s %d\n\nRevision %d of page %d.\n%s", prefix, p, v, p, strings.Repeat("Some text of the page. ", 10+v))
			var parents []cid.Cid
			if v > 0 {
				parents = []cid.Cid{prev}
			}
			c, blocks := r.Batch(page, fmt.Sprintf("%s %d", prefix, p), body, parents...)
			if v == 0 {
				page = c
				ids = append(ids, c)
			}
			prev = c
			all = append(all, blocks...)
		}
	}
	if _, err := r.Store.Put(context.Background(), all); err != nil {
		r.T.Fatal(err)
	}
	return ids
}

// edit stores one new revision on top of a page's single head.
func (r *replica) edit(page cid.Cid, body string) cid.Cid {
	r.T.Helper()
	ctx := context.Background()
	heads, err := r.Store.Heads(ctx, page)
	if err != nil {
		r.T.Fatal(err)
	}
	prev, err := r.Store.Revision(ctx, heads[0])
	if err != nil {
		r.T.Fatal(err)
	}
	return r.Put(page, prev.Title, body, heads[0])
}

func (r *replica) heads() []cid.Cid {
	r.T.Helper()
	hs, err := r.Store.HeadSet(context.Background())
	if err != nil {
		r.T.Fatal(err)
	}
	return hs
}

func (r *replica) revisions() int {
	r.T.Helper()
	st, err := r.Store.Stats(context.Background())
	if err != nil {
		r.T.Fatal(err)
	}
	return st.Revisions
}

// blockBytes is the size of every block a full sync of the replica sends,
// whole.
func (r *replica) blockBytes() int64 {
	r.T.Helper()
	ctx := context.Background()
	plan, err := r.Store.PlanSync(ctx, nil)
	if err != nil {
		r.T.Fatal(err)
	}
	var n int64
	if err := r.Store.SendPlan(ctx, plan, func(b history.Block) error { n += int64(len(b.Data)); return nil }); err != nil {
		r.T.Fatal(err)
	}
	return n
}

func (r *replica) blocks() int {
	r.T.Helper()
	st, err := r.Store.Stats(context.Background())
	if err != nil {
		r.T.Fatal(err)
	}
	return st.Blocks
}

var loopback = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}

// startNode runs a node on 127.0.0.1 for the replica; change edits the
// config first.
func startNode(t *testing.T, r *replica, change func(*Config)) *Node {
	t.Helper()
	cfg := Config{Store: r.Store, Identity: r.ID, Listen: loopback}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", r.ID.ID.String()[len(r.ID.ID.String())-6:])
	}
	if change != nil {
		change(&cfg)
	}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func info(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }

func connectNodes(t *testing.T, a *Node, b *Node) {
	t.Helper()
	if err := a.Connect(context.Background(), info(b.Host())); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sameReplicas fails t unless a and b hold the same heads and as many
// blocks.
func sameReplicas(t *testing.T, a, b *replica) {
	t.Helper()
	ctx := context.Background()
	h1, _ := a.Store.HeadSet(ctx)
	h2, _ := b.Store.HeadSet(ctx)
	if !slices.Equal(h1, h2) {
		t.Fatal("heads differ")
	}
	if x, y := a.blocks(), b.blocks(); x != y {
		t.Fatalf("%d blocks there, %d here", x, y)
	}
}

func sameHeads(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equals(b[i]) {
			return false
		}
	}
	return true
}

// syncStream connects h to nd and opens a sync stream, framed until d
// from now; the stream is reset at the test's end.
func syncStream(t *testing.T, h host.Host, nd *Node, d time.Duration) *frameConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := h.Connect(ctx, info(nd.Host())); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, nd.ID(), SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	return newFrameConn(s, time.Now().Add(d), nil)
}
