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

// TestCARImportAdmitsMembersTheBundleAdds: Bob, who joined earlier, takes
// a bundle from Ada holding the page of Carol, whom Ada added after Bob
// last heard from her. The first pass holds Carol's revision back (the
// member list, as Bob had it, does not name her); the bundle names her,
// and a bundle in a file is read again once the list says so. From a
// stream, the revision waits, as before, and says so.
func TestCARImportAdmitsMembersTheBundleAdds(t *testing.T) {
	ctx := context.Background()
	a := newTestRepo(t, "ada")
	if _, err := a.Create(ctx, "Home", "hello\n", ""); err != nil {
		t.Fatal(err)
	}
	replica := func(name string) *Repo {
		r, err := InitReplica(filepath.Join(t.TempDir(), name), name, a.Config.Wiki, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if err := a.AddMember(ctx, r.ID.ID, name, RoleMember); err != nil {
			t.Fatal(err)
		}
		return r
	}
	bundle := func(from *Repo) []byte {
		var buf bytes.Buffer
		if _, err := from.ExportCAR(ctx, &buf, nil); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	carry := func(to *Repo, rd io.Reader) CARImport {
		t.Helper()
		res, err := to.ImportCAR(ctx, rd)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	bob, bob2 := replica("bob"), replica("bob2")
	for _, b := range []*Repo{bob, bob2} {
		file := bundle(a)
		carry(b, bytes.NewReader(file))
	}
	carol := replica("carol")
	file := bundle(a)
	carry(carol, bytes.NewReader(file))
	page, err := carol.Create(ctx, "Carol's page", "by carol\n", "")
	if err != nil {
		t.Fatal(err)
	}
	file = bundle(carol)
	if res := carry(a, bytes.NewReader(file)); res.Deferred != 0 {
		t.Fatalf("Ada, who added Carol, held back %d of her revisions", res.Deferred)
	}

	file = bundle(a)
	res := carry(bob, bytes.NewReader(file))
	if res.Deferred != 0 {
		t.Fatalf("from a file: %d revisions held back, want none (%+v)", res.Deferred, res)
	}
	if _, err := bob.store.Heads(ctx, page); err != nil {
		t.Fatalf("Carol's page at Bob: %v", err)
	}
	res = carry(bob2, struct{ io.Reader }{bytes.NewReader(file)})
	if res.Deferred == 0 {
		t.Fatalf("from a stream: nothing held back (%+v); the test no longer shows the limit", res)
	}
}
