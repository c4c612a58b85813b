package test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// A process that writes batch after batch (a long sync) once kept every
// other writer of the repo out: SQLite's waiting writer polls, and found
// the lock free only in the microseconds between two transactions, so a
// local `new` waited for the whole sync or failed as busy. Here another
// process holds the lock 150 ms a batch, back to back, for up to a minute
// (longer than a writer waits); local writes made meanwhile all succeed
// while it still writes, each let in between two of its batches.
func TestLocalWritesGetTheirTurnDuringALongSync(t *testing.T) {
	a := InitRepo(t, "ada")
	var st struct {
		Wiki string `json:"wiki"`
	}
	a.JSON(&st, "status", "--json")
	slow := func(history.Reader, cid.Cid, *history.Revision) error {
		time.Sleep(150 * time.Millisecond) // a merge to recompute inside the transaction
		return nil
	}
	s, err := history.Open(filepath.Join(a.Dir, "peerwiki.db"), st.Wiki, history.Options{VerifyAuto: slow})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := history.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	// Batches checked in advance, so that nothing but a function call
	// separates one transaction from the next.
	var batches []*history.Checked
	for i := range 400 {
		c, err := s.Check(mergedPageBatch(t, s.Wiki(), id, i))
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, c)
	}
	done := make(chan error, 1)
	stop := make(chan struct{})
	var finished atomic.Bool // the syncing writer ran out of batches
	go func() {
		defer finished.Store(true)
		deadline := time.Now().Add(time.Minute)
		for _, c := range batches {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if time.Now().After(deadline) {
				break
			}
			if _, err := s.PutChecked(context.Background(), c); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(300 * time.Millisecond) // the syncing writer holds the lock
	for i := range 3 {
		res := a.Run("new", fmt.Sprintf("Typed meanwhile %d", i), "--body", "local work\n")
		if res.Code != 0 {
			close(stop)
			<-done
			t.Fatalf("a local write during a long sync: %+v", res)
		}
	}
	if finished.Load() {
		t.Fatal("the local writes got in only once the long sync was over")
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// mergedPageBatch is a new page with two heads and their automatic merge,
// all in one batch, so that the merge is verified inside the transaction.
func mergedPageBatch(t *testing.T, wiki string, id *history.Identity, i int) []history.Block {
	t.Helper()
	now := time.Now().UnixMilli()
	var out []history.Block
	add := func(r *history.Revision, body string, sign bool) *history.Revision {
		bodies, err := history.BodyBlocks(body)
		if err != nil {
			t.Fatal(err)
		}
		r.Wiki, r.Body = wiki, history.Link{Cid: bodies[0].Cid}
		if sign {
			if err := r.Sign(id.Key); err != nil {
				t.Fatal(err)
			}
		}
		blk, err := r.Block()
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, bodies...), blk)
		return r
	}
	title := fmt.Sprintf("Synced %d", i)
	g := add(&history.Revision{Title: title, Nonce: []byte(title), Time: now, Height: 1}, "base\n", true)
	gc := out[len(out)-1].Cid
	_ = g
	var heads []cid.Cid
	for k, body := range []string{"ours\nbase\n", "base\ntheirs\n"} {
		r := &history.Revision{Title: title, Page: &history.Link{Cid: gc}, Time: now + 1 + int64(k), Height: 2}
		r.SetParents([]cid.Cid{gc})
		add(r, body, true)
		heads = append(heads, out[len(out)-1].Cid)
	}
	m := &history.Revision{Title: title, Page: &history.Link{Cid: gc}, Time: now + 2, Height: 3, Policy: "merge"}
	m.SetParents(heads)
	add(m, "ours\nbase\ntheirs\n", false)
	return out
}
