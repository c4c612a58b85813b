package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// natRig is scripts/nat-rig.sh's internet in network namespaces, made for
// one test: a public host for the relay on an "internet" bridge, and homes
// 1–3, each a member behind a router that MASQUERADEs (with
// --random-fully when asked); router 4 is spare. The script is the one
// definition of the topology; the test drives it by name.
type natRig struct {
	t    *testing.T
	name string
}

// The rig's fixed addresses (see scripts/nat-rig.sh).
const (
	natPublicNet = "10.213.0.0/24" // the "internet": give peerwiki --public-net
	natRelayHost = "10.213.0.2"
)

// natMemberAddr is member i's own (private) address behind its router.
func natMemberAddr(i int) string { return fmt.Sprintf("10.213.%d.2", i) }

func natScript() string { return filepath.Join(moduleRoot, "scripts", "nat-rig.sh") }

// newNATRig brings a rig up, or skips the test where the machine cannot
// (not root, no ip, no iptables, no namespaces). The test's cleanup takes
// it down, failed or not.
func newNATRig(t *testing.T, randomFully bool) *natRig {
	t.Helper()
	suffix := netnsSuffix(t, "NAT rig")
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("NAT rig needs iptables (apt-get install iptables; .ci/run does)")
	}
	probe := "nr-" + suffix + "-probe"
	if err := ipCmd("netns", "add", probe); err != nil {
		t.Skipf("NAT rig cannot make network namespaces here: %v", err)
	}
	ipCmd("netns", "del", probe)
	rig := &natRig{t: t, name: suffix}
	args := []string{"up"}
	if randomFully {
		args = append(args, "--random-fully")
	}
	t.Cleanup(func() {
		if out, err := rig.script("down"); err != nil {
			t.Errorf("take the NAT rig down: %v\n%s", err, out)
		}
	})
	if out, err := rig.script(args...); err != nil {
		t.Fatalf("bring the NAT rig up: %v\n%s", err, out)
	}
	return rig
}

// script runs scripts/nat-rig.sh CMD --name NAME ARGS...
func (rig *natRig) script(args ...string) (string, error) {
	full := append([]string{args[0], "--name", rig.name}, args[1:]...)
	out, err := exec.Command(natScript(), full...).CombinedOutput()
	return string(out), err
}

// mustScript runs the script and fails the test when it fails.
func (rig *natRig) mustScript(args ...string) string {
	rig.t.Helper()
	out, err := rig.script(args...)
	if err != nil {
		rig.t.Fatalf("nat-rig.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// ns is the namespace of a node: public, router1..4, member1..3.
func (rig *natRig) ns(node string) string { return "nr-" + rig.name + "-" + node }

// in makes cmd run inside node's namespace (through ip netns exec, which
// execs it: the process's id stays the command's, for signals).
func (rig *natRig) in(node string, cmd *exec.Cmd) *exec.Cmd {
	rig.t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		rig.t.Fatal(err)
	}
	cmd.Args = append([]string{"ip", "netns", "exec", rig.ns(node), cmd.Path}, cmd.Args[1:]...)
	cmd.Path = ip
	return cmd
}

// relay starts `peerwiki relay` on the public host, on TCP and QUIC,
// with extra arguments.
func (rig *natRig) relay(extra ...string) *Serve {
	rig.t.Helper()
	cmd := exec.Command(binary, append([]string{"relay", "--key", filepath.Join(rig.t.TempDir(), "relay.key"),
		"--listen", "/ip4/" + natRelayHost + "/tcp/4001",
		"--listen", "/ip4/" + natRelayHost + "/udp/4001/quic-v1",
		"--public-net", natPublicNet}, extra...)...)
	cmd.Env = (&Repo{}).Command().Env
	return startServe(rig.t, rig.in("public", cmd))
}

// Members are arranged as users arrange them (README, "Beyond the LAN"):
// the inviter serves with --relay, the relay's TCP address (the first
// line 'peerwiki relay' prints), and --public-net; a member who joined
// types nothing but `join CODE` and `serve --public-net` (the relays come
// from the code, in the repo's configuration). Both listen where serve
// listens by default (every interface, TCP and QUIC, port 7171), with
// mDNS, and with the configuration of a fresh machine (natUser).

// natUser gives repo r a user's machine: no user configuration, so the
// DHT is on as by default; with relays configured, the rig's relay is its
// only bootstrap peer.
func natUser(t *testing.T, r *Repo) {
	t.Helper()
	r.Env = append(r.Env, "XDG_CONFIG_HOME="+t.TempDir())
}

// natRelayTCP is the relay's TCP address, /p2p/PEERID included.
func natRelayTCP(t *testing.T, relay *Serve) string {
	t.Helper()
	for _, a := range relay.Addrs {
		if strings.Contains(a, "/tcp/") {
			return a
		}
	}
	t.Fatalf("the relay listens on no TCP address: %v", relay.Addrs)
	return ""
}

// serveInviter starts the inviter's serve on member i: --relay with the
// relay's TCP address, --public-net, nothing else.
func (rig *natRig) serveInviter(i int, r *Repo, relay *Serve) *Serve {
	rig.t.Helper()
	natUser(rig.t, r)
	args := []string{"serve", "--relay", natRelayTCP(rig.t, relay), "--public-net", natPublicNet}
	return startServe(rig.t, rig.in(fmt.Sprintf("member%d", i), r.Command(args...)))
}

// serveJoined starts the serve of a member who joined (natJoin) on member
// i: --public-net and nothing else. Its relays are those join took from
// the code; a repo without any fails the test (its DHT would otherwise
// look for the public IPFS bootstrap peers).
func (rig *natRig) serveJoined(i int, r *Repo) *Serve {
	rig.t.Helper()
	var conf struct {
		Network struct {
			Relays []string `json:"relays"`
		} `json:"network"`
	}
	b, err := os.ReadFile(filepath.Join(r.Dir, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &conf)
	}
	if err != nil || len(conf.Network.Relays) == 0 {
		rig.t.Fatalf("after join, the repo's configuration names no relays (%v):\n%s", err, b)
	}
	natUser(rig.t, r)
	return startServe(rig.t, rig.in(fmt.Sprintf("member%d", i), r.Command("serve", "--public-net", natPublicNet)))
}

// natWaitPunchReady waits until serve's log says hole punching can start
// (a peer, the relay, has seen the node at a public QUIC address).
func natWaitPunchReady(t *testing.T, name string, s *Serve, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(s.Log(), "hole punching ready") {
		if time.Now().After(deadline) {
			t.Fatalf("%s's hole punching did not become ready within %s (no peer saw it at a public QUIC address); its log:\n%s", name, d, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs the binary on repo r inside member i's namespace (for commands
// that dial, such as join; the others talk to the node through its socket
// and run anywhere).
func (rig *natRig) run(i int, r *Repo, timeout time.Duration, args ...string) Result {
	rig.t.Helper()
	cmd := rig.in(fmt.Sprintf("member%d", i), r.Command(args...))
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		rig.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		rig.t.Fatalf("peerwiki %s on member %d did not finish within %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), i, timeout, out.String(), errb.String())
	}
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		rig.t.Fatal(err)
	}
	return res
}

// bytes is what node's link (eth0: a member's to its router, the public
// host's to the internet) has sent ("tx") or received ("rx") so far.
func (rig *natRig) bytes(node, dir string) int64 {
	rig.t.Helper()
	out, err := exec.Command("ip", "-n", rig.ns(node), "-s", "-j", "link", "show", "dev", "eth0").Output()
	if err != nil {
		rig.t.Fatalf("link statistics of %s: %v", node, err)
	}
	var links []struct {
		Stats map[string]struct {
			Bytes int64 `json:"bytes"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		rig.t.Fatalf("link statistics of %s: %v: %s", node, err, out)
	}
	return links[0].Stats[dir].Bytes
}

// natPeer is one entry of `peers --json` as the NAT tests read it.
type natPeer struct {
	PeerID    string   `json:"peer_id"`
	Name      string   `json:"name"`
	Addrs     []string `json:"addrs"`
	Connected bool     `json:"connected"`
	Since     string   `json:"since"`
	Via       string   `json:"via"`
}

// natPeers is `peers --json` of repo r, keyed by peer id.
func natPeers(r *Repo) map[string]natPeer {
	r.T.Helper()
	var list []natPeer
	r.JSON(&list, "peers", "--json")
	m := map[string]natPeer{}
	for _, p := range list {
		m[p.PeerID] = p
	}
	return m
}

// natID is `id --json` of repo r: its peer id and its running node's
// addresses.
func natID(r *Repo) (string, []string) {
	r.T.Helper()
	var info struct {
		PeerID string   `json:"peer_id"`
		Addrs  []string `json:"addrs"`
	}
	out := r.OK("id", "--json")
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		r.T.Fatalf("id --json: %v\n%s", err, out)
	}
	return info.PeerID, info.Addrs
}

// TestNATRig checks the rig itself (scripts/nat-rig.sh check): a member
// reaches the public host through its NAT and is seen at its router's
// address; nothing reaches a member from outside; both NAT variants do
// what they say with source ports; and a member moved to another router
// goes out at that router's address.
func TestNATRig(t *testing.T) {
	t.Run("masquerade", func(t *testing.T) {
		rig := newNATRig(t, false)
		t.Log(rig.mustScript("check"))
		rig.mustScript("move", "member1", "router4")
		t.Log(rig.mustScript("check"))
	})
	t.Run("random-fully", func(t *testing.T) {
		t.Log(newNATRig(t, true).mustScript("check"))
	})
}
