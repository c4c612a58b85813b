package test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
	"peerwiki/wiki"
	"peerwiki/wiki/wikitest"
)

// What a hostile member's client writes into its revisions: escape
// sequences that retitle the window or clear the screen, BEL, a carriage
// return that overwrites, a C1 CSI, bidi overrides, and line breaks that
// would forge lines of output ("forged" always follows one).
const (
	evilName = "mallory\x1b]0;pwned\a\nforged name"
	evilMsg  = "fixed\x1b[2J\rforged msg\nforged line"
	evilBody = "Pay now\x1b]0;pwned\a\x1b[2J\n" +
		"safe\rforged text, csi \u009b31m and \xc2\x9b, \u202efdp.exe\u202c\n" +
		"isolate \u2066x\u2069, bell \a, tab\tkept\n"
	// Titles the store still takes that need quoting all the same. A title
	// with escapes or line breaks is refused since titles are checked; one
	// stored before is covered by the ui/cli and ui/tui tests.
	evilTitle  = "Invoice \u202efdp.exe"
	evilTitle2 = "Notes \u2066x\u2069\u200b"
)

// foreign stores a revision made by another member (its own key, its own
// name), as a sync would: page is cid.Undef for a new page.
func foreign(t *testing.T, r *wiki.Repo, id *history.Identity, page, parent cid.Cid, title, body, name, msg string) cid.Cid {
	t.Helper()
	ctx := context.Background()
	bodies, err := history.BodyBlocks(body)
	if err != nil {
		t.Fatal(err)
	}
	rev := &history.Revision{Wiki: r.Config.Wiki, Title: title, Body: history.Link{Cid: bodies[0].Cid},
		Name: name, Msg: msg}
	rev.Stamp(nil, time.Now())
	if page.Defined() {
		p, err := r.Revision(ctx, parent)
		if err != nil {
			t.Fatal(err)
		}
		rev.Page = &history.Link{Cid: page}
		rev.SetParents([]cid.Cid{parent})
		rev.Stamp([]*history.Revision{p}, time.Now())
	} else {
		rev.Nonce = make([]byte, 16)
		rand.Read(rev.Nonce)
	}
	if err := rev.Sign(id.Key); err != nil {
		t.Fatal(err)
	}
	blk, err := rev.Block()
	if err != nil {
		t.Fatal(err)
	}
	res, err := wikitest.Store(r).Put(ctx, append(bodies, blk))
	if err != nil {
		t.Fatalf("store %q: %v", title, err)
	}
	if err := r.ApplyPolicies(ctx, res.Divergent); err != nil {
		t.Fatal(err)
	}
	return blk.Cid
}

// requireInert fails when output holds anything a terminal acts on, or a
// line a hostile string forged.
func requireInert(t *testing.T, what, out string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\a", "\r", "\xc2\x9b", "\x9b", "\u202e", "\u202c", "\u2066", "\u2069", "\u200b", "\nforged"} {
		if strings.Contains(out, bad) {
			t.Fatalf("%s: output holds %q:\n%s", what, bad, out)
		}
	}
}

// hostileRepo is alice's repo after a sync with mallory: mallory's pages,
// an edit of alice's Plan that conflicts with hers, and mallory heard
// editing Plan. It returns the repo, mallory's Invoice page and Plan.
func hostileRepo(t *testing.T) (*Repo, cid.Cid, string) {
	t.Helper()
	r := InitRepo(t, "alice")
	plan := r.OK("new", "Plan", "--body", "one\ntwo\n")

	w, err := wiki.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := history.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	// Mallory is a member (who else could send alice anything).
	if err := w.AddMember(context.Background(), mallory.ID, "mallory", wiki.RoleMember); err != nil {
		t.Fatal(err)
	}
	planID, _ := cid.Decode(plan)
	invoice := foreign(t, w, mallory, cid.Undef, cid.Undef, evilTitle, evilBody, evilName, evilMsg)
	foreign(t, w, mallory, invoice, invoice, evilTitle, evilBody+"more \x1b[H\n", evilName, evilMsg)
	foreign(t, w, mallory, cid.Undef, cid.Undef, evilTitle2, "see [[Ghost\x1b[5m]] and [["+evilTitle+"]]\n", evilName, evilMsg)
	// A conflict on Plan: mallory's edit against alice's below.
	foreign(t, w, mallory, planID, planID, "Plan", "one\x1b[2J\ntwo\n", evilName, evilMsg)
	// Mallory is heard editing Plan right now.
	heard, _ := json.Marshal([]map[string]any{{"peer_id": mallory.ID.String(), "name": evilName, "page": plan,
		"since": time.Now().UnixMilli(), "expires": time.Now().Add(time.Hour).UnixMilli()}})
	if err := os.WriteFile(filepath.Join(r.Dir, "presence.json"), heard, 0o600); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.OK("edit", "Plan", "--parent", plan, "--body", "one\ntwo alice\n", "-m", "mine")
	return r, invoice, plan
}

func TestHostileTextNeverReachesTheTerminal(t *testing.T) {
	r, invoice, _ := hostileRepo(t)

	runs := [][]string{
		{"list"}, {"list", "--all"}, {"show", invoice.String()}, {"show", "Plan"}, {"show", evilTitle2},
		{"log", invoice.String()}, {"log", "--graph", invoice.String()}, {"log", "--graph", "Plan"},
		{"search", "pay"}, {"search", "isolate"}, {"conflicts"}, {"status"},
		{"diff", "Plan"}, {"diff", invoice.String()}, {"merge", "--auto", "Plan"},
		{"show", invoice.String(), "--rev", invoice.String()},
	}
	outs := map[string]string{}
	for _, args := range runs {
		res := r.Run(args...)
		if res.Code != 0 {
			t.Fatalf("peerwiki %s: exit %d\n%s%s", strings.Join(args, " "), res.Code, res.Stdout, res.Stderr)
		}
		what := strings.Join(args, " ")
		requireInert(t, what, res.Stdout+res.Stderr)
		outs[what] = res.Stdout
	}
	// A page named in a command: the error quotes it too.
	res := r.Run("show", "Ghost\x1b]0;x\a")
	requireInert(t, "show Ghost", res.Stderr)

	for what, wants := range map[string][]string{
		"list":                            {`Invoice \u202efdp.exe`, `Notes \u2066x\u2069\u200b`, `[being edited by mallory\e]0;pwned\a\nforged name]`},
		"show " + invoice.String():        {`Pay now\e]0;pwned\a\e[2J`, `safe\rforged text, csi \u009b31m and \u009b, \u202efdp.exe\u202c`, "tab\tkept\n", `more \e[H`},
		"show Plan":                       {`being edited by mallory\e]0;pwned\a\nforged name`, `mallory\e]0;pwned\a\nforged name (`, `one\e[2J`},
		"show " + evilTitle2:              {`[[Ghost\e[5m]]`, `Links: Invoice \u202efdp.exe`},
		"log " + invoice.String():         {`Invoice \u202efdp.exe — mallory\e]0;pwned\a\nforged name (`, `: fixed\e[2J\rforged msg\nforged line`},
		"log --graph " + invoice.String(): {`* `, `fixed\e[2J\rforged msg\nforged line`},
		"search pay":                      {`Invoice \u202efdp.exe`},
		"conflicts":                       {`mallory\e]0;pwned\a\nforged name (`},
		"diff Plan":                       {`one\e[2J`},
		"diff " + invoice.String():        {`+more \e[H`},
		"show " + invoice.String() + " --rev " + invoice.String(): {`Invoice \u202efdp.exe`},
	} {
		for _, want := range wants {
			if !strings.Contains(outs[what], want) {
				t.Errorf("%s lacks %q:\n%s", what, want, outs[what])
			}
		}
	}
	// JSON stays exact data.
	var p Page
	r.JSON(&p, "show", invoice.String(), "--json")
	if p.Title != evilTitle || !strings.HasPrefix(p.Body, evilBody) {
		t.Fatalf("show --json changed the data: %q %q", p.Title, p.Body)
	}
}

func TestTUIShowsHostileTextQuoted(t *testing.T) {
	r, _, _ := hostileRepo(t)
	u := startTUI(t, r, "tui", "--offline")
	title := func() string { return strings.TrimSpace(u.tmux("display-message", "-p", "-t", "0", "#{pane_title}")) }
	before := title()
	screen := u.waitFor(5*time.Second, `Invoice \u202efdp.exe`, `Notes \u2066x\u2069\u200b`, "Plan")
	requireInert(t, "browser", screen)
	u.keys("Enter")
	screen = u.waitFor(5*time.Second, `Pay now\e]0;pwned\a\e[2J`, `safe\rforged text, csi \u009b31m`, `\u202efdp.exe\u202c`)
	requireInert(t, "viewer", screen)
	u.keys("Escape")
	u.waitFor(5*time.Second, "3 pages")
	u.keys("G", "Enter")
	screen = u.waitFor(5*time.Second, `[being edited by mallory\e]0;pwned\a\nforged name`, `one\e[2J`)
	requireInert(t, "viewer of Plan", screen)
	if after := title(); after != before || strings.Contains(after, "pwned") {
		t.Fatalf("the pane's title went from %q to %q", before, after)
	}
}
