package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// peerJSON is one entry of `peers --json`.
type peerJSON struct {
	PeerID    string   `json:"peer_id"`
	Name      string   `json:"name"`
	Addrs     []string `json:"addrs"`
	Connected bool     `json:"connected"`
	Since     string   `json:"since"`
}

// connected is the names of the replicas the node on r is connected to.
func (r *Repo) connected() map[string]bool {
	r.T.Helper()
	var ps []peerJSON
	r.JSON(&ps, "peers", "--json")
	out := map[string]bool{}
	for _, p := range ps {
		if p.Connected {
			out[p.Name] = true
		}
	}
	return out
}

// waitConnected waits until the node on r is connected to every one of
// names.
func (r *Repo) waitConnected(d time.Duration, names ...string) {
	r.T.Helper()
	Eventually(r.T, d, fmt.Sprintf("%s's node to be connected to %v", filepath.Base(filepath.Dir(r.Dir)), names), func() bool {
		c := r.connected()
		for _, n := range names {
			if !c[n] {
				return false
			}
		}
		return true
	})
}

// nodePID is the pid of the process holding the repo's node lock.
func (r *Repo) nodePID() int {
	r.T.Helper()
	var owner struct{ PID int }
	b, err := os.ReadFile(filepath.Join(r.Dir, "node.lock"))
	if err != nil || json.Unmarshal(b, &owner) != nil || owner.PID <= 0 {
		r.T.Fatalf("node.lock: %q %v", b, err)
	}
	return owner.PID
}

// idAddrs are the addresses `id` reports: the running node's.
func (r *Repo) idAddrs() []string {
	r.T.Helper()
	var id struct{ Addrs []string }
	r.JSON(&id, "id", "--json")
	return id.Addrs
}

// inviteAndServe is the natural topology: the node running on r (its
// serve or its UI) makes an invite; a replica for each of names joins
// with it and serves, knowing r by the address in the code only; and it
// waits until r's node is connected to all of them.
func inviteAndServe(t *testing.T, r *Repo, names ...string) ([]*Repo, []*Serve) {
	t.Helper()
	code := r.OK("invite", "--uses", strconv.Itoa(len(names)))
	var repos []*Repo
	var serves []*Serve
	for _, name := range names {
		j := NewRepo(t)
		j.OK("join", code, "--name", name)
		repos = append(repos, j)
		serves = append(serves, j.StartServe())
	}
	r.waitConnected(10*time.Second, names...)
	return repos, serves
}

// addrOf is a serve's address without its /p2p/ part: where it listens.
func addrOf(s *Serve) string {
	a := s.Addr()
	return a[:strings.LastIndex(a, "/p2p/")]
}

// The member who invited everyone else confirms, syncs and sees her
// peers like those who joined her: Ada serves and invites, Bob and Carol
// join and serve with her address only; Ada never dials them first.
func TestInviterConfirmsAndSyncsLikeEveryone(t *testing.T) {
	ada := InitRepo(t, "ada")
	page := ada.OK("new", "Note", "--body", "v1\n")
	sa := ada.StartServe()
	repos, serves := inviteAndServe(t, ada, "bob", "carol")
	bob, carol, sb, sc := repos[0], repos[1], serves[0], serves[1]

	// Remembered where they listen, not at their connections' ports.
	var ps []peerJSON
	ada.JSON(&ps, "peers", "--json")
	want := map[string]string{"bob": addrOf(sb), "carol": addrOf(sc)}
	for _, p := range ps {
		if len(p.Addrs) == 0 || p.Addrs[0] != want[p.Name] || p.Since == "" {
			t.Fatalf("ada's peers: %+v, want bob at %s and carol at %s", ps, want["bob"], want["carol"])
		}
	}
	if out := ada.OK("peers"); !strings.Contains(out, "bob") || !strings.Contains(out, "connected since") {
		t.Fatalf("peers:\n%s", out)
	}

	res := ada.Run("edit", page, "--body", "v2\n", "--confirm", "2")
	if res.Code != 0 || !strings.Contains(res.Stderr, "confirmed by 2 replicas: ") || !strings.Contains(res.Stderr, "bob") || !strings.Contains(res.Stderr, "carol") {
		t.Fatalf("ada's --confirm 2: %+v", res)
	}
	rev := strings.TrimSpace(res.Stdout)
	for _, r := range []*Repo{bob, carol} {
		if r.Show(page).Rev != rev {
			t.Fatal("a replica that confirmed does not hold the revision")
		}
	}

	bob.OK("edit", page, "--body", "v3 from bob\n")
	var rep syncJSON
	ada.JSON(&rep, "sync", "--json")
	if len(rep.Peers) != 2 {
		t.Fatalf("ada's plain sync: %+v", rep)
	}
	if got := ada.Show(page).Body; got != "v3 from bob\n" {
		t.Fatalf("after ada's sync: %q", got)
	}

	// Restarted on another port (Bob and Carol know only the old one),
	// Ada's node dials them by itself.
	sa.Stop()
	sa = ada.StartServe()
	ada.waitConnected(15*time.Second, "bob", "carol")
	sb.Stop()
	sc.Stop()
	sa.Stop()
}

// The same with the terminal UI as Ada's node, started before the wiki
// was shared: it listens nowhere until the invite, then like serve.
func TestInviterInTheUIConfirmsAndSyncsLikeEveryone(t *testing.T) {
	ada := InitRepo(t, "ada")
	page := ada.OK("new", "Note", "--body", "v1\n")
	u := startTUI(t, ada, "tui", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	u.waitFor(10*time.Second, "Note", "not shared")
	pid := ada.nodePID()
	if socks := networkSockets(t, pid); len(socks) > 0 {
		t.Fatalf("the UI on a wiki never shared has network sockets: %v", socks)
	}
	if addrs := ada.idAddrs(); len(addrs) != 0 {
		t.Fatalf("id lists addresses of a node not shared: %v", addrs)
	}

	repos, _ := inviteAndServe(t, ada, "bob", "carol")
	if socks := networkSockets(t, pid); len(socks) == 0 {
		t.Fatal("after the invite, the UI's node listens nowhere")
	}
	bob := repos[0]
	u.waitFor(5*time.Second, "online · 2 peers")

	res := ada.Run("edit", page, "--body", "v2\n", "--confirm", "2")
	if res.Code != 0 || !strings.Contains(res.Stderr, "confirmed by 2 replicas") {
		t.Fatalf("ada's --confirm 2 through the UI's node: %+v", res)
	}
	bob.OK("edit", page, "--body", "v3 from bob\n")
	var rep syncJSON
	ada.JSON(&rep, "sync", "--json")
	if len(rep.Peers) != 2 {
		t.Fatalf("ada's plain sync through the UI's node: %+v", rep)
	}
	// A second serve on the repo is refused while the UI runs the node.
	res = ada.Run("serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if res.Code != 1 || !strings.Contains(res.Stderr, "the terminal UI, pid "+strconv.Itoa(pid)) {
		t.Fatalf("serve next to the UI: %+v", res)
	}

	// The UI again, on another port: it dials Bob and Carol itself.
	u.keys("q")
	u.waitFor(5*time.Second, "[exited 0]")
	u.tmux("kill-server")
	Eventually(t, 5*time.Second, "the first UI's tmux server to stop", func() bool {
		return exec.Command("tmux", "-L", u.sock, "list-sessions").Run() != nil
	})
	u = startTUI(t, ada, "tui", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	u.waitFor(15*time.Second, "online · 2 peers")
	ada.waitConnected(5*time.Second, "bob", "carol")
}

// networkSockets lists the TCP and UDP sockets (IPv4 and IPv6) a
// process holds: those among its descriptors that its network
// namespace's tables list.
func networkSockets(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("cannot read the descriptors of pid %d: %v", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && err == nil {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && inodes[f[9]] {
				out = append(out, table+" "+f[1])
			}
		}
	}
	return out
}

// A serve killed outright leaves its socket; commands then work without
// a node, and the next serve replaces it. Two serves on one repo: the
// second says which one runs.
func TestOneNodePerRepo(t *testing.T) {
	a := InitRepo(t, "ada")
	a.OK("new", "Note", "--body", "x\n")
	s := a.StartServe()
	res := a.Run("serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	sock := filepath.Join(a.Dir, "node.sock")
	pid := s.cmd.Process.Pid
	want := fmt.Sprintf("peerwiki: a node already runs on this repo: peerwiki serve, pid %d, control socket %s", pid, sock)
	if res.Code != 1 || !strings.HasPrefix(res.Stderr, want) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Fatalf("a second serve: exit %d, stderr %q, want it to start with %q", res.Code, res.Stderr, want)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v %v", fi, err)
	}

	s.cmd.Process.Kill()
	<-s.done
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the killed node's socket is gone already (%v): nothing to test", err)
	}
	if addrs := a.idAddrs(); len(addrs) != 0 {
		t.Fatalf("id lists a dead node's addresses: %v", addrs)
	}
	a.Fail(1, []string{"sync", "--no-mdns"}, "no replica reachable: none remembered and no node running on this repo")

	s = a.StartServe()
	if addrs := a.idAddrs(); len(addrs) != 1 || addrs[0] != s.Addr() {
		t.Fatalf("id after the restart: %v, want %s", addrs, s.Addr())
	}
	s.Stop()
	if _, err := os.Stat(sock); err == nil {
		t.Fatal("the control socket outlived serve")
	}
}

// The control socket answers its user only: another user cannot open it
// (mode 0600), and is refused by the node (SO_PEERCRED) even where the
// socket's mode would let it in.
func TestControlSocketRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a client as another user (setpriv)")
	}
	for _, tool := range []string{"setpriv", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the test runs curl as another user through it", tool)
		}
	}
	a := InitRepo(t, "ada")
	s := a.StartServe()
	sock := filepath.Join(a.Dir, "node.sock")
	// Let the other user reach the socket's directory (never the repo's
	// files, which stay 0600).
	for d := a.Dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	asNobody := func() (string, error) {
		out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"curl", "-sS", "--max-time", "5", "--unix-socket", sock, "http://peerwiki/v1/status").CombinedOutput()
		return string(out), err
	}
	// The user's own request works.
	if out, err := exec.Command("curl", "-sS", "--max-time", "5", "--unix-socket", sock, "http://peerwiki/v1/status").CombinedOutput(); err != nil || !strings.Contains(string(out), `"peer_id"`) {
		t.Fatalf("the owner's request: %v %s", err, out)
	}
	if out, err := asNobody(); err == nil || strings.Contains(out, "peer_id") {
		t.Fatalf("another user opened a socket of mode 0600: %v %s", err, out)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err := asNobody()
	if err != nil || !strings.Contains(out, "answers only its own user") || strings.Contains(out, "peer_id") {
		t.Fatalf("another user, through a socket left open: %v %s", err, out)
	}
	Eventually(t, 5*time.Second, "the refusal in serve's log", func() bool {
		return strings.Contains(s.Log(), "refused a control request from another user") && strings.Contains(s.Log(), "uid=65534")
	})
}

// Presence from `edit` with $EDITOR goes through the node on the repo,
// and ends with the editor's process, however it ends.
func TestEditorPresenceThroughTheNode(t *testing.T) {
	a := InitRepo(t, "ada")
	page := a.OK("new", "Shared", "--body", "x\n")
	sa := a.StartServe()
	repos, _ := inviteAndServe(t, a, "bob")
	b := repos[0]
	// A terminal is what makes edit open $EDITOR: tmux gives it one.
	a.Env = append(a.Env, "EDITOR=sleep 60 #")
	u := startTUI(t, a, "edit", page)
	Eventually(t, 5*time.Second, "presence to reach bob", func() bool {
		p := b.Show(page)
		return len(p.Editing) == 1 && p.Editing[0].Name == "ada"
	})
	if entries, _ := os.ReadDir(filepath.Join(a.Dir, "editing")); len(entries) != 0 {
		t.Fatalf("with a node running, edit wrote presence files: %v", entries)
	}
	u.tmux("kill-server") // the editor and edit die: the node hears the request close
	killed := time.Now()
	Eventually(t, 5*time.Second, "presence to end with the editor", func() bool {
		return len(b.Show(page).Editing) == 0
	})
	// At once, not when the lease (10 s) ran out.
	if d := time.Since(killed); d > 3*time.Second {
		t.Fatalf("presence ended %s after the editor", d)
	}
	sa.Stop()
}

// A UI opened next to a running serve uses that node; when the serve
// stops, the UI takes over: it runs the repo's node itself and stays
// online, reachable by the other commands through the control socket.
func TestUITakesOverWhenTheServeStops(t *testing.T) {
	a := InitRepo(t, "ada")
	a.OK("new", "Note", "--body", "x\n")
	a.OK("invite", "--addr", "/ip4/127.0.0.1/tcp/9") // shared: the UI runs its node on the network
	s := a.StartServe()
	ui := startTUI(t, a)
	ui.waitFor(10*time.Second, "via peerwiki serve")
	s.Stop()
	if scr := ui.waitFor(15*time.Second, "online"); strings.Contains(scr, "via peerwiki serve") {
		t.Fatalf("the UI still shows the stopped serve:\n%s", scr)
	}
	if pid := a.nodePID(); pid == s.cmd.Process.Pid {
		t.Fatal("the node lock is still the stopped serve's")
	}
	if addrs := a.idAddrs(); len(addrs) == 0 {
		t.Fatal("no node answers on the control socket after the takeover")
	}
}

// What Ada writes in the UI next to her running serve reaches Bob as a
// command's edit does: the UI tells the serve what it committed, and
// the serve announces it as it is, without reading it back.
func TestUIEditsNextToAServeAreNoticed(t *testing.T) {
	ada := InitRepo(t, "ada")
	ada.OK("new", "Note", "--body", "x\n")
	ada.Env = append(ada.Env, "PEERWIKI_LOG=debug")
	sa := ada.StartServe()
	repos, _ := inviteAndServe(t, ada, "bob")
	bob := repos[0]
	u := startTUI(t, ada)
	u.waitFor(10*time.Second, "via peerwiki serve")
	u.createPage("Written in the UI", "hello from the UI")
	Eventually(t, 5*time.Second, "bob to have the page", func() bool {
		res := bob.Run("show", "Written in the UI")
		return res.Code == 0 && strings.Contains(res.Stdout, "hello from the UI")
	})
	if !strings.Contains(sa.Log(), `msg="commit notice"`) || !regexp.MustCompile(`msg="commit notice" committed_us=\d+ revisions=1 `).MatchString(sa.Log()) {
		t.Fatalf("the serve had no notice with the UI's revision:\n%s", sa.Log())
	}
}
