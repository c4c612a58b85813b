package p2p

import (
	"bytes"
	"container/list"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// A stranger on the LAN can open TCP connections to a node and send
// nothing, or start a handshake and stall. libp2p counts a connection
// against the resource manager from the moment it is accepted (in the
// transient scope until the security handshake names the peer), so 80
// idle connections once filled that scope and every member's dial was
// refused at once. Here a connection waits in pools of the listener's
// own, which strangers cannot fill for long (the oldest wait is dropped
// for a newcomer):
//
//   - until its first bytes open a libp2p handshake (multistream-select's
//     header, which a dialer sends at once), unseen by libp2p;
//   - then, handed to libp2p, until its security handshake is done (the
//     gater's InterceptSecured reports it, see handshakeGater), in a
//     smaller pool sized under the resource manager's transient limits.
//
// Who the peer is, and whether it may stay, the gater says once the
// handshake named it (gate.go). A member's dial proves itself within a
// round trip or two, so only a flood of hundreds of connections in that
// time could push it out.

const (
	// openWait bounds how long a connection may take to open its
	// handshake: a dialer sends it at once, and gives up after
	// connectTimeout. The upgrader's accept timeout (connectTimeout
	// too) bounds the rest of the handshake.
	openWait = connectTimeout
	// maxOpening bounds the connections that have not opened a
	// handshake yet, and maxOpeningPerAddr those from one address.
	maxOpening        = 256
	maxOpeningPerAddr = 32
	// maxSecuring bounds the connections in their security handshake,
	// which libp2p counts, and maxSecuringPerAddr those from one
	// address: well under the transient scope's inbound connections (79
	// on a 23 GiB machine, fewer on a laptop).
	maxSecuring        = 24
	maxSecuringPerAddr = 8
)

// mssHeader is the first message of multistream-select, which every
// libp2p dialer sends first: the length, then "/multistream/1.0.0\n".
var mssHeader = append([]byte{19}, "/multistream/1.0.0\n"...)

// handshakeTCP is the TCP transport with a listener that hands the
// upgrader only connections that open a libp2p handshake, and bounds
// those in their handshake.
type handshakeTCP struct {
	*tcp.TcpTransport
	upgrader transport.Upgrader
}

func (t *handshakeTCP) Listen(laddr ma.Multiaddr) (transport.Listener, error) {
	l, err := manet.Listen(laddr)
	if err != nil {
		return nil, err
	}
	return t.upgrader.UpgradeGatedMaListener(t, t.upgrader.GateMaListener(newHandshakeListener(l))), nil
}

// handshakeListener accepts TCP connections and hands on those that
// open a libp2p handshake, their first bytes put back.
type handshakeListener struct {
	manet.Listener
	ready chan manet.Conn
	done  chan struct{}
	err   error // why the accept loop stopped; read after done

	mu sync.Mutex
	// opening and securing hold the *pendingConn of each phase, oldest
	// first.
	opening, securing *list.List
	closed            bool
}

// pendingConn is an accepted connection until its security handshake
// is done: its first bytes, read already, are read again.
type pendingConn struct {
	manet.Conn
	l      *handshakeListener
	addr   string
	prefix []byte

	// elem and in are where it waits (l.mu): in is nil once the
	// handshake is done or the connection closed.
	elem *list.Element
	in   *list.List
}

func newHandshakeListener(l manet.Listener) *handshakeListener {
	hl := &handshakeListener{Listener: l, ready: make(chan manet.Conn), done: make(chan struct{}), opening: list.New(), securing: list.New()}
	go hl.acceptLoop()
	return hl
}

func (l *handshakeListener) acceptLoop() {
	defer close(l.done)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// Out of file descriptors, say: wait, as libp2p's own
			// listener does, rather than stop listening.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			l.err = err
			return
		}
		if tc, ok := c.(interface{ SetLinger(int) error }); ok {
			_ = tc.SetLinger(0) // as libp2p's TCP listener: no TIME_WAIT
		}
		pc := &pendingConn{Conn: c, l: l, addr: remoteHost(c)}
		if !l.wait(pc, l.opening, maxOpening, maxOpeningPerAddr) {
			c.Close()
			continue
		}
		go l.check(pc)
	}
}

// wait puts pc at the end of queue, dropping (closing) the oldest from
// its address, or the oldest of all, when there is no room. It reports
// false when the listener is closed.
func (l *handshakeListener) wait(pc *pendingConn, queue *list.List, max, maxPerAddr int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	var oldestHere *list.Element
	here := 0
	for e := queue.Front(); e != nil; e = e.Next() {
		if e.Value.(*pendingConn).addr == pc.addr {
			here++
			if oldestHere == nil {
				oldestHere = e
			}
		}
	}
	switch {
	case here >= maxPerAddr:
		l.drop(oldestHere)
	case queue.Len() >= max:
		l.drop(queue.Front())
	}
	pc.in, pc.elem = queue, queue.PushBack(pc)
	return true
}

// drop closes a waiting connection and forgets it; l.mu is held.
func (l *handshakeListener) drop(e *list.Element) {
	pc := e.Value.(*pendingConn)
	pc.in.Remove(e)
	pc.in, pc.elem = nil, nil
	pc.Conn.Close()
}

// leave takes pc off the queue it waits in; it reports false if it was
// dropped (closed) meanwhile.
func (l *handshakeListener) leave(pc *pendingConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pc.in == nil {
		return false
	}
	pc.in.Remove(pc.elem)
	pc.in, pc.elem = nil, nil
	return true
}

// check hands on a connection that opens a libp2p handshake within
// openWait, and closes one that does not.
func (l *handshakeListener) check(pc *pendingConn) {
	c := pc.Conn
	deadline := time.Now().Add(openWait)
	_ = c.SetReadDeadline(deadline)
	first := make([]byte, len(mssHeader))
	_, err := io.ReadFull(c, first)
	if !l.leave(pc) {
		return // dropped meanwhile, and closed
	}
	if err != nil || !bytes.Equal(first, mssHeader) {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	pc.prefix = first
	if !l.wait(pc, l.securing, maxSecuring, maxSecuringPerAddr) {
		c.Close()
		return
	}
	select {
	case l.ready <- pc:
	case <-l.done:
		pc.Close()
	case <-time.After(time.Until(deadline)):
		pc.Close()
	}
}

func (l *handshakeListener) Accept() (manet.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *handshakeListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	for _, q := range []*list.List{l.opening, l.securing} {
		for e := q.Front(); e != nil; e = q.Front() {
			l.drop(e)
		}
	}
	l.mu.Unlock()
	return err
}

func (c *pendingConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// secured is told that the connection's security handshake is done: it
// no longer counts against the handshakes' room.
func (c *pendingConn) secured() { c.l.leave(c) }

func (c *pendingConn) Close() error {
	c.l.leave(c)
	return c.Conn.Close()
}

// handshaker is a connection that waits in a handshakeListener's pool
// until told its handshake is done.
type handshaker interface{ secured() }

// handshakeGater wraps a host's gater (nil: let everyone through) to
// tell a connection waiting in a handshakeListener's pool that its
// security handshake is done, whatever the gater then decides.
type handshakeGater struct{ inner connmgr.ConnectionGater }

func (h handshakeGater) InterceptPeerDial(p peer.ID) bool {
	return h.inner == nil || h.inner.InterceptPeerDial(p)
}

func (h handshakeGater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return h.inner == nil || h.inner.InterceptAddrDial(p, a)
}

func (h handshakeGater) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	return h.inner == nil || h.inner.InterceptAccept(addrs)
}

func (h handshakeGater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if hs, ok := addrs.(handshaker); ok {
		hs.secured()
	}
	return h.inner == nil || h.inner.InterceptSecured(dir, p, addrs)
}

func (h handshakeGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if h.inner == nil {
		return true, 0
	}
	return h.inner.InterceptUpgraded(c)
}

// remoteHost is the IP address a connection comes from.
func remoteHost(c manet.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}
