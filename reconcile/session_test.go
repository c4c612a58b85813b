package reconcile

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestReconcileTable(t *testing.T) {
	const n = 5000
	all := NewMemSet(keys(0, n)).keys // in key order: "start" and "end" are the ends of the key space
	except := func(drop ...int) []Key {
		var out []Key
		for i, k := range all {
			if !slices.Contains(drop, i) {
				out = append(out, k)
			}
		}
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))
	manyA, manyB := split(rng, 4000, 37, 23)
	fewA, fewB := split(rng, 100, 3, 5)
	for _, c := range []struct {
		name     string
		a, b     []Key
		messages int // both ways; 0: not checked
	}{
		{"both empty", nil, nil, 2},
		{"equal", all, all, 2},
		{"equal, small", all[:10], all[:10], 2},
		{"initiator empty", nil, all, 2},
		{"responder empty", all, nil, 3},
		{"initiator empty, small", nil, all[:100], 2},
		{"responder empty, small", all[:100], nil, 2},
		{"disjoint", all[:2500], all[2500:], 0},
		{"disjoint, small", all[:100], all[100:200], 2},
		{"one item each, different", all[:1], all[1:2], 2},
		{"one missing at the start", except(0), all, 0},
		{"one missing in the middle", all, except(n / 2), 0},
		{"one missing at the end", except(n - 1), all, 0},
		{"one extra at the end", all, except(n - 1), 0},
		{"one missing on each side", except(7), except(4000), 0},
		{"one missing on each side, next to each other", except(2000), except(2001), 0},
		{"random differences", manyA, manyB, 0},
		{"random differences, small", fewA, fewB, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := reconcileKeys(t, c.a, c.b, Config{})
			if c.messages != 0 && o.messages != c.messages {
				t.Fatalf("%d messages; want %d", o.messages, c.messages)
			}
			t.Logf("%d messages, %d + %d bytes", o.messages, o.init.Sent, o.resp.Sent)
		})
	}
}

// TestEqualSetsCostOneFingerprint checks the no-op sync: whatever the
// size, one fingerprint goes out and "equal" comes back.
func TestEqualSetsCostOneFingerprint(t *testing.T) {
	for _, n := range []uint64{SmallSet + 1, 10_000, 100_000} {
		set := NewMemSet(keys(0, n))
		o := run(t, set, set, Config{})
		if o.messages != 2 || o.init.Sent+o.resp.Sent > 64 {
			t.Fatalf("%d items: %d messages, %d bytes; want 2 messages of at most 64 bytes in all", n, o.messages, o.init.Sent+o.resp.Sent)
		}
	}
}

// TestSaltChangesFingerprints checks that the salt keys the fingerprints
// and that sides with different salts of their own still agree (the
// responder takes the initiator's).
func TestSaltChangesFingerprints(t *testing.T) {
	set := NewMemSet(keys(0, 1000))
	s, _ := set.Sum(0, set.Len())
	a, b := [SaltSize]byte{1}, [SaltSize]byte{2}
	if fingerprint(&a, s, set.Len()) == fingerprint(&b, s, set.Len()) {
		t.Fatal("two salts give the same fingerprint")
	}
	in, msg, err := NewInitiator(set, Config{Salt: a})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewResponder(set, Config{Salt: b})
	st, err := r.Reply(msg)
	if err != nil || !st.Done {
		t.Fatalf("responder: %+v, %v; want done (equal sets)", st, err)
	}
	if st, err := in.Reply(st.Msg); err != nil || !st.Done || st.Msg != nil {
		t.Fatalf("initiator: %+v, %v; want done with nothing to send", st, err)
	}
}

// TestFrameAgreed checks that both sides use the smaller frame limit.
func TestFrameAgreed(t *testing.T) {
	a, b := split(rand.New(rand.NewPCG(9, 9)), 0, 20_000, 20_000)
	sa, sb := NewMemSet(a), NewMemSet(b)
	for _, f := range [][2]int{{MinFrameSize, DefaultFrameSize}, {DefaultFrameSize, MinFrameSize}} {
		in, msg, err := NewInitiator(sa, Config{FrameSize: f[0]})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := NewResponder(sb, Config{FrameSize: f[1]})
		for turn := 0; msg != nil; turn++ {
			if len(msg) > MinFrameSize {
				t.Fatalf("frames %v: a message of %d bytes", f, len(msg))
			}
			var st Step
			if turn%2 == 0 {
				st, err = r.Reply(msg)
			} else {
				st, err = in.Reply(msg)
			}
			if err != nil {
				t.Fatalf("frames %v: %v", f, err)
			}
			msg = st.Msg
		}
	}
}
