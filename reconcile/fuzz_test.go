package reconcile

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// sessionMessages returns every message of an honest session between two
// sets, in order: seeds that reach deep into the decoder and Reply.
func sessionMessages(t testing.TB, a, b []Key) [][]byte {
	t.Helper()
	in, msg, err := NewInitiator(NewMemSet(slices.Clone(a)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := NewResponder(NewMemSet(slices.Clone(b)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for turn := 0; msg != nil; turn++ {
		out = append(out, msg)
		var st Step
		if turn%2 == 0 {
			st, err = resp.Reply(msg)
		} else {
			st, err = in.Reply(msg)
		}
		if err != nil {
			t.Fatal(err)
		}
		msg = st.Msg
	}
	return out
}

// fuzzSets are the sets FuzzReply's sides hold: the initiator's first
// message is a fingerprint (big) or a list (small).
var (
	fuzzBig   = keys(0, 2000)
	fuzzSmall = keys(0, 100)
)

func fuzzSeeds(f *testing.F) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, pair := range [][2][]Key{
		{fuzzBig, fuzzBig},
		{fuzzBig, keys(10, 2010)},
		{fuzzBig, nil},
		{fuzzSmall, keys(50, 150)},
		{fuzzSmall, keys(0, 3000)},
	} {
		for _, m := range sessionMessages(f, pair[0], pair[1]) {
			f.Add(m)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{Version})
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	f.Add(b)
}

// FuzzDecode checks that the decoder never panics or reads out of bounds,
// and that whatever it accepts is canonical: encoding the pieces again
// gives the same bytes.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := reader{b: msg}
		var again []byte
		for r.rest() > 0 {
			p, err := r.piece()
			if err != nil {
				return
			}
			var hi *Key
			if p.bounded {
				hi = &p.hi
			}
			again = appendHeader(again, p.mode, hi)
			switch p.mode {
			case modeFingerprint:
				again = append(again, p.fp[:]...)
			case modeIdList, modeAnswer:
				again = binary.AppendUvarint(again, uint64(p.ids.count()))
				again = append(again, p.ids...)
				if p.mode == modeAnswer {
					again = binary.AppendUvarint(again, uint64(p.nbits))
					again = append(again, p.bits...)
				}
			}
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("decoded and encoded again:\n%x\nis not\n%x", again, msg)
		}
	})
}

// FuzzReply feeds arbitrary bytes to a responder's first Reply and to an
// initiator's, and then, when they are accepted, the rest of the seed's
// session: no input may panic, and whatever is accepted must give a
// message within the frame and reports that keep to the side's own set.
func FuzzReply(f *testing.F) {
	fuzzSeeds(f)
	big, small := NewMemSet(slices.Clone(fuzzBig)), NewMemSet(slices.Clone(fuzzSmall))
	f.Fuzz(func(t *testing.T, msg []byte) {
		check := func(set *MemSet, st Step, err error) {
			if err != nil {
				return
			}
			if len(st.Msg) > DefaultFrameSize {
				t.Fatalf("a message of %d bytes", len(st.Msg))
			}
			for _, k := range st.Have {
				if i, _ := set.Search(k); i == set.Len() || set.keys[i] != k {
					t.Fatal("a key reported as ours that we do not hold")
				}
			}
			for _, k := range st.Need {
				if i, _ := set.Search(k); i < set.Len() && set.keys[i] == k {
					t.Fatal("a key reported as needed that we hold")
				}
			}
		}
		r, err := NewResponder(big, Config{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := r.Reply(msg)
		check(big, st, err)
		for _, set := range []*MemSet{big, small} {
			in, _, err := NewInitiator(set, Config{})
			if err != nil {
				t.Fatal(err)
			}
			st, err := in.Reply(msg)
			check(set, st, err)
			if err == nil && st.Msg != nil {
				// The initiator's answer back at it: a peer that echoes.
				st, err = in.Reply(st.Msg)
				check(set, st, err)
			}
		}
	})
}
