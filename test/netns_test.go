package test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// netnsLAN is a private LAN made of network namespaces: one holding a
// bridge, and one per node with a veth into it and an address on a
// private test subnet. Nothing touches the machine's own interfaces.
type netnsLAN struct {
	t      *testing.T
	bridge string
	nodes  []string // namespace names
	addrs  []string // each node's address
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// netnsSuffix skips a test named what where the machine cannot make
// network namespaces (not root, no ip command), and otherwise returns a
// random suffix for the names of the namespaces and links it makes.
func netnsSuffix(t *testing.T, what string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("%s needs root (network namespaces)", what)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("%s needs the ip command (iproute2)", what)
	}
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newNetnsLAN makes n namespaces on a bridge, or skips the test when the
// machine cannot (not root, no ip, no namespaces).
func newNetnsLAN(t *testing.T, n int) *netnsLAN {
	t.Helper()
	suffix := netnsSuffix(t, "LAN discovery test")
	third, _ := rand.Int(rand.Reader, big.NewInt(200))
	subnet := fmt.Sprintf("10.77.%d", third.Int64()+20)
	lan := &netnsLAN{t: t, bridge: "pwbr-" + suffix}
	if err := ipCmd("netns", "add", lan.bridge); err != nil {
		t.Skipf("cannot make network namespaces here: %v", err)
	}
	t.Cleanup(lan.remove)
	steps := [][]string{
		{"netns", "exec", lan.bridge, "ip", "link", "add", "br0", "type", "bridge"},
		{"netns", "exec", lan.bridge, "ip", "link", "set", "br0", "up"},
	}
	for i := range n {
		ns := fmt.Sprintf("pw%d-%s", i, suffix)
		veth := fmt.Sprintf("vb%d%s", i, suffix)
		addr := fmt.Sprintf("%s.%d", subnet, i+2)
		lan.nodes = append(lan.nodes, ns)
		lan.addrs = append(lan.addrs, addr)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"link", "add", veth, "netns", lan.bridge, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"netns", "exec", lan.bridge, "ip", "link", "set", veth, "master", "br0"},
			[]string{"netns", "exec", lan.bridge, "ip", "link", "set", veth, "up"},
			[]string{"netns", "exec", ns, "ip", "link", "set", "lo", "up"},
			[]string{"netns", "exec", ns, "ip", "addr", "add", addr + "/24", "dev", "eth0"},
			[]string{"netns", "exec", ns, "ip", "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Fatalf("set up the test LAN: %v", err)
		}
	}
	return lan
}

// remove deletes every namespace the test made (the veths go with them).
func (l *netnsLAN) remove() {
	for _, ns := range append(l.nodes, l.bridge) {
		if err := ipCmd("netns", "del", ns); err != nil {
			l.t.Logf("cleanup: %v", err)
		}
	}
}

// serve starts `peerwiki serve` for repo r inside node i's namespace,
// with mDNS and no --peer, listening on the node's LAN address only.
func (l *netnsLAN) serve(i int, r *Repo) *Serve {
	l.t.Helper()
	cmd := r.Command("serve", "--listen", "/ip4/"+l.addrs[i]+"/tcp/0")
	cmd.Args = append([]string{"ip", "netns", "exec", l.nodes[i], cmd.Path}, cmd.Args[1:]...)
	ip, err := exec.LookPath("ip")
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Path = ip
	return startServe(l.t, cmd)
}

func TestLANDiscoveryByMDNS(t *testing.T) {
	lan := newNetnsLAN(t, 3)
	a := InitRepo(t, "alice")
	a.OK("new", "From A", "--body", "a\n")
	code := a.OK("invite", "--uses", "100", "--addr", "/ip4/"+lan.addrs[0]+"/tcp/1")
	repos := []*Repo{a, NewRepo(t), NewRepo(t)}
	for i, r := range repos[1:] {
		r.OK("join", code, "--no-sync", "--name", fmt.Sprintf("node%d", i+1))
		// Forget the peer the code named: only mDNS may bring them together.
		os.Remove(filepath.Join(r.Dir, "peers.json"))
		r.OK("new", fmt.Sprintf("From node %d", i+1), "--body", "hello\n")
	}
	var serves []*Serve
	for i, r := range repos {
		serves = append(serves, lan.serve(i, r))
	}
	Eventually(t, 20*time.Second, "all three replicas to find each other and converge", func() bool {
		for _, r := range repos {
			if len(r.List()) != 3 {
				return false
			}
		}
		return true
	})
	snap := a.Snapshot()
	for _, r := range repos[1:] {
		if r.Snapshot() != snap {
			t.Fatal("replicas differ after converging")
		}
	}
	// Only the lower peer id of each pair dials at once, so at least two
	// mDNS dials made this three-node LAN.
	dials := 0
	for _, s := range serves {
		dials += strings.Count(s.Log(), "found on the LAN")
	}
	if dials < 2 {
		for i, s := range serves {
			t.Logf("serve %d:\n%s", i, s.Log())
		}
		t.Fatalf("%d connections came from mDNS, want at least 2", dials)
	}
}
