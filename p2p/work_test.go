package p2p

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"peerwiki/reconcile"
)

func TestWorkBudget(t *testing.T) {
	w := newWorkBudget(workShare{burst: 1000, rate: 100})
	now := time.Unix(1_700_000_000, 0)
	if ok, _, _ := w.allow("a", now); !ok {
		t.Fatal("a new peer is refused")
	}
	// A sync of any size goes through once, into debt.
	w.charge("a", 5000, now)
	ok, wait, first := w.allow("a", now)
	if ok || !first || wait < 40*time.Second || wait > 41*time.Second {
		t.Fatalf("in debt of 4000 at 100/s: allow = %v, wait %s, first %v; want refused for 40 s, first", ok, wait, first)
	}
	if _, _, first := w.allow("a", now.Add(time.Second)); first {
		t.Fatal("a second refusal in a row is reported as the first")
	}
	if ok, _, _ := w.allow("b", now); !ok {
		t.Fatal("another peer pays for a's debt")
	}
	if ok, _, _ := w.allow("a", now.Add(41*time.Second)); !ok {
		t.Fatal("still refused once the debt is paid")
	}
	w.charge("a", 1, now.Add(41*time.Second))
	if ok, _, first := w.allow("a", now.Add(90*time.Second)); !ok || first {
		t.Fatal("the bucket does not refill")
	}
	w.forgetFull(now.Add(time.Hour))
	if len(w.peers) != 0 {
		t.Fatalf("%d full buckets kept", len(w.peers))
	}
}

func TestLookups(t *testing.T) {
	hs := syntheticHeads(6)
	reversed := []cid.Cid{hs[5], hs[4], hs[3]}
	cases := []struct {
		name         string
		theirs, ours []cid.Cid
		want         int
	}{
		{"same", hs, hs, 0},
		{"none of ours", hs[:3], hs[3:], 3},
		{"some of ours", hs, hs[2:4], 4},
		{"we have none", hs[:2], nil, 2},
		{"they have none", nil, hs, 0},
		{"out of order pays for all but the first", reversed, hs, 2},
	}
	for _, c := range cases {
		if got := lookups(c.theirs, c.ours); got != c.want {
			t.Errorf("%s: %d lookups, want %d", c.name, got, c.want)
		}
	}
}

// syncLog is a node's log, kept for a test to read.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// A peer that keeps sending HELLOs of 100,000 random heads gets the first
// planned (1.5-2.5 s of database look-ups), and then "busy, slow down"
// answers that cost next to nothing: not banned, logged once.
func TestRandomHeadsAreRateLimited(t *testing.T) {
	honest := newReplica(t)
	honest.addHistory(3, 1, "Honest")
	log := &syncLog{}
	nh := startNode(t, honest, func(cfg *Config) {
		cfg.work = workShare{burst: 50_000, rate: 10}
		cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	})
	attacker := newHostile(t)
	heads := syntheticHeads(100_000)
	set := reconcile.NewMemSet(syntheticKeys(heads))
	ask := func() (first byte, payload string) {
		t.Helper()
		// One sync per peer: the last one's reset must have reached the
		// node, or this one is told "try again later" before its HELLO
		// is read (and a 3.8 MB HELLO then waits on flow control).
		waitFor(t, 10*time.Second, "the peer's last sync to end", func() bool {
			nh.mu.Lock()
			defer nh.mu.Unlock()
			return nh.inbound[attacker.ID()] == nil
		})
		fc := syncStream(t, attacker, nh, 15*time.Second)
		defer fc.s.(network.Stream).Reset()
		in, msg1, err := reconcile.NewInitiator(set, reconcile.Config{FrameSize: reconFrame})
		if err != nil {
			t.Fatal(err)
		}
		if err := fc.writeCBOR(frameHello, helloMsg{V: protoVersion, Wiki: historyWiki(), R: msg1}); err != nil {
			t.Fatal(err)
		}
		if err := fc.flush(); err != nil {
			t.Fatal(err)
		}
		ft, p, err := fc.read()
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if ft != frameRecon {
			return ft, string(p)
		}
		// Reconciled, every one of the heads is new to the node, which
		// plans for them all.
		if _, _, err := (&Node{}).reconcileWith(fc, in, set.Len(), p); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		err = fc.writeHeadSet(heads, func(total int, first [][]byte) error {
			return fc.writeCBOR(frameDiff, diffMsg{N: total, Heads: first})
		})
		if err != nil || fc.flush() != nil {
			t.Fatalf("send the DIFF: %v", err)
		}
		if ft, p, err = fc.read(); err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return ft, string(p)
	}
	if ft, p := ask(); ft == frameError {
		t.Fatalf("the first HELLO was refused: %s", p)
	}
	for range 3 {
		ft, p := ask()
		if ft != frameError || !strings.HasPrefix(p, "busy: slow down") {
			t.Fatalf("a HELLO past the peer's share: frame %d %q, want busy", ft, p)
		}
	}
	if nh.Stats().Rejected != 0 || nh.bans.banned(attacker.ID()) {
		t.Fatal("the peer was banned")
	}
	if n := log.count("more work than its share"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, log.buf.String())
	}
}
