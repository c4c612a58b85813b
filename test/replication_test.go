package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syncJSON is the shape of `sync --json`.
type syncJSON struct {
	Peers []struct {
		PeerID   string `json:"peer_id"`
		Sent     int    `json:"sent"`
		Received int    `json:"received"`
	} `json:"peers"`
	Conflicts  []string `json:"conflicts"`
	DurationMS int64    `json:"duration_ms"`
}

func (r *Repo) syncWith(addr string) syncJSON {
	r.T.Helper()
	var out syncJSON
	r.JSON(&out, "sync", "--peer", addr, "--timeout", "5s", "--json")
	return out
}

func TestThreeReplicasEditApartAndConverge(t *testing.T) {
	a := InitRepo(t, "alice")
	shared := a.OK("new", "Shared", "--body", "first version\n")
	title := a.OK("new", "Plans", "--body", "what we plan\n")

	sa := a.StartServe()
	code := a.OK("invite", "--uses", "2")
	if !strings.HasPrefix(code, "peerwiki2:") || strings.Contains(code, "\n") {
		t.Fatalf("invite printed %q", code)
	}
	b, c := NewRepo(t), NewRepo(t)
	b.OK("join", code, "--name", "bob")
	c.OK("join", code, "--name", "carol")
	if info, err := os.Stat(filepath.Join(b.Dir, "identity.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("joined repo's identity: %v %v", info, err)
	}
	sa.Stop()

	// Each replica edits while the others are stopped.
	a.OK("edit", shared, "--body", "first version\nalice's line\n")
	onlyA := a.OK("new", "Alice's page", "--body", "by alice\n")
	b.OK("new", "Bob's page", "--body", "by bob\n")
	b.OK("edit", title, "--title", "Plans B")
	c.OK("new", "Carol's page", "--body", "by carol\n")
	c.OK("edit", title, "--title", "Plans C")

	// Bring them together: A serves, B and C sync with it (B twice, to
	// get what C brought).
	sa = a.StartServe()
	rb := b.syncWith(sa.Addr())
	// Bob receives Alice's two revisions and the member list's add of
	// Carol, who joined after him.
	if len(rb.Peers) != 1 || rb.Peers[0].Received != 3 || rb.Peers[0].Sent != 2 {
		t.Fatalf("b's sync: %+v", rb)
	}
	rc := c.syncWith(sa.Addr())
	if len(rc.Conflicts) != 1 || rc.Conflicts[0] != title {
		t.Fatalf("c's sync should report the title conflict: %+v", rc)
	}
	b.syncWith(sa.Addr())
	sa.Stop()

	snap := a.Snapshot()
	if snap != b.Snapshot() || snap != c.Snapshot() {
		t.Fatalf("replicas differ:\nA:\n%s\nB:\n%s\nC:\n%s", snap, b.Snapshot(), c.Snapshot())
	}
	if got := len(a.List()); got != 5 {
		t.Fatalf("%d pages, want 5", got)
	}
	if p := b.Show(onlyA); p.Title != "Alice's page" {
		t.Fatalf("alice's page on b: %+v", p)
	}
	// The concurrent title change is the same conflict everywhere.
	for _, r := range []*Repo{a, b, c} {
		p := r.Show(title)
		if !p.Conflict || len(p.Heads) != 2 || len(p.Versions) != 2 {
			t.Fatalf("%s: title change should be a conflict: %+v", r.Dir, p)
		}
		titles := []string{p.Versions[0].Title, p.Versions[1].Title}
		if !(titles[0] == "Plans B" && titles[1] == "Plans C" || titles[0] == "Plans C" && titles[1] == "Plans B") {
			t.Fatalf("%s: conflict versions %v", r.Dir, titles)
		}
		var conflicts []map[string]any
		r.JSON(&conflicts, "conflicts", "--json")
		if len(conflicts) != 1 || conflicts[0]["id"] != title {
			t.Fatalf("%s: conflicts %v", r.Dir, conflicts)
		}
		r.OK("fsck")
	}
}

func TestSyncAndJoinErrors(t *testing.T) {
	a := InitRepo(t, "alice")
	a.OK("new", "Page", "--body", "x\n")
	other := InitRepo(t, "mallory")
	so := other.StartServe()

	// No serve and no --addr: invite says what to do.
	a.Fail(1, []string{"invite"}, "peerwiki serve")
	// Unreachable peer, and a peer of another wiki (another key).
	start := time.Now()
	// Nothing listens at port 9: refused at once, and said so (not "within 1s").
	res := a.Fail(1, []string{"sync", "--peer", "/ip4/127.0.0.1/tcp/9/p2p/" + peerID(t, so.Addr()), "--timeout", "1s"}, "could not reach any peer: ", "connection refused")
	if time.Since(start) > 4*time.Second {
		t.Fatalf("sync took %s with --timeout 1s", time.Since(start))
	}
	a.Fail(1, []string{"sync", "--peer", so.Addr(), "--timeout", "1s"}, "could not reach any peer", "not a member")
	if strings.Contains(res.Stderr, "\n") && strings.Count(strings.TrimSpace(res.Stderr), "\n") > 0 {
		t.Fatalf("error is not one line: %q", res.Stderr)
	}
	// Usage errors.
	a.Fail(2, []string{"sync", "--peer", "not-a-multiaddr"})
	a.Fail(2, []string{"sync", "--peer", "/ip4/127.0.0.1/tcp/1"}, "/p2p/PEERID")
	// No peer at all.
	a.Fail(1, []string{"sync", "--no-mdns"}, "no replica reachable: none remembered and no node running on this repo")

	// Join codes: malformed, mistyped, and into an initialised repo.
	sa := a.StartServe()
	code := a.OK("invite")
	j := NewRepo(t)
	j.Fail(1, []string{"join", "hello"}, "invalid join code")
	typo := []byte(code)
	i := len(code) / 2
	typo[i] = map[bool]byte{true: 'b', false: 'a'}[typo[i] == 'a']
	j.Fail(1, []string{"join", string(typo)}, "invalid join code", "mistyped")
	j.Fail(1, []string{"join", code[:len(code)-5]}, "invalid join code")
	if _, err := os.Stat(j.Dir); err == nil {
		t.Fatal("a bad join code created the repo")
	}
	a.Fail(1, []string{"join", code}, "already initialised")
	// The invite never shows up in output other than invite's.
	j.OK("join", code)
	for _, out := range []string{a.OK("status", "--json"), a.OK("peers", "--json"), j.OK("peers"), a.OK("members"), sa.Log()} {
		if strings.Contains(out, code[len("peerwiki2:"):40]) {
			t.Fatal("the invite was printed")
		}
	}
	// A good sync: exit 0 and the JSON shape.
	j.OK("edit", "Page", "--body", "y\n")
	out := j.syncWith(sa.Addr())
	if len(out.Peers) != 1 || out.Peers[0].Sent != 1 || out.Peers[0].PeerID != peerID(t, sa.Addr()) || out.Conflicts == nil {
		t.Fatalf("sync --json: %+v", out)
	}
	// Without --peer: the remembered peers.
	a.OK("edit", "Page", "--body", "z\n")
	j.OK("sync", "--no-mdns", "--timeout", "5s")
	if got := j.Show("Page").Body; got != "z\n" {
		t.Fatalf("after sync with remembered peers: body %q", got)
	}
	var peers []map[string]any
	j.JSON(&peers, "peers", "--json")
	if len(peers) != 1 || peers[0]["remembered"] != true {
		t.Fatalf("peers: %v", peers)
	}
	// id reports a running serve's addresses through serve.json.
	var st map[string]any
	raw, err := os.ReadFile(filepath.Join(a.Dir, "serve.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil || st["peer_id"] != peerID(t, sa.Addr()) {
		t.Fatalf("serve.json: %s %v", raw, err)
	}
	sa.Stop()
	if _, err := os.Stat(filepath.Join(a.Dir, "serve.json")); err == nil {
		t.Fatal("serve.json outlived serve")
	}
}

func peerID(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndex(addr, "/p2p/")
	if i < 0 {
		t.Fatalf("address %q has no /p2p/", addr)
	}
	return addr[i+5:]
}

func revisions(r *Repo) int {
	r.T.Helper()
	var st struct {
		Revisions int `json:"revisions"`
	}
	r.JSON(&st, "status", "--json")
	return st.Revisions
}

func TestKilledMidSyncResumes(t *testing.T) {
	a := InitRepo(t, "alice")
	a.ImportHistory(400, 6, 3000)
	total := revisions(a)
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--no-sync")

	// Watch the database's write-ahead log with stat (a child process per
	// poll would be too slow to catch a sync of a few hundred ms): the kill
	// lands once the first batches are stored and well before the last.
	wal := filepath.Join(b.Dir, "peerwiki.db-wal")
	size := func() int64 {
		fi, err := os.Stat(wal)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	before := size()
	cmd := b.Command("sync", "--peer", sa.Addr(), "--timeout", "10s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	killed := false
	deadline := time.Now().Add(20 * time.Second)
	for !killed && time.Now().Before(deadline) {
		select {
		case <-done:
			deadline = time.Now()
		default:
		}
		if size() > before+1<<20 {
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed = true
		}
		time.Sleep(200 * time.Microsecond)
	}
	// A kill inside the first write transaction leaves no revision yet:
	// still a kill mid-sync, and the checks below hold the same.
	n := revisions(b)
	if !killed || n >= total {
		<-done
		t.Fatalf("the sync could not be caught mid-transfer (it finished or never started); revisions %d of %d", n, total)
	}
	t.Logf("killed the sync after %d of %d revisions", n, total)
	b.OK("fsck")
	b.syncWith(sa.Addr())
	if got := revisions(b); got != total {
		t.Fatalf("after the second sync: %d revisions, want %d", got, total)
	}
	b.OK("fsck")
	var la, lb []Page
	a.JSON(&la, "list", "--json")
	b.JSON(&lb, "list", "--json")
	ja, _ := json.Marshal(la)
	jb, _ := json.Marshal(lb)
	if string(ja) != string(jb) {
		t.Fatal("lists differ after resuming")
	}
}

func TestServeAnnouncesCLICommits(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Live", "--body", "v0\n")
	var id struct {
		Addrs []string `json:"addrs"`
	}
	a.JSON(&id, "id", "--json")
	if len(id.Addrs) != 0 {
		t.Fatalf("id lists addresses with no node running: %v", id.Addrs)
	}
	sa := a.StartServe()
	a.JSON(&id, "id", "--json")
	if len(id.Addrs) == 0 || !strings.Contains(strings.Join(id.Addrs, " "), "/p2p/") {
		t.Fatalf("id --json does not list the running node's addresses: %v", id.Addrs)
	}
	b := NewRepo(t)
	b.OK("join", a.OK("invite"))
	sb := b.StartServe("--peer", sa.Addr())
	Eventually(t, 10*time.Second, "b's serve to connect", func() bool {
		return strings.Contains(sb.Log(), "connected")
	})
	for i := 1; i <= 3; i++ {
		body := "v" + strconv.Itoa(i) + "\n"
		// Alternate the side that edits: each serve notices its CLI's commit.
		from, to := a, b
		if i%2 == 0 {
			from, to = b, a
		}
		from.OK("edit", page, "--body", body)
		start := time.Now()
		Eventually(t, 2*time.Second, "the edit to reach the other replica", func() bool {
			return to.Show(page).Body == body
		})
		t.Logf("edit %d reached the peer in %s (including polls of show)", i, time.Since(start).Round(time.Millisecond))
	}
}

// A node told to refuse a peer (serve --deny, the chaos harness's
// partitions) neither accepts it nor dials it.
func TestDeniedPeerIsCutOff(t *testing.T) {
	a := InitRepo(t, "alice")
	a.OK("new", "P", "--body", "x\n")
	b := NewRepo(t)
	sa := a.StartServe()
	b.OK("join", a.OK("invite"), "--no-sync")
	sa.Stop()
	var idb struct {
		PeerID string `json:"peer_id"`
	}
	b.JSON(&idb, "id", "--json")
	sa = a.StartServe("--deny", idb.PeerID)
	if res := b.Run("sync", "--peer", sa.Addr(), "--timeout", "2s"); res.Code == 0 {
		t.Fatalf("a denied peer synced: %+v", res)
	}
	if n := revisions(b); n != 0 {
		t.Fatalf("the denied peer got %d revisions", n)
	}
}
