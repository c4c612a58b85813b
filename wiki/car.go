package wiki

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// carBatch bounds the block bytes one transaction of ImportCAR stores. A
// bundle up to it is stored in one transaction, so a bad block anywhere
// in it leaves the repo as it was; a larger one is stored a batch at a
// time, as a sync stores what a peer sends, and a bad block stops the
// import after the batches before it (each of them verified whole).
const carBatch = 512 << 20

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
func (r *Repo) ImportCAR(ctx context.Context, rd io.Reader) (CARImport, error) {
	out := CARImport{Conflicts: []string{}}
	cr, err := history.NewCARReader(rd)
	if err != nil {
		return out, err
	}
	var divergent []cid.Cid
	var batch []history.Block
	size := 0
	put := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := r.store.Put(ctx, batch)
		if err != nil {
			return err
		}
		out.Stored += res.Blocks
		out.Revisions += len(res.Revisions)
		out.Deferred += len(res.Deferred)
		divergent = append(divergent, res.Divergent...)
		batch, size = nil, 0
		return nil
	}
	for {
		b, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return out, err
		}
		out.Blocks++
		batch = append(batch, b)
		if size += len(b.Data); size >= carBatch {
			if err := put(); err != nil {
				return out, err
			}
		}
	}
	if err := put(); err != nil {
		return out, err
	}
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
