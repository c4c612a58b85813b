package test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Issue 19, shallow join: a new member reads and writes the wiki before
// its history has come. Arranged as members do: Ada has a wiki with
// history and serves it; Carol joins with --shallow, Bob with a plain
// join; everyone else talks to Ada.

type fsckReport struct {
	OK       bool `json:"ok"`
	Warnings []struct {
		Object string `json:"object"`
		Error  string `json:"error"`
	} `json:"warnings"`
}

func shallowWarnings(r *Repo) int {
	r.T.Helper()
	var f fsckReport
	r.JSON(&f, "fsck", "--json")
	if !f.OK {
		r.T.Fatalf("fsck: %+v", f)
	}
	n := 0
	for _, w := range f.Warnings {
		if w.Object == "history" {
			n++
		}
	}
	return n
}

func logLen(r *Repo, page string) int {
	r.T.Helper()
	var log []json.RawMessage
	r.JSON(&log, "log", page, "--json")
	return len(log)
}

func TestShallowJoinReadsAndWritesBeforeTheHistory(t *testing.T) {
	ada := InitRepo(t, "ada")
	ids := ada.ImportHistory(30, 4, 300)
	sa := ada.StartServe()
	defer sa.Stop()

	carol := NewRepo(t)
	out := carol.OK("join", ada.OK("invite"), "--name", "carol", "--shallow")
	if !strings.Contains(out, "The history of 30 pages is not here yet") {
		t.Fatalf("join --shallow said:\n%s", out)
	}
	if got, want := carol.HeadsState(), ada.HeadsState(); got != want {
		t.Fatalf("the shallow replica's pages differ:\n%s\nwant\n%s", got, want)
	}
	if body := carol.Show(ids[7]).Body; body != ada.Show(ids[7]).Body {
		t.Fatalf("shallow page body %q", body)
	}
	if n := logLen(carol, ids[7]); n != 1 {
		t.Fatalf("a shallow page's log has %d entries", n)
	}
	if res := carol.Run("log", ids[7]); !strings.Contains(res.Stderr+res.Stdout, "not here yet") {
		t.Fatalf("log of a shallow page does not say its history is missing:\n%s%s", res.Stdout, res.Stderr)
	}
	if n := shallowWarnings(carol); n != 1 {
		t.Fatalf("fsck of the shallow replica: %d history warnings", n)
	}
	// In a browser, what the last revision changed says why it cannot.
	web := carol.StartWeb()
	resp, err := http.Get(web.URL + "page/" + ids[7] + "/diff")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(html), `id="history-missing"`) {
		t.Fatalf("web diff of a shallow page: %d\n%s", resp.StatusCode, html)
	}
	// And its history says that older revisions are still to come.
	resp, err = http.Get(web.URL + "page/" + ids[7] + "/history")
	if err != nil {
		t.Fatal(err)
	}
	html, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(html), `id="history-missing"`) {
		t.Fatalf("web history of a shallow page: %d\n%s", resp.StatusCode, html)
	}

	// Writable, and it syncs with the inviter, both ways.
	carol.OK("edit", ids[3], "--body", "carol wrote this on a shallow replica\n")
	carol.OK("sync")
	if got := ada.Show(ids[3]).Body; got != "carol wrote this on a shallow replica\n" {
		t.Fatalf("the inviter has %q", got)
	}
	ada.OK("edit", ids[4], "--body", "ada's later edit\n")
	carol.OK("sync")
	if got := carol.Show(ids[4]).Body; got != "ada's later edit\n" {
		t.Fatalf("the shallow replica has %q", got)
	}

	// A conflict on a shallow page: both edit the same head; the merge
	// base is that head, here on the shallow replica.
	ada.OK("edit", ids[9], "--body", "line one\nada's line two\n")
	carol.OK("edit", ids[9], "--body", "line one\ncarol's line two\n")
	carol.OK("sync")
	if p := carol.Show(ids[9]); len(p.Heads) != 2 {
		t.Fatalf("no conflict after concurrent edits: %+v", p)
	}
	carol.OK("resolve", ids[9], "--body", "line one\nboth lines two\n")
	carol.OK("sync")
	if got := ada.Show(ids[9]); len(got.Heads) != 1 || got.Body != "line one\nboth lines two\n" {
		t.Fatalf("the inviter after the resolution: %+v", got)
	}
	if n := shallowWarnings(carol); n != 1 {
		t.Fatalf("a kept-shallow replica fetched its history on its own (%d warnings)", n)
	}

	// The history, when asked for.
	out = carol.OK("sync", "--unshallow")
	if !strings.Contains(out, "history: complete") {
		t.Fatalf("sync --unshallow said:\n%s", out)
	}
	if n := shallowWarnings(carol); n != 0 {
		t.Fatal("history still missing after sync --unshallow")
	}
	want, _ := ada.Revisions()
	got, _ := carol.Revisions()
	if len(got) != len(want) {
		t.Fatalf("carol holds %d revisions, ada %d", len(got), len(want))
	}
	for r := range want {
		if !got[r] {
			t.Fatalf("carol lacks %s", r)
		}
	}

	// A plain join takes the current versions first and the history
	// right after: complete when it returns.
	bob := NewRepo(t)
	bob.OK("join", ada.OK("invite"), "--name", "bob")
	if n := shallowWarnings(bob); n != 0 {
		t.Fatal("a plain join left history missing")
	}
	if n, want := logLen(bob, ids[7]), logLen(ada, ids[7]); n != want {
		t.Fatalf("bob's log has %d entries, ada's %d", n, want)
	}
}

// A replica that lacks history without having asked to stay shallow (a
// join cut short) fetches it from its serve, in the background.
func TestShallowReplicaFetchesHistoryInTheBackground(t *testing.T) {
	ada := InitRepo(t, "ada")
	ids := ada.ImportHistory(20, 3, 200)
	sa := ada.StartServe()
	defer sa.Stop()
	carol := NewRepo(t)
	carol.OK("join", ada.OK("invite"), "--name", "carol", "--shallow")
	// Carol asks for the history while Ada is away: the sync fails, the
	// wish stays; her serve fetches it when Ada's node is back.
	listen := strings.Split(sa.Addr(), "/p2p/")[0]
	sa.Stop()
	carol.Run("sync", "--unshallow", "--timeout", "1s", "--no-mdns")
	sc := carol.StartServe()
	defer sc.Stop()
	// Ada's node comes back where it was (serve listens on 7171 when it
	// can: a member's address does not change with a restart).
	sa = ada.StartServe("--listen", listen)
	defer sa.Stop()
	Eventually(t, 30*time.Second, "the history to arrive", func() bool {
		return logLen(carol, ids[5]) == 3
	})
	if n := shallowWarnings(carol); n != 0 {
		t.Fatal("history still missing")
	}
}
