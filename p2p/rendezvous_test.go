package p2p

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// The rendezvous key is a raw sha2-256 CID, the same for every member on
// a day, and different with another day, another secret (a removal) or
// another wiki; over many inputs no two keys collide and none shares more
// than chance with the bytes it was made from.
func TestRendezvousKeyRotatesAndRevealsNothing(t *testing.T) {
	day := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	secret := bytes.Repeat([]byte{7}, 32)
	k := RendezvousKey("wiki-a", secret, day)
	if k.Prefix().Codec != cid.Raw || k.Prefix().MhType != mh.SHA2_256 || k.Version() != 1 {
		t.Fatalf("key %s: want a raw sha2-256 CIDv1", k)
	}
	// The same UTC day, wherever the clock's zone: one key.
	tokyo := day.In(time.FixedZone("JST", 9*3600))
	if !RendezvousKey("wiki-a", secret, tokyo).Equals(k) || !RendezvousKey("wiki-a", secret, day.Add(11*time.Hour+59*time.Minute)).Equals(k) {
		t.Fatal("the key changes within a UTC day")
	}
	seen := map[string]string{k.KeyString(): "base"}
	add := func(what string, c cid.Cid) {
		t.Helper()
		if prev, ok := seen[c.KeyString()]; ok {
			t.Fatalf("%s gives the same key as %s", what, prev)
		}
		seen[c.KeyString()] = what
	}
	for d := 1; d <= 400; d++ {
		add(fmt.Sprintf("day +%d", d), RendezvousKey("wiki-a", secret, day.AddDate(0, 0, d)))
	}
	for i := range 200 {
		s := append([]byte{}, secret...)
		s[i%32] ^= byte(1 + i/32)
		add(fmt.Sprintf("secret %d", i), RendezvousKey("wiki-a", s, day))
		add(fmt.Sprintf("wiki %d", i), RendezvousKey(fmt.Sprintf("wiki-%d", i), secret, day))
	}
	// Length prefixes: moving bytes between the wiki id and the secret
	// is another key.
	add("shifted", RendezvousKey("wiki-a\x07", secret[1:], day))
	// Nothing of the inputs shows: the digest shares about 1/256 of its
	// bytes, position for position, with the secret and with the next
	// day's digest.
	same, total := 0, 0
	for d := range 400 {
		a := digestOf(t, RendezvousKey("wiki-a", secret, day.AddDate(0, 0, d)))
		b := digestOf(t, RendezvousKey("wiki-a", secret, day.AddDate(0, 0, d+1)))
		for i := range a {
			total += 2
			if a[i] == b[i] {
				same++
			}
			if a[i] == secret[i] {
				same++
			}
		}
	}
	if frac := float64(same) / float64(total); frac > 0.01 {
		t.Fatalf("%.3f of digest bytes equal their input's: the key shows what it was made of", frac)
	}
}

func digestOf(t *testing.T, c cid.Cid) []byte {
	t.Helper()
	d, err := mh.Decode(c.Hash())
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// Around midnight UTC a node also looks up yesterday's key and provides
// tomorrow's; the rest of the day, today's alone.
func TestRendezvousKeysAroundMidnight(t *testing.T) {
	secret := []byte("s")
	at := func(h, m int) time.Time { return time.Date(2026, 12, 6, h, m, 0, 0, time.UTC) }
	key := func(d int) cid.Cid { return RendezvousKey("w", secret, at(12, 0).AddDate(0, 0, d)) }
	for _, tc := range []struct {
		at              time.Time
		provide, lookup []cid.Cid
	}{
		{at(12, 0), []cid.Cid{key(0)}, []cid.Cid{key(0)}},
		{at(0, 10), []cid.Cid{key(0)}, []cid.Cid{key(0), key(-1)}},
		{at(1, 0), []cid.Cid{key(0)}, []cid.Cid{key(0)}},
		{at(23, 30), []cid.Cid{key(0), key(1)}, []cid.Cid{key(0)}},
	} {
		p, l := rendezvousKeys("w", secret, tc.at)
		if !sameCids(p, tc.provide) || !sameCids(l, tc.lookup) {
			t.Errorf("at %s: provide %v lookup %v, want %v and %v", tc.at.Format("15:04"), p, l, tc.provide, tc.lookup)
		}
	}
}
