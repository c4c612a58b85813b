package p2p

import (
	"context"
	"errors"
	"testing"
)

// A process's first sync of a large wiki with nothing new sends the
// recorded summary of its heads without reading them; when the other side
// has something new, or its own heads moved, it reads them and the sync
// is what it always was.
func TestRecordedKeySumSparesReadingTheHeads(t *testing.T) {
	ctx := context.Background()
	a, b, ids := sharedReplicas(t, 300)
	// A sync that reads b's 300 heads whole; its node records their
	// summary as it closes.
	first := pipeNode(b)
	if s := runPipeSyncOf(t, b, a, first, pipeNode(a)); s.askErr != nil || s.answerErr != nil {
		t.Fatalf("%+v", s)
	}
	if pipeNode(b).cachedKeys(ctx) != nil {
		t.Fatal("a summary before the node closed")
	}
	first.saveKeySum()
	nb := pipeNode(b)
	if nb.cachedKeys(ctx) == nil {
		t.Fatal("no recorded summary after a full read")
	}
	s := runPipeSyncOf(t, b, a, nb, pipeNode(a))
	if s.askErr != nil || s.answerErr != nil || !s.asked.Equal {
		t.Fatalf("no-op sync: %+v", s)
	}
	if nb.heads.keys != nil {
		t.Fatal("the no-op sync read the heads")
	}

	// Something new on the other side: the lazy set reads the heads when
	// the reconciliation asks for more than its sum.
	hs, err := a.Store.Heads(ctx, ids[7])
	if err != nil {
		t.Fatal(err)
	}
	a.Put(ids[7], "Shared 7", "an edit on a\n", hs...)
	nb = pipeNode(b)
	if nb.cachedKeys(ctx) == nil {
		t.Fatal("the summary no longer applies though b's heads did not move")
	}
	s = runPipeSyncOf(t, b, a, nb, pipeNode(a))
	if s.askErr != nil || s.answerErr != nil || s.asked.Received != 1 {
		t.Fatalf("sync after an edit there: %+v", s)
	}
	if !sameHeads(a.heads(), b.heads()) {
		t.Fatal("the replicas differ")
	}

	// b's heads moved (the sync stored the edit): the summary is stale
	// until the next full read.
	nb = pipeNode(b)
	if nb.cachedKeys(ctx) != nil {
		t.Fatal("a stale summary was offered")
	}

	// A summary that does not match the heads read is refused, not used.
	lz := &lazyKeys{n: pipeNode(b), ctx: ctx, len: 3}
	if _, err := lz.full(); !errors.Is(err, errHeadsMoved) {
		t.Fatalf("a wrong summary: %v", err)
	}
}
