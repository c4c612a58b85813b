package cli

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/wiki"
)

// A title stored before titles were checked (the store refuses it now, so
// the end-to-end tests cannot make one): escapes and a line break.
const storedBadTitle = "Old\x1b]0;pwned\a\x1b[2J\nforged  line"

func requireInert(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\a", "\r", "\u009b", "\u202e"} {
		if strings.Contains(out, bad) {
			t.Fatalf("output holds %q raw: %q", bad, out)
		}
	}
}

// testCid is a CID whose text is prefix followed by as many of its last
// letter as a CID of a SHA-256 hash takes.
func testCid(prefix string) cid.Cid {
	return cid.MustParse(prefix + strings.Repeat(prefix[len(prefix)-1:], 59-len(prefix)))
}

func TestPageListQuotesStoredTitles(t *testing.T) {
	var b bytes.Buffer
	a := testCid("bafyreiaaaaaaaaaaaaaaaa")
	printPageListEditing(newPrinter(&b), []wiki.PageInfo{
		{ID: a, Title: storedBadTitle, Updated: time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)},
		{ID: testCid("bafyreibbbbbbbbbbbbbbbb"), Title: "Plain", Updated: time.Date(2026, 11, 26, 9, 31, 0, 0, time.UTC)},
	}, map[string][]editor{a.String(): {{Name: "eve\x1b[5m\u202e", PeerID: "12D3KooW", Since: time.Date(2026, 11, 26, 9, 31, 0, 0, time.UTC)}}})
	out := b.String()
	requireInert(t, out)
	want := "bafyreiaaaaaaaaa  2026-11-26T09:30  Old\\e]0;pwned\\a\\e[2J\\nforged  line [being edited by eve\\e[5m\\u202e]\n" +
		"bafyreibbbbbbbbb  2026-11-26T09:31  Plain\n"
	if out != want {
		t.Fatalf("list:\n%q\nwant\n%q", out, want)
	}
}

func TestPageViewQuotesStoredTitlesAndBodies(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	headA, headB := testCid("bafyreia"), testCid("bafyreib")
	v := &wiki.PageView{
		PageInfo: wiki.PageInfo{ID: testCid("bafyreiaaaa"), Title: storedBadTitle, Rev: headA, Updated: at,
			Conflict: true, Heads: []cid.Cid{headA, headB}},
		Versions: []wiki.Version{
			{Rev: headA, Title: storedBadTitle, Body: "x\x1b[2J\r\nok\ty\rz\n", Name: "mallory\x1b[31m", Author: "12D3KooWa", Time: at},
			{Rev: headB, Title: "Plain", Body: "b\u009b\n", Name: "bob", Author: "12D3KooWb", Time: at},
		},
		Links:     []string{"Ghost\x1b[H"},
		Backlinks: []wiki.PageRef{{ID: testCid("bafyreic"), Title: "Back\u2066"}},
	}
	var b bytes.Buffer
	printPageView(newPrinter(&b), v, nil)
	out := b.String()
	requireInert(t, strings.ReplaceAll(out, "\r\n", "\n"))
	for _, want := range []string{
		"=== version 1 of 2: Old\\e]0;pwned\\a\\e[2J\\nforged  line\n",
		"mallory\\e[31m (12D3KooWa)",
		"x\\e[2J\r\nok\ty\\rz\n", // a CRLF line end and a tab are text; a lone CR is not
		"b\\u009b\n",
		"Links: Ghost\\e[H\n",
		"Linked from: Back\\u2066\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
}

// list --json streams its array one page at a time: the bytes are those
// of the whole array encoded at once, empty list included.
func TestStreamedPageListJSONIsTheArray(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	a, b := testCid("bafyreiaaaaaaaaaaaaaaaa"), testCid("bafyreibbbbbbbbbbbbbbbb")
	editing := map[string][]editor{a.String(): {{Name: "eve <&>", PeerID: "12D3KooW", Since: at}}}
	for _, pages := range [][]wiki.PageInfo{
		nil,
		{{ID: a, Title: "One <b>&", Rev: a, Heads: []cid.Cid{a}, Policy: "manual", Updated: at, Created: at}},
		{{ID: a, Title: "One", Rev: a, Heads: []cid.Cid{a, b}, Conflict: true, Updated: at, Created: at},
			{ID: b, Title: "Two \"q\"\n", Rev: b, Heads: []cid.Cid{b}, Deleted: true, Updated: at, Created: at}},
	} {
		want := []pageJSON{}
		for _, p := range pages {
			want = append(want, pageToJSON(p, editing[p.ID.String()]))
		}
		var wantOut, got bytes.Buffer
		if err := writeJSON(&wantOut, want); err != nil {
			t.Fatal(err)
		}
		err := streamPagesJSON(&got, func(fn func(wiki.PageInfo) error) error {
			for _, p := range pages {
				if err := fn(p); err != nil {
					return err
				}
			}
			return nil
		}, editing)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != wantOut.String() {
			t.Fatalf("streamed:\n%s\nwhole:\n%s", got.String(), wantOut.String())
		}
	}
}

type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.left -= len(p); w.left < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A write that fails stops list --json's walk of the pages, and is the
// error it returns.
func TestStreamedPageListJSONStopsWhenWritingFails(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	a := testCid("bafyreiaaaaaaaaaaaaaaaa")
	read := 0
	err := streamPagesJSON(&failingWriter{left: 1 << 20}, func(fn func(wiki.PageInfo) error) error {
		for range 1_000_000 {
			read++
			if err := fn(wiki.PageInfo{ID: a, Title: "A page with a title long enough", Rev: a, Heads: []cid.Cid{a}, Updated: at, Created: at}); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("error %v, want the writer's", err)
	}
	if read >= 1_000_000 {
		t.Fatal("the walk went on after writing failed")
	}
}

// appendStamp writes what time.Format writes with wiki.TimeFormat, for
// times of any year, zone and fraction of a second.
func TestAppendStampIsTimeFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	zones := []*time.Location{time.UTC, time.FixedZone("x", -9*3600-30*60), time.FixedZone("y", 14*3600)}
	times := []time.Time{time.Time{}, time.UnixMilli(0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}
	for range 2000 {
		times = append(times, time.Unix(rng.Int64N(1<<38)-1<<37, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))]))
	}
	for _, tm := range times {
		if got, want := stamp(tm), tm.UTC().Format(wiki.TimeFormat); got != want {
			t.Fatalf("stamp(%v) = %q, want %q", tm, got, want)
		}
	}
}
