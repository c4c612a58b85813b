package wiki

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"peerwiki/history"
)

// carBlocks reads the blocks of a CAR bundle.
func carBlocks(t *testing.T, file []byte) []history.Block {
	t.Helper()
	cr, err := history.NewCARReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var out []history.Block
	for {
		b, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

// TestCARImportAllOrNothing: a bundle read and stored in many batches is
// still stored in one transaction, so a bad block in its last batch
// leaves nothing of the batches before it, whether the block fails the
// checks before storing (a forged signature) or while it is stored (a
// revision whose parent the bundle lacks).
func TestCARImportAllOrNothing(t *testing.T) {
	defer func(n int) { carBatch = n }(carBatch)
	carBatch = 1 // every block a batch of its own
	ctx := context.Background()
	a := newTestRepo(t, "ada")
	for i := range 12 {
		p, err := a.Create(ctx, fmt.Sprintf("Page %d", i), "first\n", "")
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("first\nsecond %d\n", i)
		if _, err := a.Edit(ctx, p, Edit{Body: &body}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := a.ExportCAR(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	blocks := carBlocks(t, good)
	last := -1 // the bundle's last signed revision
	for i, b := range blocks {
		if r, err := history.DecodeRevision(b.Data); err == nil && !r.IsAuto() {
			last = i
		}
	}
	if last < len(blocks)/2 {
		t.Fatalf("the last signed revision is block %d of %d", last, len(blocks))
	}
	// A forged signature: the same bytes but one, under their true CID
	// (the same length), so that the CID check passes.
	rev, _ := history.DecodeRevision(blocks[last].Data)
	rev.Sig[7] ^= 0x01
	forged, err := rev.Block()
	if err != nil {
		t.Fatal(err)
	}
	section := append(blocks[last].Cid.Bytes(), blocks[last].Data...)
	at := bytes.Index(good, section)
	badSig := bytes.Clone(good)
	copy(badSig[at:], append(forged.Cid.Bytes(), forged.Data...))
	// A revision's parent left out: its child, later, cannot be stored.
	var orphaned []byte
	for _, b := range blocks {
		if b.Cid.Equals(rev.Parents[0].Cid) {
			orphaned = withoutSection(good, b)
		}
	}
	if orphaned == nil {
		t.Fatal("the parent is not in the bundle")
	}

	b, err := InitReplica(filepath.Join(t.TempDir(), "bob"), "bob", a.Config.Wiki, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	before, err := b.store.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		file []byte
		want error
	}{
		"a forged signature in the last batch": {badSig, history.ErrBadSignature},
		"a missing parent":                     {orphaned, history.ErrMissingParent},
	} {
		_, err := b.ImportCAR(ctx, bytes.NewReader(tc.file))
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: import gave %v, want %v", name, err, tc.want)
		}
		if after, err := b.store.Totals(ctx); err != nil || after != before {
			t.Fatalf("%s: refused, yet the store went from %+v to %+v (%v)", name, before, after, err)
		}
	}

	res, err := b.ImportCAR(ctx, bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != len(blocks) || res.Revisions == 0 {
		t.Fatalf("the genuine bundle: %+v of %d blocks", res, len(blocks))
	}
	ha, _ := a.store.HeadSet(ctx)
	hb, _ := b.store.HeadSet(ctx)
	if fmt.Sprint(ha) != fmt.Sprint(hb) {
		t.Fatalf("heads differ after the import:\n%v\n%v", ha, hb)
	}
}

// withoutSection is a CAR file without block b's section.
func withoutSection(file []byte, b history.Block) []byte {
	want := append(b.Cid.Bytes(), b.Data...)
	for at := 0; at < len(file); {
		n, k := binary.Uvarint(file[at:])
		if k <= 0 {
			break
		}
		if end := at + k + int(n); bytes.Equal(file[at+k:end], want) {
			return append(bytes.Clone(file[:at]), file[end:]...)
		} else {
			at = end
		}
	}
	return nil
}
