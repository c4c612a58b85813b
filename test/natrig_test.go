package test

import (
	"encoding/json"
	"fmt"
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

// relay starts `peerwiki relay` on the public host, on TCP and QUIC.
func (rig *natRig) relay() *Serve {
	rig.t.Helper()
	cmd := exec.Command(binary, "relay", "--key", filepath.Join(rig.t.TempDir(), "relay.key"),
		"--listen", "/ip4/"+natRelayHost+"/tcp/4001",
		"--listen", "/ip4/"+natRelayHost+"/udp/4001/quic-v1",
		"--public-net", natPublicNet)
	cmd.Env = (&Repo{}).Command().Env
	return startServe(rig.t, rig.in("public", cmd))
}

// natNetFlags are the flags that put a node on the rig's internet: the
// relay as DHT bootstrap peer and static relay, the rig's public range.
func natNetFlags(relay *Serve) []string {
	var args []string
	for _, a := range relay.Addrs {
		args = append(args, "--bootstrap", a, "--relay", a)
	}
	return append(args, "--public-net", natPublicNet)
}

// serve starts serve for repo r on member i (1..3), on TCP and QUIC at the
// member's address, without mDNS, with the rig's network flags.
func (rig *natRig) serve(i int, r *Repo, relay *Serve, extra ...string) *Serve {
	rig.t.Helper()
	addr := natMemberAddr(i)
	args := append([]string{"serve", "--no-mdns",
		"--listen", "/ip4/" + addr + "/tcp/0",
		"--listen", "/ip4/" + addr + "/udp/0/quic-v1"},
		natNetFlags(relay)...)
	return startServe(rig.t, rig.in(fmt.Sprintf("member%d", i), r.Command(append(args, extra...)...)))
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
