package test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// The network of the multi-site simulation: a "wan" namespace with one
// veth per site, each site a namespace of its own whose only route is its
// /24 towards the wan, and Toxiproxy proxies in the wan namespace on every
// path between sites.
//
// Sites cannot reach each other: a site knows no route but its own /24, and
// the wan namespace does not forward. libp2p's identify tells every peer the
// others' real listen addresses, and serve remembers and redials them; with
// a route between sites replicas would find it and bypass the proxies.
// Here the only way out of a site is a proxy listening on the wan's address
// on that site's link.
//
// The proxies run in this test process, with Toxiproxy as a library, and
// not in a helper process in the wan namespace: a network namespace belongs
// to a thread, and a socket to the namespace it was created in, so a
// listener opened and an upstream dialled from an OS thread that joined
// the wan namespace live there while every other goroutine of the process
// stays where it was. That keeps the byte counters and the toxics' settings
// plain Go values the test reads and sets, needs no control protocol and no
// API across namespaces, and avoids re-running the test binary, whose
// TestMain rebuilds peerwiki on every start. Toxiproxy's own accept loop
// dials upstream from whatever thread it runs on, so the loop below takes
// its place and hands each connection pair to the proxy's ToxicCollection
// (StartLink), which is where Toxiproxy's toxics work.

// msInNetns runs fn on an OS thread that has joined network namespace ns.
// The thread is never unlocked, so it ends with the goroutine and no other
// goroutine ever runs in ns. Sockets fn creates, and processes it starts
// (a child inherits its parent thread's namespace), belong to ns.
func msInNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("join network namespace %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// msSite is one site: a namespace with one link to the wan.
type msSite struct {
	name    string // "A", "B", "C"
	ns      string
	wanLink string // the link's end in the wan namespace
	wanAddr string // the wan's address on that link: where the site's proxies listen
	addr    string // the site's address: where its replicas listen
	subnet  string
}

// msTopology is the sites and the wan between them.
type msTopology struct {
	t     *testing.T
	wan   string
	sites []*msSite
	made  []string // namespaces, deleted at cleanup
}

// newMSTopology makes the wan and n sites on a random 10.78.x.0/24 per
// site, or skips the test where the machine cannot make namespaces.
func newMSTopology(t *testing.T, n int) *msTopology {
	t.Helper()
	suffix := netnsSuffix(t, "multi-site simulation")
	base, _ := rand.Int(rand.Reader, big.NewInt(200))
	tp := &msTopology{t: t, wan: "pwmsw-" + suffix}
	if err := ipCmd("netns", "add", tp.wan); err != nil {
		t.Skipf("multi-site simulation cannot make network namespaces here: %v", err)
	}
	tp.made = append(tp.made, tp.wan)
	t.Cleanup(tp.remove)
	var steps [][]string
	for k := range n {
		subnet := fmt.Sprintf("10.78.%d", base.Int64()+20+int64(k))
		s := &msSite{
			name:    string(rune('A' + k)),
			ns:      fmt.Sprintf("pwms%d-%s", k, suffix),
			wanLink: fmt.Sprintf("ms%d%s", k, suffix),
			wanAddr: subnet + ".1",
			addr:    subnet + ".2",
			subnet:  subnet + ".0/24",
		}
		tp.sites = append(tp.sites, s)
		if err := ipCmd("netns", "add", s.ns); err != nil {
			t.Fatalf("make namespace for site %s: %v", s.name, err)
		}
		tp.made = append(tp.made, s.ns)
		steps = append(steps,
			[]string{"link", "add", s.wanLink, "netns", tp.wan, "type", "veth", "peer", "name", "eth0", "netns", s.ns},
			[]string{"-n", tp.wan, "addr", "add", s.wanAddr + "/24", "dev", s.wanLink},
			[]string{"-n", tp.wan, "link", "set", s.wanLink, "up"},
			[]string{"-n", s.ns, "link", "set", "lo", "up"},
			[]string{"-n", s.ns, "addr", "add", s.addr + "/24", "dev", "eth0"},
			[]string{"-n", s.ns, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Fatalf("set up the multi-site network: %v", err)
		}
	}
	// New namespaces may inherit forwarding from the host's
	// (net.core.devconf_inherit_init_net); the wan must never route.
	err := msInNetns(tp.wan, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0"), 0o644)
	})
	if err != nil {
		t.Fatalf("turn forwarding off in the wan namespace: %v", err)
	}
	for _, s := range tp.sites {
		tp.checkIsolated(s)
	}
	return tp
}

// checkIsolated checks, from inside the site, that its only route is its
// own link: the site can reach its proxies and nothing else. Running the
// check through msInNetns also checks that processes started that way
// land in the site's namespace.
func (tp *msTopology) checkIsolated(s *msSite) {
	tp.t.Helper()
	cmd := exec.Command("ip", "-4", "-o", "route", "show")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := msInNetns(s.ns, cmd.Start); err != nil {
		tp.t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		tp.t.Fatalf("ip route in site %s: %v: %s", s.name, err, out.String())
	}
	routes := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(routes) != 1 || !strings.HasPrefix(routes[0], s.subnet+" ") {
		tp.t.Fatalf("site %s should have one route, to %s; it has:\n%s", s.name, s.subnet, out.String())
	}
}

// cut takes site s's link to the wan down (a partition: packets to and
// from the site are lost, connections hang as on a real cut), or brings it
// back up.
func (tp *msTopology) cut(s *msSite, down bool) {
	tp.t.Helper()
	state := "up"
	if down {
		state = "down"
	}
	if err := ipCmd("-n", tp.wan, "link", "set", s.wanLink, state); err != nil {
		tp.t.Fatal(err)
	}
}

func (tp *msTopology) remove() {
	for _, ns := range tp.made {
		if err := ipCmd("netns", "del", ns); err != nil {
			tp.t.Logf("cleanup: %v", err)
		}
	}
}

// msWANToxic is a Toxiproxy toxic for one direction of a wide-area path:
// every byte is held for DelayMs (the one-way delay), and packet loss is
// modelled as TCP experiences it. Each chunk the proxy reads stands for
// the packets that carried it (at least one: Go sets TCP_NODELAY, so a
// small write is a packet of its own; a larger read is one packet per
// msMSS bytes). LossPct percent of the packets are "lost": such a packet
// arrives a retransmission timeout later (Linux's RTO is the smoothed RTT
// plus at least tcp_rto_min, 200 ms: here 200 ms + 2 × DelayMs), and
// everything behind it in the stream waits for it (head-of-line blocking).
// Which packets are lost is drawn from a generator seeded with Seed and
// the connection's ordinal on the proxy, one draw per packet in stream
// order, so the same traffic is hit at the same places on every run.
//
// Left out: fast retransmit and tail-loss probes (which recover some losses
// in about one RTT, so the model errs on the slow side), a lost SYN (1 s),
// lost ACKs, congestion-window effects and bandwidth limits.
type msWANToxic struct {
	DelayMs int64   `json:"delay_ms"`
	LossPct float64 `json:"loss_pct"`
	Seed    int64   `json:"seed"`

	conns atomic.Int64
}

// msMSS is the packet payload of the loss model (Ethernet MTU less IP and
// TCP headers with timestamps).
const msMSS = 1448

// msMinRTO is Linux's tcp_rto_min.
const msMinRTO = 200 * time.Millisecond

const msWANToxicType = "peerwiki_wan"

func init() {
	toxics.Register(msWANToxicType, new(msWANToxic))
}

// GetBufferSize lets the stream keep flowing into the toxic while earlier
// data waits out its delay, as on a real path with data in flight.
func (t *msWANToxic) GetBufferSize() int { return 1024 }

// msWANState is one connection's place in the loss model.
type msWANState struct {
	rng  *mrand.Rand
	last time.Time // when the previous piece is delivered (nothing overtakes it)
}

// msLoss counts the packets the loss model saw and those it delayed, in
// every proxy (the test reads them between path settings).
var msLoss struct{ packets, lost atomic.Int64 }

func (t *msWANToxic) NewState() any {
	n := t.conns.Add(1)
	return &msWANState{rng: mrand.New(mrand.NewSource(t.Seed*1_000_003 + n))}
}

// msPiece is part of a chunk and when it is to be delivered.
type msPiece struct {
	chunk *stream.StreamChunk
	at    time.Time
}

// schedule decides when the bytes of chunk c are delivered.
func (s *msWANState) schedule(c *stream.StreamChunk, delay, rto time.Duration, loss float64) []msPiece {
	n := len(c.Data)
	split := -1 // offset in c of the first lost packet
	for off := 0; off == 0 || off < n; off += msMSS {
		msLoss.packets.Add(1)
		if loss > 0 && s.rng.Float64() < loss {
			msLoss.lost.Add(1)
			if split < 0 {
				split = off
			}
		}
	}
	due := c.Timestamp.Add(delay)
	if due.Before(s.last) {
		due = s.last
	}
	if split < 0 {
		s.last = due
		return []msPiece{{c, due}}
	}
	var out []msPiece
	if split > 0 {
		out = append(out, msPiece{&stream.StreamChunk{Data: c.Data[:split], Timestamp: c.Timestamp}, due})
	}
	late := c.Timestamp.Add(delay + rto)
	if late.Before(due) {
		late = due
	}
	s.last = late
	return append(out, msPiece{&stream.StreamChunk{Data: c.Data[split:], Timestamp: c.Timestamp}, late})
}

func (t *msWANToxic) Pipe(stub *toxics.ToxicStub) {
	st := stub.State.(*msWANState)
	delay := time.Duration(t.DelayMs) * time.Millisecond
	rto := msMinRTO + 2*delay
	loss := t.LossPct / 100
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			pieces := st.schedule(c, delay, rto, loss)
			for i, p := range pieces {
				if wait := time.Until(p.at); wait > 0 {
					timer := time.NewTimer(wait)
					select {
					case <-timer.C:
					case <-stub.Interrupt:
						timer.Stop()
						// Being replaced or removed: hand on what was read, now.
						for _, rest := range pieces[i:] {
							stub.Output <- rest.chunk
						}
						return
					}
				}
				stub.Output <- p.chunk
			}
		}
	}
}

// msProxy carries the connections one replica dials to one replica at
// another site: it listens in the wan namespace on the dialler's link and
// dials the other replica at its site.
type msProxy struct {
	name     string
	from, to int // the dialling replica and the one dialled
	listen   string
	upstream string
	wan      string
	server   *toxiproxy.ApiServer
	proxy    *toxiproxy.Proxy
	ln       net.Listener
	seed     int64

	sent, received atomic.Int64 // bytes towards the replica, and back
	accepted       atomic.Int64

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// newMSProxy starts a proxy listening on listen (in the wan namespace)
// for upstream; the test's cleanup closes it and its connections.
func newMSProxy(t *testing.T, wan, name, listen, upstream string, seed int64) *msProxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := &msProxy{
		name: name, listen: listen, upstream: upstream, wan: wan, seed: seed,
		server: server,
		proxy:  toxiproxy.NewProxy(server, name, listen, upstream),
	}
	err := msInNetns(wan, func() error {
		var err error
		p.ln, err = net.Listen("tcp", listen)
		return err
	})
	if err != nil {
		t.Fatalf("proxy %s: %v", name, err)
	}
	t.Cleanup(p.close)
	p.wg.Add(1)
	go p.accept()
	return p
}

func (p *msProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var upstream net.Conn
			err := msInNetns(p.wan, func() error {
				var err error
				upstream, err = net.DialTimeout("tcp", p.upstream, 3*time.Second)
				return err
			})
			if err != nil {
				// Unreachable (the replica's site is cut off, or it is not
				// up yet): the dialler sees its connection closed.
				client.Close()
				return
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				client.Close()
				upstream.Close()
				return
			}
			p.conns = append(p.conns, client, upstream)
			p.mu.Unlock()
			p.accepted.Add(1)
			name := client.RemoteAddr().String()
			p.proxy.Toxics.StartLink(p.server, name+"upstream", msCounter{client, &p.sent}, upstream, stream.Upstream)
			p.proxy.Toxics.StartLink(p.server, name+"downstream", msCounter{upstream, &p.received}, client, stream.Downstream)
		}()
	}
}

// setPath replaces the proxy's toxics with a path of the given one-way
// delay and loss, in both directions.
func (p *msProxy) setPath(delay time.Duration, lossPct float64) error {
	p.proxy.Toxics.ResetToxics(context.Background())
	for i, dir := range []string{"upstream", "downstream"} {
		spec, err := json.Marshal(map[string]any{
			"name":   "wan_" + dir,
			"type":   msWANToxicType,
			"stream": dir,
			"attributes": map[string]any{
				"delay_ms": delay.Milliseconds(),
				"loss_pct": lossPct,
				"seed":     p.seed*2 + int64(i),
			},
		})
		if err != nil {
			return err
		}
		if _, err := p.proxy.Toxics.AddToxicJson(strings.NewReader(string(spec))); err != nil {
			return fmt.Errorf("proxy %s: add toxic: %w", p.name, err)
		}
	}
	return nil
}

// bytes is what the proxy carried so far, both ways.
func (p *msProxy) bytes() int64 { return p.sent.Load() + p.received.Load() }

func (p *msProxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

// msCounter counts the bytes read through it.
type msCounter struct {
	r io.Reader
	n *atomic.Int64
}

func (c msCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
