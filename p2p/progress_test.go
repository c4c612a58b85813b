package p2p

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The progress rule on a clock of the test's: a slow honest link keeps
// going, a trickle is cut off at the end of its window, and time this
// node spends computing is not the peer's.
func TestProgressRule(t *testing.T) {
	rule := defaultProgress
	type step struct {
		wait    time.Duration // blocked on the peer
		bytes   int           // moved in the wait
		compute time.Duration // then busy here
	}
	repeat := func(n int, s step) []step {
		out := make([]step, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	cases := []struct {
		name  string
		steps []step
		cutAt int // index of the step that is cut off; -1 none
	}{
		{"a 2 KiB/s link for ten minutes", repeat(6000, step{wait: 100 * time.Millisecond, bytes: 200}), -1},
		{"a block every 10 s", repeat(10, step{wait: 10 * time.Second, bytes: 300}), 1},
		{"a frame of heads every 5 s", repeat(10, step{wait: 5 * time.Second, bytes: 40}), 3},
		{"long planning between quick bursts", repeat(20, step{wait: 50 * time.Millisecond, bytes: 64 << 10, compute: 30 * time.Second}), -1},
		{"long planning between slow trickles", repeat(20, step{wait: 2 * time.Second, bytes: 100, compute: 30 * time.Second}), 9},
		{"a pause under the frame timeout, then data", []step{{wait: 14 * time.Second, bytes: 10}, {wait: time.Second, bytes: 1 << 20}, {wait: 14 * time.Second, bytes: 10}, {wait: time.Second, bytes: 1 << 20}}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newProgressMeter(rule)
			now := time.Unix(1_700_000_000, 0)
			for i, s := range c.steps {
				limit := m.begin(now)
				d := s.wait
				if now.Add(d).After(limit) {
					d = limit.Sub(now) // the deadline ends the wait
				}
				now = now.Add(d)
				err := m.end(now, s.bytes, nil)
				if cut := errors.Is(err, errTooSlow); cut != (i == c.cutAt) {
					t.Fatalf("step %d: err %v, want a cut-off only at step %d", i, err, c.cutAt)
				}
				if err != nil {
					return
				}
				now = now.Add(s.compute)
			}
			if c.cutAt >= 0 {
				t.Fatalf("never cut off, want at step %d", c.cutAt)
			}
		})
	}
}

// When every slot is taken, the sync stalled longest gives its slot up,
// and only one stalled at least evictAfter.
func TestStalledLongest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	rule := progressRule{window: 20 * time.Second, minBytes: 32 << 10, evictAfter: 5 * time.Second}
	sync := func(waited time.Duration, waiting bool) *inboundSync {
		m := newProgressMeter(rule)
		m.waited = waited
		if waiting {
			m.since = now.Add(-time.Second)
		}
		return &inboundSync{meter: m}
	}
	ids := []peer.ID{"a", "b", "c"}
	cases := []struct {
		name string
		in   []*inboundSync
		want peer.ID // "" for none
	}{
		{"all moving", []*inboundSync{sync(0, false), sync(time.Second, true), sync(3*time.Second, false)}, ""},
		{"one stalled", []*inboundSync{sync(0, false), sync(6*time.Second, false), sync(time.Second, true)}, "b"},
		{"the longest of three", []*inboundSync{sync(7*time.Second, false), sync(6*time.Second, false), sync(6500*time.Millisecond, true)}, "c"},
		{"a wait under way counts", []*inboundSync{sync(0, false), sync(4500*time.Millisecond, true), sync(0, false)}, "b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := map[peer.ID]*inboundSync{}
			for i, s := range c.in {
				in[ids[i]] = s
			}
			got, ok := stalledLongest(in, now, rule.evictAfter)
			if ok != (c.want != "") || got != c.want {
				t.Fatalf("stalledLongest = %q, %v; want %q", got, ok, c.want)
			}
		})
	}
}
