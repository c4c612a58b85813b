package history_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/history/historytest"
)

func TestCheckTitle(t *testing.T) {
	for _, tc := range []struct {
		title string
		ok    bool
	}{
		{"Meeting notes", true},
		{"Ünïcödé – 日本語", true},
		{strings.Repeat("x", history.MaxTitleLen), true},
		{"", false},
		{"   ", false},
		{"two\nlines", false},
		{"carriage\rreturn", false},
		{"X\x1b]0;pwned\a", false},
		{"tab\there", false},
		{"del\x7f", false},
		{"c1 \u009b31m", false},
		{"line\u2028separator", false},
		{"\xff\xfe", false},
		{strings.Repeat("x", history.MaxTitleLen+1), false},
	} {
		err := history.CheckTitle(tc.title)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTitle(%q) = %v, want ok=%v", tc.title, err, tc.ok)
		}
		if err != nil && !errors.Is(err, history.ErrBadTitle) {
			t.Errorf("CheckTitle(%q) = %v, not ErrBadTitle", tc.title, err)
		}
	}
}

// A peer cannot bring a title that local commands refuse; a page whose
// bad title was stored before the rule can still be edited and synced.
func TestPeerTitlesFollowTheLocalRule(t *testing.T) {
	ctx := context.Background()
	s := historytest.NewStore(t, history.Options{})
	b := historytest.NewBuilder(t, s)
	for _, title := range []string{"X\x1b]0;pwned\a", "forged\nsecond line", "", strings.Repeat("t", 300_000)} {
		blk, bodies := b.Make(cid.Undef, title, "body")
		if _, err := s.Put(ctx, append(bodies, blk)); !errors.Is(err, history.ErrMalformed) {
			t.Errorf("genesis titled %.20q: err %v, want ErrMalformed", title, err)
		}
	}
	page := b.Put(cid.Undef, "Good", "v1")
	blk, bodies := b.Make(page, "now \x1b[2J bad", "v2", page)
	if _, err := s.Put(ctx, append(bodies, blk)); !errors.Is(err, history.ErrMalformed) {
		t.Errorf("rename to a bad title: err %v, want ErrMalformed", err)
	}

	// Before the rule: a bad title stored as the code of then did.
	legacy, lb := b.Make(cid.Undef, "old\x1b]0;title\a", "v1")
	if _, err := s.PutSignedHere(ctx, append(lb, legacy)); !errors.Is(err, history.ErrMalformed) {
		t.Fatalf("a local write with a bad title: err %v, want ErrMalformed", err)
	}
	if _, err := history.PutAsBefore(s, append(lb, legacy)); err != nil {
		t.Fatal(err)
	}
	// A member's edit that keeps it is taken; one that makes another is not.
	keep, kb := b.Make(legacy.Cid, "old\x1b]0;title\a", "v2", legacy.Cid)
	if _, err := s.Put(ctx, append(kb, keep)); err != nil {
		t.Fatalf("an edit keeping a stored title: %v", err)
	}
	worse, wb := b.Make(legacy.Cid, "old\x1b]0;other\a", "v3", keep.Cid)
	if _, err := s.Put(ctx, append(wb, worse)); !errors.Is(err, history.ErrMalformed) {
		t.Fatalf("a new bad title on that page: err %v, want ErrMalformed", err)
	}
	fixed, fb := b.Make(legacy.Cid, "old title", "v3", keep.Cid)
	if _, err := s.Put(ctx, append(fb, fixed)); err != nil {
		t.Fatalf("renaming it to a good title: %v", err)
	}
}
