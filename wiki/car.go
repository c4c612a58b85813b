package wiki

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// carBatch is how many block bytes ImportCAR reads, checks and stores at
// a time: the three stages overlap, batch by batch, inside one
// transaction. Memory holds a few batches, whatever the bundle's size.
// A variable for tests, which make it small to get many batches.
var carBatch = 2 << 20

// CARImport says what ImportCAR did; field names are part of the CLI
// contract (`import --car --json`).
type CARImport struct {
	// Blocks is how many blocks the file holds.
	Blocks int `json:"blocks"`
	// Stored is how many of them were new here.
	Stored int `json:"stored"`
	// Revisions is how many new revisions were stored.
	Revisions int `json:"revisions"`
	// Deferred is how many revisions wait (dated too far ahead, or a page
	// at its cap of heads), as they would from a sync.
	Deferred int `json:"deferred"`
	// Conflicts are the pages the import left with several versions.
	Conflicts []string `json:"conflicts"`
}

// ExportCAR writes the wiki's blocks as a CAR v1 bundle to w: everything,
// or only what is not reachable from the revisions since names (another
// replica's heads, to bring it up to date).
func (r *Repo) ExportCAR(ctx context.Context, w io.Writer, since []cid.Cid) (history.CARExport, error) {
	return r.store.ExportCAR(ctx, w, since)
}

// ImportCAR reads a CAR v1 bundle and stores the blocks that are new here,
// each verified as a sync verifies a peer's (CID, signature, the wiki,
// recomputed automatic merges, clock and head limits); then applies the
// wiki's policies to pages the import made divergent, as after a sync.
// The bundle is stored in one transaction (history.Bulk): a bad block
// anywhere refuses it whole, with nothing stored.
//
// Revisions by members that the bundle itself adds (their admission is in
// the bundle's copy of the member list) are held back by the first pass,
// which checks authors against the list as it stood: when the list
// changed and revisions were held back, a bundle read from a file is
// read again, in a second transaction, once the list is up to date.
func (r *Repo) ImportCAR(ctx context.Context, rd io.Reader) (CARImport, error) {
	before, err := r.Members(ctx)
	if err != nil {
		return CARImport{}, err
	}
	out, err := r.importCAROnce(ctx, rd)
	if err != nil {
		return out, err
	}
	// As after a sync, the list is read again (and revisions of members
	// the bundle removed are marked) before anything else is done here.
	after, err := r.Members(ctx)
	if err != nil || out.Deferred == 0 || after == before {
		return out, err
	}
	f, ok := rd.(io.Seeker)
	if !ok {
		return out, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return out, nil
	}
	again, err := r.importCAROnce(ctx, rd)
	if err != nil {
		return out, err
	}
	out.Stored += again.Stored
	out.Revisions += again.Revisions
	out.Deferred = again.Deferred
	for _, c := range again.Conflicts {
		if !slices.Contains(out.Conflicts, c) {
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	return out, nil
}

// importCAROnce is one pass of ImportCAR, in one transaction.
func (r *Repo) importCAROnce(ctx context.Context, rd io.Reader) (CARImport, error) {
	out := CARImport{Conflicts: []string{}}
	cr, err := history.NewCARReader(rd)
	if err != nil {
		return out, err
	}
	bulk, err := r.store.BeginBulk(ctx)
	if err != nil {
		return out, err
	}
	defer bulk.Rollback()
	// Reading, checking (hashes, signatures: on every core) and storing
	// overlap: while the writer stores a batch, the next is checked and
	// the one after read. The first failure stops all three.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	read := make(chan []history.Block, 1)
	checked := make(chan *history.Checked, 1)
	var readErr, checkErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(read)
		readErr = readCARBatches(ctx, cr, read, &out.Blocks)
	}()
	go func() {
		defer wg.Done()
		defer close(checked)
		for blocks := range read {
			c, err := r.store.Check(blocks)
			if err != nil {
				checkErr = err
				cancel()
				return
			}
			select {
			case checked <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	var putErr error
	for c := range checked {
		if _, putErr = bulk.Put(c); putErr != nil {
			cancel()
			break
		}
	}
	for range checked { // let the checker end
	}
	wg.Wait()
	for _, err := range []error{putErr, checkErr, readErr} {
		if err != nil {
			return out, err
		}
	}
	res, err := bulk.Commit(ctx)
	if err != nil {
		return out, err
	}
	out.Stored, out.Revisions, out.Deferred = res.Blocks, res.Revisions, res.Deferred
	divergent := res.Divergent
	if err := r.ApplyPolicies(ctx, divergent); err != nil {
		return out, fmt.Errorf("import: %w", err)
	}
	conflicted, err := r.store.Conflicted(ctx)
	if err != nil {
		return out, err
	}
	isDivergent := map[cid.Cid]bool{}
	for _, p := range divergent {
		isDivergent[p] = true
	}
	for _, p := range conflicted {
		if isDivergent[p.ID] {
			out.Conflicts = append(out.Conflicts, p.ID.String())
		}
	}
	return out, nil
}

// readCARBatches reads the blocks of a CAR into batches of about carBatch
// bytes and sends them to out, counting them in n, until the end of the
// file, an error or ctx's end (an error too: the bundle was not read
// whole).
func readCARBatches(ctx context.Context, cr *history.CARReader, out chan<- []history.Block, n *int) error {
	var batch []history.Block
	// The first batches are small, so that the writer starts early.
	size, limit := 0, min(carBatch, 256<<10)
	send := func() error {
		select {
		case out <- batch:
			batch, size, limit = nil, 0, min(2*limit, carBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err() // or the stage that failed says why
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		*n++
		batch = append(batch, b)
		if size += len(b.Data); size >= limit {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}
