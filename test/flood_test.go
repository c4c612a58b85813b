package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/sys/unix"
)

// tcpOf is the host:port of a serve address.
func tcpOf(t *testing.T, addr string) string {
	t.Helper()
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	na, err := manet.ToNetAddr(stripP2P(a))
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return na.String()
}

func stripP2P(a ma.Multiaddr) ma.Multiaddr {
	out, _ := ma.SplitFunc(a, func(c ma.Component) bool { return c.Protocol().Code == ma.P_P2P })
	return out
}

// dialIdle opens per idle TCP connections (never a byte sent: a stranger
// without the wiki key) from each of the source addresses to dst, and
// closes them at the test's end.
func dialIdle(t *testing.T, sources []string, dst string, per int) {
	t.Helper()
	for _, src := range sources {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
		for range per {
			c, err := d.Dial("tcp", dst)
			if err != nil {
				t.Fatalf("idle connection from %s: %v", src, err)
			}
			t.Cleanup(func() { c.Close() })
		}
	}
}

// A stranger's 160 idle connections from 20 addresses do not lock a
// member out: its sync goes through at once.
func TestIdleStrangersDoNotBlockSync(t *testing.T) {
	a := InitRepo(t, "alice")
	a.OK("new", "Page", "--body", "x\n")
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--no-sync", "--name", "bob")

	var sources []string
	for i := range 20 {
		sources = append(sources, fmt.Sprintf("127.0.0.%d", 2+i))
	}
	dialIdle(t, sources, tcpOf(t, sa.Addr()), 8)
	b.OK("sync", "--peer", sa.Addr(), "--timeout", "5s")
	if len(b.List()) != 1 {
		t.Fatal("the member did not receive the page")
	}
}

// The same on a LAN of network namespaces, where the resource manager
// limits each address (loopback is exempt): 8 idle connections from each
// of 20 addresses of a stranger's machine.
func TestIdleStrangersOnTheLANDoNotBlockSync(t *testing.T) {
	lan := newNetnsLAN(t, 3) // 0 serves, 1 is the stranger, 2 the member
	a := InitRepo(t, "alice")
	a.OK("new", "Page", "--body", "x\n")
	code := a.OK("invite", "--addr", "/ip4/"+lan.addrs[0]+"/tcp/1")
	b := NewRepo(t)
	b.OK("join", code, "--no-sync", "--name", "bob")
	sa := lan.serve(0, a)

	prefix := lan.addrs[1][:strings.LastIndex(lan.addrs[1], ".")]
	var sources []string
	for i := range 20 {
		src := fmt.Sprintf("%s.%d", prefix, 100+i)
		if err := ipCmd("netns", "exec", lan.nodes[1], "ip", "addr", "add", src+"/24", "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		sources = append(sources, src)
	}
	inNamespace(t, lan.nodes[1], func() { dialIdle(t, sources, tcpOf(t, sa.Addr()), 8) })

	sync := b.Command("sync", "--peer", sa.Addr(), "--timeout", "5s", "--no-mdns")
	sync.Args = append([]string{"ip", "netns", "exec", lan.nodes[2], sync.Path}, sync.Args[1:]...)
	sync.Path = lookPath(t, "ip")
	if out, err := sync.CombinedOutput(); err != nil {
		t.Fatalf("sync past idle strangers: %v\n%s\nserve:\n%s", err, out, sa.Log())
	}
	if len(b.List()) != 1 {
		t.Fatal("the member did not receive the page")
	}
}

// inNamespace runs f on an OS thread in the named network namespace:
// sockets f opens belong to it. The thread is never given back, so it
// ends with f's goroutine and nothing else runs in the namespace.
func inNamespace(t *testing.T, ns string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		h, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			t.Errorf("open namespace %s: %v", ns, err)
			return
		}
		defer h.Close()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("enter namespace %s: %v", ns, err)
			return
		}
		f()
	}()
	<-done
	if t.Failed() {
		t.FailNow()
	}
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("no %s: %v", name, err)
	}
	return p
}
