package history_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

// packedCopy sends src's whole history packed, as a sync stream would,
// and stores it in a new store in batches; it returns the new store and
// what was sent.
func packedCopy(t *testing.T, src *history.Store) (*history.Store, []history.Packed) {
	t.Helper()
	ctx := context.Background()
	sent := wholePacked(t, src)
	dst := historytest.NewStore(t, history.Options{})
	u := history.NewUnpacker()
	for i := 0; i < len(sent); i += 300 {
		c, err := dst.CheckPacked(u, sent[i:min(i+300, len(sent))])
		if err != nil {
			t.Fatalf("batch at %d: %v", i, err)
		}
		if _, err := dst.PutChecked(ctx, c); err != nil {
			t.Fatalf("batch at %d: %v", i, err)
		}
	}
	return dst, sent
}

func TestPackedSyncRebuildsEveryBlock(t *testing.T) {
	ctx := context.Background()
	src := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, src)
	text := strings.Repeat("A paragraph of the page, long enough to be worth a delta.\n", 40)
	for p := range 20 {
		page := b.Put(cid.Undef, fmt.Sprintf("Page %d", p), text)
		head := page
		for v := range 6 {
			head = b.Put(page, fmt.Sprintf("Page %d", p), fmt.Sprintf("%sEdit %d of page %d.\n", text, v, p), head)
		}
	}
	// A page whose last revision is a merge with a parent sent more than
	// a window before it (a side branch at height 2; parents sort by CID,
	// so the side branch is made until it comes first): the merge's
	// deltas cannot be sent, its blocks go whole.
	root := b.Put(cid.Undef, "Long", "root\n"+text)
	tip := root
	for i := range history.PackWindowBlocks/2 + 20 {
		tip = b.Put(root, "Long", fmt.Sprintf("main line %d\n%s", i, text), tip)
	}
	// Candidates are made, not stored: a tip whose CID sorts low can take
	// hundreds of them, and each stored one would be another head.
	var side cid.Cid
	var sideBlocks []history.Block
	for i := 0; !side.Defined() || bytes.Compare(side.Bytes(), tip.Bytes()) > 0; i++ {
		if i == 1<<16 {
			t.Fatal("no side branch sorts before the tip")
		}
		side, sideBlocks = b.Batch(root, "Long", fmt.Sprintf("side %d\n%s", i, text), root)
	}
	if _, err := src.Put(ctx, sideBlocks); err != nil {
		t.Fatal(err)
	}
	merge := b.Put(root, "Long", "merged\n"+text, tip, side)

	if base, err := history.StoredBase(src, merge); err != nil || !base.Equals(side) {
		t.Fatalf("the merge is stored against %v (%v), want a delta against its first parent", base, err)
	}

	dst, sent := packedCopy(t, src)
	h1, err1 := src.HeadSet(ctx)
	h2, err2 := dst.HeadSet(ctx)
	if err1 != nil || err2 != nil || fmt.Sprint(h1) != fmt.Sprint(h2) {
		t.Fatalf("heads after a packed copy: %v, want %v (%v %v)", h2, h1, err1, err2)
	}
	if probs, err := dst.Fsck(ctx, nil); err != nil || len(probs) > 0 {
		t.Fatalf("fsck of the copy: %v %v", probs, err)
	}
	var packed, whole, wire int
	for _, p := range sent {
		wire += len(p.Data)
		data, err := src.Get(ctx, p.Cid)
		if err != nil {
			t.Fatal(err)
		}
		whole += len(data)
		if p.Enc != 0 {
			packed++
		}
		if p.Cid.Equals(merge) && p.Enc != 0 {
			t.Fatalf("the merge went packed (%d, base %s): its base is outside the window", p.Enc, p.Base)
		}
	}
	if packed < len(sent)*3/4 || wire*3 > whole {
		t.Fatalf("%d of %d blocks packed, %d bytes for %d; want most packed, a third of the bytes", packed, len(sent), wire, whole)
	}
	if base, err := history.StoredBase(dst, tip); err != nil || !base.Defined() {
		t.Fatalf("the copy stores the tip whole (%v): the delta sent was not kept", err)
	}
	for _, c := range []cid.Cid{merge, tip, side} {
		r1, err := src.Revision(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		b1, _ := src.Body(ctx, r1.Body.Cid)
		b2, err := dst.Body(ctx, r1.Body.Cid)
		if err != nil || b1 != b2 {
			t.Fatalf("body of %s differs after a packed copy (%v)", c, err)
		}
	}
}

func TestUnpackRefusesWhatTheStreamDidNotCarry(t *testing.T) {
	base := history.NewBlock(history.CodecRaw, []byte("the base of a delta"))
	target := history.NewBlock(history.CodecRaw, []byte("the target"))
	delta := append([]byte{byte(len(target.Data)), byte(len(target.Data) << 1)}, target.Data...)
	for name, tc := range map[string]struct {
		before []history.Packed
		p      history.Packed
	}{
		"base never carried": {nil, history.Packed{Cid: target.Cid, Enc: 3, Base: base.Cid, Data: delta}},
		"unknown encoding":   {nil, history.Packed{Cid: target.Cid, Enc: 7, Data: target.Data}},
		"zstd that is not":   {nil, history.Packed{Cid: target.Cid, Enc: 1, Data: []byte("plain")}},
		"corrupt delta": {[]history.Packed{{Cid: base.Cid, Data: base.Data}},
			history.Packed{Cid: target.Cid, Enc: 3, Base: base.Cid, Data: []byte{200, 1}}},
		"plain with a base": {[]history.Packed{{Cid: base.Cid, Data: base.Data}},
			history.Packed{Cid: target.Cid, Base: base.Cid, Data: target.Data}},
	} {
		t.Run(name, func(t *testing.T) {
			u := history.NewUnpacker()
			for _, p := range tc.before {
				if _, err := u.Unpack(p); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := u.Unpack(tc.p); !errors.Is(err, history.ErrBadPacking) {
				t.Fatalf("got %v, want ErrBadPacking", err)
			}
		})
	}
	// The same delta after its base: fine.
	u := history.NewUnpacker()
	if _, err := u.Unpack(history.Packed{Cid: base.Cid, Data: base.Data}); err != nil {
		t.Fatal(err)
	}
	got, err := u.Unpack(history.Packed{Cid: target.Cid, Enc: 3, Base: base.Cid, Data: delta})
	if err != nil || !bytes.Equal(got.Data, target.Data) {
		t.Fatalf("unpacked %q, %v", got.Data, err)
	}
}
