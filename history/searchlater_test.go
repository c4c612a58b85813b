package history_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// A batch of many new pages (a fresh replica's sync) leaves their search
// rows for IndexPending: the pages are readable at once, searches find
// them once IndexPending ran, and the tables then hold what a page at a
// time would have written, whatever happened to the pages in between.
func TestSearchRowsWrittenLater(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	m := &revMaker{t: t, wiki: src.Wiki(), id: historytest.NewBuilder(t, src).ID, clock: 1_700_000_000_000, made: map[cid.Cid]*history.Revision{}}
	var all []history.Block
	add := func(page cid.Cid, title, body string, deleted bool, parents ...cid.Cid) cid.Cid {
		c, blocks := m.make(page, title, body, deleted, "", parents...)
		all = append(all, blocks...)
		return c
	}
	const pages = 150
	genesis := make([]cid.Cid, pages)
	heads := make([]cid.Cid, pages)
	for i := range pages {
		g := add(cid.Undef, fmt.Sprintf("Page %d", i), fmt.Sprintf("zebra text of page %d", i), false)
		genesis[i], heads[i] = g, g
		switch i % 4 {
		case 1: // a history
			heads[i] = add(g, fmt.Sprintf("Page %d", i), fmt.Sprintf("zebra second text %d", i), false, g)
		case 2: // a conflict
			add(g, "Left", "zebra left", false, g)
			heads[i] = add(g, "Right", "zebra right", false, g)
		case 3: // deleted
			heads[i] = add(g, fmt.Sprintf("Page %d", i), "", true, g)
		}
	}
	// What one revision a Put writes: every page searchable at once.
	one := historytest.NewStore(t, history.Options{})
	for i := 0; i < len(all); {
		j := i + 1
		for j <= len(all) && all[j-1].Cid.Prefix().Codec != history.CodecDagCBOR {
			j++
		}
		if _, err := one.Put(ctx, all[i:j]); err != nil {
			t.Fatal(err)
		}
		i = j
	}
	if n, err := one.SearchPending(ctx); err != nil || n != 0 {
		t.Fatalf("one page at a time left %d pages for later (%v)", n, err)
	}

	s := historytest.NewStore(t, history.Options{})
	if _, err := s.Put(ctx, all); err != nil {
		t.Fatal(err)
	}
	searchable := pages - pages/4 // the deleted ones are not searched
	if n, err := s.SearchPending(ctx); err != nil || n != searchable {
		t.Fatalf("%d pages left for later, want %d (%v)", n, searchable, err)
	}
	if hits, err := s.Search(ctx, "zebra", 500); err != nil || len(hits) != 0 {
		t.Fatalf("before IndexPending: %d hits (%v)", len(hits), err)
	}
	if list, err := s.Pages(ctx); err != nil || len(list) != pages {
		t.Fatalf("the pages are not readable at once: %d listed (%v)", len(list), err)
	}
	bad, warnings := problems(t, s)
	if len(bad) > 0 || !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "not in the search index yet") }) {
		t.Fatalf("fsck with pages left for later: problems %q, warnings %q", bad, warnings)
	}

	// Meanwhile a page is edited (its row written by the edit) and
	// another deleted (no row at all).
	edit := add(genesis[0], "Page 0", "zebra edited", false, heads[0])
	del := add(genesis[4], "Page 4", "", true, heads[4])
	for _, c := range []cid.Cid{edit, del} {
		var batch []history.Block
		for _, b := range all {
			if b.Cid == c || b.Cid == m.made[c].Body.Cid {
				batch = append(batch, b)
			}
		}
		for _, st := range []*history.Store{s, one} {
			if _, err := st.Put(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
	}

	var calls, last int
	done, err := s.IndexPending(ctx, func(d, total int) { calls++; last = d })
	if err != nil || done != searchable || calls == 0 || last != done {
		t.Fatalf("IndexPending: %d done (%v), %d progress calls, last %d", done, err, calls, last)
	}
	if n, err := s.SearchPending(ctx); err != nil || n != 0 {
		t.Fatalf("%d pages still pending (%v)", n, err)
	}
	sameIndex(t, "indexed later", s, one)
	if hits, err := s.Search(ctx, "zebra", 500); err != nil || len(hits) != searchable-1 {
		t.Fatalf("after IndexPending: %d hits, want %d (%v)", len(hits), searchable-1, err)
	}
	if bad, warnings := problems(t, s); len(bad)+len(warnings) > 0 {
		t.Fatalf("fsck after IndexPending: problems %q, warnings %q", bad, warnings)
	}
	// Nothing left: a second call is free.
	if done, err := s.IndexPending(ctx, nil); err != nil || done != 0 {
		t.Fatalf("again: %d (%v)", done, err)
	}
}

// sameIndex fails the test unless got holds the page index (the pages,
// search and links tables) that want holds.
func sameIndex(t *testing.T, what string, got, want *history.Store) {
	t.Helper()
	g, err := history.IndexTables(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := history.IndexTables(want)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s:\n%s\nwant\n%s", what, strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// A live edit from a peer (Checked.Live) is stored with its page
// listed for IndexPending instead of its search row: until then a search
// finds the page as it was; after, the index is the one an immediate
// store writes, through an edit, a rename (the title's own row) and a
// deletion.
func TestLiveEditsSearchLater(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	m := &revMaker{t: t, wiki: src.Wiki(), id: historytest.NewBuilder(t, src).ID, clock: 1_700_000_000_000, made: map[cid.Cid]*history.Revision{}}
	later := historytest.NewStore(t, history.Options{})
	now := historytest.NewStore(t, history.Options{})
	store := func(blocks []history.Block, live bool) {
		t.Helper()
		for _, st := range []*history.Store{later, now} {
			checked, err := st.Check(blocks)
			if err != nil {
				t.Fatal(err)
			}
			if live && st == later {
				checked.Live()
			}
			if res, err := st.PutChecked(ctx, checked); err != nil || len(res.Revisions) != 1 {
				t.Fatalf("store: %v (%v)", res, err)
			}
		}
	}
	g, b := m.make(cid.Undef, "Zoo", "the old yak text", false, "")
	store(b, false)
	steps := []struct {
		title, body string
		deleted     bool
	}{
		{"Zoo", "the new zebra text", false},
		{"Zoo Two", "the new zebra text", false},
		{"Zoo Two", "", true},
	}
	head := g
	for i, st := range steps {
		c, blocks := m.make(g, st.title, st.body, st.deleted, "", head)
		head = c
		store(blocks, true)
		if n, err := later.SearchPending(ctx); err != nil || n != 1 {
			t.Fatalf("step %d: %d pages pending, want 1 (%v)", i, n, err)
		}
		if i == 0 {
			if hits, err := later.Search(ctx, "yak", 10); err != nil || len(hits) != 1 {
				t.Fatalf("before IndexPending the page is found as it was: %d hits (%v)", len(hits), err)
			}
		}
		if done, err := later.IndexPending(ctx, nil); err != nil || done != 1 {
			t.Fatalf("step %d: IndexPending did %d (%v)", i, done, err)
		}
		sameIndex(t, fmt.Sprintf("step %d", i), later, now)
		if bad, warnings := problems(t, later); len(bad)+len(warnings) > 0 {
			t.Fatalf("step %d: fsck: problems %q, warnings %q", i, bad, warnings)
		}
	}
}

// The title is written apart from the rest of a page's row, and only when
// it changed: a change of case alone is a change.
func TestTitleChangeOfCaseIsStored(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	g := b.Put(cid.Undef, "zoo notes", "text\n")
	head := g
	for _, title := range []string{"Zoo Notes", "Zoo Notes", "ZOO NOTES"} {
		head = b.Put(g, title, "text of "+title+"\n", head)
		row, err := s.Page(ctx, g)
		if err != nil || row.Title != title {
			t.Fatalf("after a rename to %q the page's title is %q (%v)", title, row.Title, err)
		}
	}
}

// A live edit's body is a delta of its parent's while the parent's delta
// chain is short, and whole (compressed) past liveDeltaDepth, where making
// the delta would rebuild the parent from its chain; another write keeps
// the long chain. Either way the text reads back the same.
func TestLiveEditsKeepDeltaChainsShort(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	live := historytest.NewStore(t, history.Options{})
	other := historytest.NewStore(t, history.Options{})
	body := strings.Repeat("a line of the page that stays as it was\n", 40)
	g, gb := b.Batch(cid.Undef, "Notes", body)
	var batches [][]history.Block
	batches = append(batches, gb)
	head := g
	for i := range 12 {
		c, blocks := b.Batch(g, "Notes", body+fmt.Sprintf("edit %d\n", i), head)
		batches = append(batches, blocks)
		head = c
	}
	var wholeAt []int
	for i, blocks := range batches {
		for _, st := range []*history.Store{live, other} {
			checked, err := st.Check(blocks)
			if err != nil {
				t.Fatal(err)
			}
			if st == live {
				checked.Live()
			}
			if _, err := st.PutChecked(ctx, checked); err != nil {
				t.Fatal(err)
			}
		}
		bodyCID := blocks[0].Cid // the body comes first
		if base, err := history.StoredBase(live, bodyCID); err != nil {
			t.Fatal(err)
		} else if !base.Defined() {
			wholeAt = append(wholeAt, i)
		}
		if base, err := history.StoredBase(other, bodyCID); err != nil || (i > 0 && !base.Defined()) {
			t.Fatalf("revision %d: another write stored its body whole (%v)", i, err)
		}
	}
	// The genesis, then once the chain reached liveDeltaDepth (8 deltas).
	if !slices.Equal(wholeAt, []int{0, 9}) {
		t.Fatalf("live edits stored whole at %v, want [0 9]", wholeAt)
	}
	for _, st := range []*history.Store{live, other} {
		v, err := st.Page(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if v.Rev != head {
			t.Fatalf("head %s, want %s", v.Rev, head)
		}
		for i, blocks := range batches {
			text, err := st.Body(ctx, blocks[0].Cid)
			if err != nil || text != string(blocks[0].Data) {
				t.Fatalf("revision %d's body reads back as %q (%v)", i, text, err)
			}
		}
	}
}

// Indexing a long backlog (a serve that starts after a large import)
// lets a writer that waits its turn in between two chunks: a member's
// edit, or the redemption of a joiner's invite, does not wait for the
// whole backlog (it waited past the joiner's deadline), nor fail as busy.
func TestIndexPendingLetsWritersIn(t *testing.T) {
	ctx := context.Background()
	s, b := backlogStore(t, time.Millisecond, 2000, func(i int) string { return strings.Repeat(fmt.Sprintf("words of page %d ", i), 40) })
	edited := make(chan error, 1)
	indexed := make(chan error, 1)
	go func() {
		first := true
		_, err := s.IndexPending(ctx, func(done, total int) {
			if first { // one chunk done: a writer comes along
				first = false
				go func() {
					_, blocks := b.Batch(cid.Undef, "Written meanwhile", "text")
					_, err := s.Put(ctx, blocks)
					edited <- err
				}()
			}
		})
		indexed <- err
	}()
	select {
	case err := <-edited:
		if err != nil {
			t.Fatalf("a write during the indexing: %v", err)
		}
	case err := <-indexed:
		t.Fatalf("the indexing ended (%v) before the write waiting for its turn was let in", err)
	}
	if n, err := s.SearchPending(ctx); err != nil || n == 0 {
		t.Fatalf("the write waited for the whole backlog: %d pages pending after it (%v)", n, err)
	}
	if err := <-indexed; err != nil {
		t.Fatal(err)
	}
	if n, err := s.SearchPending(ctx); err != nil || n != 0 {
		t.Fatalf("%d pages left unindexed (%v)", n, err)
	}
}

// A writer of the same process that finds the database busy while a chunk
// of search rows is written (a live edit arriving at a node that indexes
// the ones before it) ends the chunk at the next page, however long the
// chunk could have been; the rows left are written after it.
func TestIndexChunkEndsForAWaitingWriter(t *testing.T) {
	ctx := context.Background()
	s, b := backlogStore(t, time.Hour, 300, func(i int) string { return fmt.Sprintf("words of page %d", i) })
	pending, err := s.SearchPending(ctx)
	if err != nil || pending != 300 {
		t.Fatalf("%d pages left for later (%v), want 300", pending, err)
	}
	const arrives = 10 // the page at which the writer comes along
	edited := make(chan error, 1)
	var chunks []int
	defer history.SetIndexPageHook(func(done int) {
		if len(chunks) > 0 || done != arrives {
			return
		}
		go func() {
			_, blocks := b.Batch(cid.Undef, "Written meanwhile", "text")
			_, err := s.Put(ctx, blocks)
			edited <- err
		}()
		for s.WritersInRoom() == 0 {
			select {
			case err := <-edited:
				t.Errorf("the write was not kept waiting by the chunk: %v", err)
				return
			case <-time.After(time.Millisecond):
			}
		}
	})()
	last := 0
	done, err := s.IndexPending(ctx, func(d, total int) {
		chunks = append(chunks, d-last)
		last = d
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-edited; err != nil {
		t.Fatalf("the write during the indexing: %v", err)
	}
	if done != 300 || len(chunks) < 2 || chunks[0] != arrives {
		t.Fatalf("indexed %d pages in chunks of %v; want the first chunk to end at page %d, when the writer waited", done, chunks, arrives)
	}
	if n, err := s.SearchPending(ctx); err != nil || n != 0 {
		t.Fatalf("%d pages left unindexed (%v)", n, err)
	}
}

// backlogStore is a store holding n pages stored in one batch, whose
// search rows were therefore left for later, with IndexPending's chunks
// set to chunk for the rest of the test.
// The rows of a node's live edits (IndexPendingBrief) are written in
// small transactions, and the search index is not merged after them,
// however many there were: that rewrite of the whole index held up the
// edit that arrived meanwhile (10 ms and more, issue 14). A backlog left
// by a sync (IndexPending) is merged after it, as before.
func TestBriefIndexingDoesNotMergeTheIndex(t *testing.T) {
	ctx := context.Background()
	for _, brief := range []bool{true, false} {
		s, _ := backlogStore(t, time.Hour, 300, func(i int) string { return fmt.Sprintf("words of page %d", i) })
		var done int
		var err error
		if brief {
			done, err = s.IndexPendingBrief(ctx)
		} else {
			done, err = s.IndexPending(ctx, nil)
		}
		if err != nil || done != 300 {
			t.Fatalf("brief %v: indexed %d (%v)", brief, done, err)
		}
		segments, err := history.SearchSegments(s)
		if err != nil {
			t.Fatal(err)
		}
		if merged := segments == 1; merged == brief {
			t.Fatalf("brief %v: the search index is in %d segments", brief, segments)
		}
		if hits, err := s.Search(ctx, "words page", 500); err != nil || len(hits) != 300 {
			t.Fatalf("brief %v: %d hits (%v)", brief, len(hits), err)
		}
	}
}

func backlogStore(t *testing.T, chunk time.Duration, n int, body func(i int) string) (*history.Store, *historytest.Builder) {
	t.Helper()
	t.Cleanup(history.SetIndexChunkTime(chunk))
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	var all []history.Block
	for i := range n {
		_, blocks := b.Batch(cid.Undef, fmt.Sprintf("Backlog %d", i), body(i))
		all = append(all, blocks...)
	}
	if _, err := s.Put(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	return s, b
}
