package history_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// autoMerge builds an unsigned automatic merge of heads with any body, as
// a member's custom client could.
func autoMerge(t *testing.T, s *history.Store, page cid.Cid, body string, heads ...cid.Cid) (history.Block, []history.Block) {
	t.Helper()
	bodies, err := history.BodyBlocks(body)
	if err != nil {
		t.Fatal(err)
	}
	r := &history.Revision{Wiki: s.Wiki(), Page: &history.Link{Cid: page}, Title: "Big", Body: history.Link{Cid: bodies[0].Cid}, Policy: "merge"}
	r.SetParents(heads)
	for _, h := range heads {
		pr, err := s.Revision(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		r.Time = max(r.Time, pr.Time)
		r.Height = max(r.Height, pr.Height+1)
	}
	blk, err := r.Block()
	if err != nil {
		t.Fatal(err)
	}
	return blk, bodies
}

// slowVerifier is an Options.VerifyAuto that calls every merge forged,
// after holding each check until released: a stand-in for recomputing a
// merge of large parents, which takes seconds.
type slowVerifier struct {
	started chan struct{}
	release chan struct{}
}

func (v *slowVerifier) verify(history.Reader, cid.Cid, *history.Revision) error {
	v.started <- struct{}{}
	<-v.release
	return history.ErrForgedMerge
}

// While a forged merge of large parents is being recomputed, the store's
// other writers are not held up, and the batch fails with ErrForgedMerge,
// whether the parents were stored before or come in the same batch.
func TestForgedMergeIsVerifiedOutsideTheWriteTransaction(t *testing.T) {
	ctx := context.Background()
	big := func(tag string) string { return strings.Repeat(tag+" line of a large page\n", 60_000) } // ~1.4 MB
	for _, parentsAlong := range []bool{false, true} {
		v := &slowVerifier{started: make(chan struct{}), release: make(chan struct{})}
		s := historytest.NewStore(t, history.Options{VerifyAuto: v.verify})
		b := historytest.NewBuilder(t, s)
		page := b.Put(cid.Undef, "Big", "base\n")
		var batch []history.Block
		var heads []cid.Cid
		for _, tag := range []string{"ours", "theirs"} {
			blk, bodies := b.Make(page, "Big", big(tag), page)
			if parentsAlong {
				batch = append(batch, bodies...)
				batch = append(batch, blk)
			} else if _, err := s.Put(ctx, append(bodies, blk)); err != nil {
				t.Fatal(err)
			}
			heads = append(heads, blk.Cid)
		}
		// The merge's fields as if its parents were stored: build it on a
		// second store that has them.
		aux := historytest.NewStore(t, history.Options{})
		if _, err := history.PutAsBefore(aux, append(mustBlocks(t, s, ctx, page), batch...)); err != nil && parentsAlong {
			t.Fatal(err)
		}
		var src *history.Store = s
		if parentsAlong {
			src = aux
		}
		m, mb := autoMerge(t, src, page, "forged\n", heads...)
		batch = append(batch, mb...)
		batch = append(batch, m)

		errc := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, batch)
			errc <- err
		}()
		<-v.started
		// A local edit while the merge is being recomputed.
		local := make(chan error, 1)
		go func() {
			blk, bodies := b.Make(cid.Undef, "Unrelated", "typed now")
			_, err := s.PutSignedHere(ctx, append(bodies, blk))
			local <- err
		}()
		select {
		case err := <-local:
			if err != nil {
				t.Fatalf("local write: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("parents along=%v: a local write waited on the recomputation of a merge", parentsAlong)
		}
		close(v.release)
		if err := <-errc; !errors.Is(err, history.ErrForgedMerge) {
			t.Fatalf("parents along=%v: put err %v, want ErrForgedMerge", parentsAlong, err)
		}
		if has, _ := s.Has(ctx, m.Cid); has {
			t.Fatal("the forged merge was stored")
		}
	}
}

// mustBlocks returns the blocks of a stored revision and its body.
func mustBlocks(t *testing.T, s *history.Store, ctx context.Context, rev cid.Cid) []history.Block {
	t.Helper()
	r, err := s.Revision(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	var out []history.Block
	for _, c := range []cid.Cid{r.Body.Cid, rev} {
		data, err := s.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, history.Block{Cid: c, Data: data})
	}
	return out
}
