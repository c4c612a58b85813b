package reconcile

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// outcome is what a whole session taught both sides.
type outcome struct {
	initHave, initNeed []Key // the initiator's reports
	respHave, respNeed []Key // the responder's
	init, resp         Stats
	messages           int // both ways
	largest            int // the largest message
}

// run reconciles a (the initiator) with b (the responder) through their
// messages, failing the test on any error.
func run(t testing.TB, a, b Set, cfg Config) outcome {
	t.Helper()
	o, err := tryRun(a, b, cfg)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return o
}

func tryRun(a, b Set, cfg Config) (outcome, error) {
	var o outcome
	in, msg, err := NewInitiator(a, cfg)
	if err != nil {
		return o, err
	}
	resp, err := NewResponder(b, Config{FrameSize: cfg.FrameSize})
	if err != nil {
		return o, err
	}
	o.messages = 1
	frame := min(max(cfg.FrameSize, MinFrameSize), MaxFrameSize)
	if cfg.FrameSize == 0 {
		frame = DefaultFrameSize
	}
	for turn := 0; msg != nil; turn++ {
		if len(msg) > frame {
			return o, errorString("a message over the frame limit")
		}
		o.largest = max(o.largest, len(msg))
		var st Step
		if turn%2 == 0 {
			st, err = resp.Reply(msg)
			o.respHave = append(o.respHave, st.Have...)
			o.respNeed = append(o.respNeed, st.Need...)
		} else {
			st, err = in.Reply(msg)
			o.initHave = append(o.initHave, st.Have...)
			o.initNeed = append(o.initNeed, st.Need...)
		}
		if err != nil {
			return o, err
		}
		msg = st.Msg
		if msg != nil {
			o.messages++
		}
	}
	if !in.Done() || !resp.Done() {
		return o, errorString("the messages stopped before both sides were done")
	}
	o.init, o.resp = in.Stats(), resp.Stats()
	return o, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// minus returns the keys of a not in b, sorted.
func minus(a, b []Key) []Key {
	in := make(map[Key]bool, len(b))
	for _, k := range b {
		in[k] = true
	}
	var out []Key
	for _, k := range a {
		if !in[k] {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, Key.Compare)
	return slices.Compact(out)
}

// checkExact checks that both sides learnt exactly the difference of a
// and b, each key once.
func checkExact(t testing.TB, a, b []Key, o outcome) {
	t.Helper()
	aOnly, bOnly := minus(a, b), minus(b, a)
	for _, c := range []struct {
		what string
		got  []Key
		want []Key
	}{
		{"initiator's have", o.initHave, aOnly},
		{"responder's need", o.respNeed, aOnly},
		{"initiator's need", o.initNeed, bOnly},
		{"responder's have", o.respHave, bOnly},
	} {
		got := slices.Clone(c.got)
		slices.SortFunc(got, Key.Compare)
		if len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("%s reports a key twice", c.what)
		}
		if !slices.Equal(got, c.want) {
			t.Fatalf("%s: %d keys, want %d (%d missing, %d extra)", c.what, len(got), len(c.want), len(minus(c.want, got)), len(minus(got, c.want)))
		}
	}
}

// split makes two sets from common keys plus onlyA and onlyB keys of
// their own, drawn from rng.
func split(rng *rand.Rand, common, onlyA, onlyB int) (a, b []Key) {
	seen := map[uint64]bool{}
	draw := func() Key {
		for {
			n := rng.Uint64()
			if !seen[n] {
				seen[n] = true
				return key(n)
			}
		}
	}
	for range common {
		k := draw()
		a, b = append(a, k), append(b, k)
	}
	for range onlyA {
		a = append(a, draw())
	}
	for range onlyB {
		b = append(b, draw())
	}
	return a, b
}

// reconcileKeys builds both sets (from copies) and reconciles them.
func reconcileKeys(t testing.TB, a, b []Key, cfg Config) outcome {
	t.Helper()
	o := run(t, NewMemSet(slices.Clone(a)), NewMemSet(slices.Clone(b)), cfg)
	checkExact(t, a, b, o)
	if o.init.Messages > o.init.MaxMessages || o.resp.Messages > o.resp.MaxMessages {
		t.Fatalf("messages over the bound: %+v %+v", o.init, o.resp)
	}
	return o
}
