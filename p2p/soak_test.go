package p2p

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// The long versions of the rogue-member tests, with figures for
// BENCHMARKS.md: run by scripts/soak-hostile.sh (PEERWIKI_SOAK=1).
func soak(t *testing.T) {
	if os.Getenv("PEERWIKI_SOAK") == "" {
		t.Skip("a soak: scripts/soak-hostile.sh runs it")
	}
}

// honestWiki is a real wiki repo (its store recomputes automatic merges
// as wiki does) run as a node, and a member's replica of the same wiki.
func honestWiki(t *testing.T) (*wiki.Repo, *replica) {
	t.Helper()
	r := wikitest.NewRepo(t, "honest")
	evilID, err := history.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	evil := &replica{&historytest.Builder{T: t, Store: wikitest.Store(r), ID: evilID, Clock: time.Now().UnixMilli()}}
	return r, evil
}

func bigText(rng *rand.Rand, size int) string {
	var sb strings.Builder
	for sb.Len() < size {
		fmt.Fprintf(&sb, "line %d of a large page: %d\n", rng.Intn(1<<30), rng.Intn(1<<30))
	}
	return sb.String()
}

// writeLatencies makes local pages every 50 ms until stop and returns the
// slowest write.
func writeLatencies(r *wiki.Repo, stop <-chan struct{}) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() {
		var worst time.Duration
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				out <- worst
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			if _, err := r.Create(context.Background(), fmt.Sprintf("Local %d", i), "typed now\n", ""); err == nil {
				worst = max(worst, time.Since(start))
			}
		}
		out <- worst
	}()
	return out
}

// A forged automatic merge of two 35 MB parents: how long the sync takes
// and how long local writes wait meanwhile (once 2.5-8 s a push, and a
// local new 11-13 s).
func TestSoakForgedMergeOfLargeParents(t *testing.T) {
	soak(t)
	r, evil := honestWiki(t)
	rng := rand.New(rand.NewSource(1))
	now := time.Now().UnixMilli()
	genesis := evil.signedRevision(cid.Undef, nil, 1, now, "Big", "base\n")
	page := genesis[len(genesis)-1].Cid
	a := evil.signedRevision(page, []cid.Cid{page}, 2, now+1, "Big", bigText(rng, 35<<20))
	b := evil.signedRevision(page, []cid.Cid{page}, 2, now+1, "Big", bigText(rng, 35<<20))
	parents := append(append(append([]history.Block{}, genesis...), a...), b...)
	bodies, _ := history.BodyBlocks("forged\n")
	m := &history.Revision{Wiki: r.Config.Wiki, Page: &history.Link{Cid: page}, Title: "Big", Body: history.Link{Cid: bodies[0].Cid}, Policy: "merge", Time: now + 1, Height: 3}
	m.SetParents([]cid.Cid{a[len(a)-1].Cid, b[len(b)-1].Cid})
	mb, _ := m.Block()
	forged := append(bodies, mb)

	honest := &replica{&historytest.Builder{T: t, Store: wikitest.Store(r), ID: r.ID}}
	nh := startNode(t, honest, nil)
	for i, blocks := range [][]history.Block{parents, forged} {
		_, took, worst, err := syncFromRogueWhileWriting(t, nh, r, blocks)
		t.Logf("sync %d (%s): %s, err %v; slowest local write meanwhile %s", i+1, map[int]string{0: "two 35 MB parents", 1: "a forged merge of them"}[i], took.Round(time.Millisecond), err, worst.Round(time.Millisecond))
	}
}

// syncFromRogueWhileWriting runs a sync of nh with a hostile host that
// answers with blocks, while r makes local pages, and says how long the
// sync took and the slowest local write meanwhile.
func syncFromRogueWhileWriting(t *testing.T, nh *Node, r *wiki.Repo, blocks []history.Block) (res SyncResult, took, worst time.Duration, err error) {
	t.Helper()
	hostile := newHostile(t)
	answerWith(hostile, blocks)
	if err := nh.Connect(context.Background(), info(hostile)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	latencies := writeLatencies(r, stop)
	start := time.Now()
	res, err = nh.SyncPeer(context.Background(), hostile.ID())
	took = time.Since(start)
	close(stop)
	return res, took, <-latencies, err
}

// 20,000 heads pushed at one page in one sync: how long it takes, what
// is stored, and what reading the page costs after.
func TestSoakHeadFlood(t *testing.T) {
	soak(t)
	r, evil := honestWiki(t)
	now := time.Now().UnixMilli()
	blocks := evil.signedRevision(cid.Undef, nil, 1, now, "Flooded", "x\n")
	page := blocks[len(blocks)-1].Cid
	for i := range 20_000 {
		blocks = append(blocks, evil.signedRevision(page, []cid.Cid{page}, 2, now+1, "Flooded", fmt.Sprintf("spam %d\n", i))...)
	}
	honest := &replica{&historytest.Builder{T: t, Store: wikitest.Store(r), ID: r.ID}}
	nh := startNode(t, honest, nil)
	res, took, worst, err := syncFromRogueWhileWriting(t, nh, r, blocks)
	row, _ := r.Page(context.Background(), page)
	t.Logf("20,000 heads: sync %s (err %v), %d revisions stored, %d deferred, page has %d heads; slowest local write meanwhile %s",
		took.Round(time.Millisecond), err, res.Received, res.Deferred, row.Heads, worst.Round(time.Millisecond))
	start := time.Now()
	if _, err := r.View(context.Background(), row); err != nil {
		t.Fatal(err)
	}
	viewed := time.Since(start)
	start = time.Now()
	if _, err := r.Conflicts(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("show of the page %s, conflicts %s", viewed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
