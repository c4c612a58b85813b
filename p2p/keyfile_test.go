package p2p

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

// A key set saved and read back is the same set: every key with its
// head, the same sums and the state it was read in; a damaged, cut or
// foreign file is refused.
func TestKeySetFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, b, _ := sharedReplicas(t, 300)
	ks, err := pipeNode(b).localKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := b.heads()[0]
	whole := time.Unix(1_800_000_000, 0)
	data := (&savedKeys{ks: ks, instance: "0123abcd", lastRev: last, gen: 3, whole: whole}).encode()
	sk, err := decodeSavedKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	if sk.instance != "0123abcd" || !sk.lastRev.Equals(last) || sk.gen != 3 || !sk.whole.Equal(whole) {
		t.Fatalf("read back instance %q, last revision %s, generation %d", sk.instance, sk.lastRev, sk.gen)
	}
	got := sk.ks
	if got.state() != ks.state() || got.Len() != ks.Len() {
		t.Fatalf("state %+v, %d keys; saved %+v, %d keys", got.state(), got.Len(), ks.state(), ks.Len())
	}
	for i := 0; i < ks.Len(); i += 37 {
		for _, j := range []int{i + 1, ks.Len()} {
			s1, _ := ks.Sum(i, min(j, ks.Len()))
			s2, _ := got.Sum(i, min(j, ks.Len()))
			if s1 != s2 {
				t.Fatalf("sum of [%d, %d) differs", i, j)
			}
		}
	}
	var k1, k2 []keyEntry
	for _, c := range ks.chunks {
		k1 = append(k1, c.ents...)
	}
	for _, c := range got.chunks {
		k2 = append(k2, c.ents...)
	}
	if !slices.EqualFunc(k1, k2, func(a, b keyEntry) bool { return a.rev == b.rev && a.page == b.page && a.head.Equals(b.head) }) {
		t.Fatal("the heads differ")
	}
	for name, bad := range map[string][]byte{
		"empty":      nil,
		"cut":        data[:len(data)/2],
		"one byte":   append(append([]byte{}, data[:len(data)/2]...), append([]byte{data[len(data)/2] ^ 1}, data[len(data)/2+1:]...)...),
		"other kind": append([]byte("peerwiki keys 9\n"), data[len(keysMagic):]...),
	} {
		if _, err := decodeSavedKeys(bad); !errors.Is(err, errBadKeysFile) {
			t.Errorf("%s file: %v", name, err)
		}
	}
}

// A node leaves its key set beside the store as it closes, and the next
// process's sync starts from it, reading only the pages changed since
// (from the other side, or written here meanwhile): no full read of the
// heads, and the replicas converge. A file that no longer fits the store
// (another replica's, or damaged) costs the full read, and nothing else.
func TestSavedKeySetSparesTheFullRead(t *testing.T) {
	ctx := context.Background()
	a, b, ids := sharedReplicas(t, 300)
	edit := func(r *replica, i int, body string) {
		t.Helper()
		hs, err := r.Store.Heads(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		r.Put(ids[i], "Shared", body, hs...)
	}
	syncB := func(want int) *Node {
		t.Helper()
		nb := pipeNode(b)
		s := runPipeSyncOf(t, b, a, nb, pipeNode(a))
		if s.askErr != nil || s.answerErr != nil {
			t.Fatalf("sync: %v, %v", s.askErr, s.answerErr)
		}
		if !sameHeads(a.heads(), b.heads()) {
			t.Fatal("the replicas differ after the sync")
		}
		if nb.fullKeyReads != want {
			t.Fatalf("%d full reads of the heads, want %d", nb.fullKeyReads, want)
		}
		nb.saveKeys() // as Close does
		return nb
	}
	path := pipeNode(b).keysPath()

	edit(a, 7, "an edit on a\n")
	syncB(1) // no file yet
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no key set saved: %v", err)
	}
	edit(a, 8, "another edit on a\n")
	syncB(0)
	// Written here since the file (a local edit), and there.
	edit(b, 9, "an edit on b\n")
	edit(a, 10, "and one on a\n")
	syncB(0)

	// Another replica's set: its state is not this store's.
	c := newReplica(t)
	c.addHistory(50, 1, "Other")
	if err := pipeNode(c).saveKeysOf(t); err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(pipeNode(c).keysPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	edit(a, 11, "after a foreign file\n")
	syncB(1)
	// Damaged.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0x40
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	edit(a, 12, "after a damaged file\n")
	syncB(1)
	syncB(0) // nothing new: the file again
	edit(a, 13, "one more\n")
	syncB(0)

	// Carried on by enough processes, or long enough after it was read
	// whole: read whole again, once.
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := decodeSavedKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	if sk.gen != 1 {
		t.Fatalf("generation %d after one process carried the set on", sk.gen)
	}
	sk.gen = maxKeyGenerations - 1
	if err := os.WriteFile(path, sk.encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	syncB(1)
	syncB(0)
	edit(a, 14, "and another\n")
	syncB(0)
	if data, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if sk, err = decodeSavedKeys(data); err != nil {
		t.Fatal(err)
	}
	sk.whole = time.Now().Add(-maxKeyAge - time.Minute)
	if err := os.WriteFile(path, sk.encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	syncB(1)
}

// saveKeysOf reads the node's keys and saves them, for tests.
func (n *Node) saveKeysOf(t *testing.T) error {
	t.Helper()
	if _, err := n.localKeys(context.Background()); err != nil {
		return err
	}
	n.saveKeys()
	if _, err := os.Stat(n.keysPath()); err != nil {
		return err
	}
	return nil
}

// A node that stored many revisions since it read its keys (a join, a
// large sync) saves none as it closes: bringing them up to date would be
// a full read of the heads, at the end of the very command that made it
// needless; the next process that needs them reads them.
func TestNoKeySetSavedAfterALargeChange(t *testing.T) {
	ctx := context.Background()
	defer func(old int) { saveChangedPages = old }(saveChangedPages)
	saveChangedPages = 5
	a, b, _ := sharedReplicas(t, 30)
	nb := pipeNode(b)
	if _, err := nb.localKeys(ctx); err != nil {
		t.Fatal(err)
	}
	a.addHistory(10, 1, "More")
	if s := runPipeSyncOf(t, b, a, nb, pipeNode(a)); s.askErr != nil || s.answerErr != nil || s.asked.Received != 10 {
		t.Fatalf("%+v", s)
	}
	reads := nb.fullKeyReads
	nb.saveKeys()
	if _, err := os.Stat(nb.keysPath()); !os.IsNotExist(err) {
		t.Fatalf("a key set was saved after 10 new revisions (bound 5): %v", err)
	}
	if nb.fullKeyReads != reads {
		t.Fatal("closing read the heads whole")
	}
	// A few: saved, up to date.
	a.addHistory(3, 1, "Few")
	if s := runPipeSyncOf(t, b, a, nb, pipeNode(a)); s.askErr != nil || s.answerErr != nil || s.asked.Received != 3 {
		t.Fatalf("%+v", s)
	}
	nb.saveKeys()
	data, err := os.ReadFile(nb.keysPath())
	if err != nil {
		t.Fatal(err)
	}
	sk, err := decodeSavedKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	now, err := b.Store.HeadsNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sk.ks.state() != now {
		t.Fatalf("saved %+v, the heads are %+v", sk.ks.state(), now)
	}
}
