// Package historytest builds revision DAGs for tests of history and of the
// packages above it.
package historytest

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// WikiID is the wiki every store made here belongs to.
const WikiID = "testwiki"

// NewStore opens a fresh store in a temporary directory.
func NewStore(t testing.TB, opts history.Options) *history.Store {
	t.Helper()
	s, err := history.Open(filepath.Join(t.TempDir(), "peerwiki.db"), WikiID, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Builder makes signed revisions of one author.
type Builder struct {
	T     testing.TB
	Store *history.Store
	ID    *history.Identity
	// Clock is the wall clock the builder pretends to read (ms).
	Clock int64

	// made are the revisions this builder made, stored or not, so that a
	// history can be made whole and stored in one batch.
	made map[cid.Cid]*history.Revision
}

// NewBuilder returns a builder with a fresh identity writing to s.
func NewBuilder(t testing.TB, s *history.Store) *Builder {
	t.Helper()
	id, err := history.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return &Builder{T: t, Store: s, ID: id, Clock: 1_700_000_000_000}
}

// Make builds (without storing) a signed revision of page with the given
// parents; page is cid.Undef for a genesis. A parent is one this builder
// made, or one in its store.
func (b *Builder) Make(page cid.Cid, title, body string, parents ...cid.Cid) (history.Block, []history.Block) {
	b.T.Helper()
	ctx := context.Background()
	bodyBlocks, err := history.BodyBlocks(body)
	if err != nil {
		b.T.Fatal(err)
	}
	b.Clock++
	r := &history.Revision{Wiki: b.Store.Wiki(), Title: title, Body: history.Link{Cid: bodyBlocks[0].Cid}, Time: b.Clock, Height: 1}
	if !page.Defined() {
		// Told apart by title and body, hashed: a big body is not
		// carried twice.
		sum := sha256.Sum256([]byte(title + "\x00" + body))
		r.Nonce = sum[:16]
	} else {
		r.Page = &history.Link{Cid: page}
		r.SetParents(parents)
		prs := make([]*history.Revision, len(parents))
		for i, p := range parents {
			pr, ok := b.made[p]
			if !ok {
				var err error
				if pr, err = b.Store.Revision(ctx, p); err != nil {
					b.T.Fatal(err)
				}
			}
			prs[i] = pr
		}
		r.Stamp(prs, time.UnixMilli(b.Clock))
	}
	if err := r.Sign(b.ID.Key); err != nil {
		b.T.Fatal(err)
	}
	blk, err := r.Block()
	if err != nil {
		b.T.Fatal(err)
	}
	if b.made == nil {
		b.made = map[cid.Cid]*history.Revision{}
	}
	b.made[blk.Cid] = r
	return blk, bodyBlocks
}

// Batch is Make as a batch to store or send: the body blocks, then the
// revision, whose CID it also returns.
func (b *Builder) Batch(page cid.Cid, title, body string, parents ...cid.Cid) (cid.Cid, []history.Block) {
	b.T.Helper()
	blk, bodies := b.Make(page, title, body, parents...)
	return blk.Cid, append(bodies, blk)
}

// Put builds and stores a revision and returns its CID.
func (b *Builder) Put(page cid.Cid, title, body string, parents ...cid.Cid) cid.Cid {
	b.T.Helper()
	c, blocks := b.Batch(page, title, body, parents...)
	res, err := b.Store.Put(context.Background(), blocks)
	if err != nil {
		b.T.Fatal(err)
	}
	for _, d := range res.Deferred {
		b.T.Fatalf("revision %s deferred: %v", d.Rev, d.Err)
	}
	return c
}
