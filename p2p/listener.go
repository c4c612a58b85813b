package p2p

import (
	"bytes"
	"container/list"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/transport"
	pnetconn "github.com/libp2p/go-libp2p/p2p/net/pnet"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// A stranger on the LAN can open TCP connections to a node and send
// nothing. libp2p counts a connection against the resource manager's
// limits from the moment it is accepted, so 80 idle ones used to fill the
// transient scope and every member's dial was refused at once. Here a
// connection reaches libp2p only once it has proved the wiki key: a
// dialer's first bytes are its private-network nonce and, encrypted under
// the key, the multistream header that opens its security handshake.
// Until then it waits in a small pool of its own, which strangers cannot
// fill for long: the oldest wait is dropped for a newcomer.

const (
	// keyWait bounds how long a connection may take to prove the key: a
	// dialer sends it at once, and gives up after connectTimeout.
	keyWait = connectTimeout
	// maxKeyWaits bounds the connections waiting to prove the key, and
	// maxKeyWaitsPerAddr those from one address: past them the oldest
	// is dropped. A member proves the key within a round trip, so only a
	// flood of hundreds of connections in that time could push it out.
	maxKeyWaits        = 256
	maxKeyWaitsPerAddr = 32
)

// mssHeader is the first message of multistream-select, which every
// libp2p dialer sends first inside the private network: the length, then
// "/multistream/1.0.0\n".
var mssHeader = append([]byte{19}, "/multistream/1.0.0\n"...)

// keyedTCP is the TCP transport with a listener that hands the upgrader
// only connections that prove the wiki key.
type keyedTCP struct {
	*tcp.TcpTransport
	upgrader transport.Upgrader
	psk      pnet.PSK
}

func (t *keyedTCP) Listen(laddr ma.Multiaddr) (transport.Listener, error) {
	l, err := manet.Listen(laddr)
	if err != nil {
		return nil, err
	}
	return t.upgrader.UpgradeGatedMaListener(t, t.upgrader.GateMaListener(newKeyedListener(l, t.psk))), nil
}

// keyedListener accepts TCP connections and hands on those that prove
// the key, their first bytes put back.
type keyedListener struct {
	manet.Listener
	psk   pnet.PSK
	ready chan manet.Conn
	done  chan struct{}
	err   error // why the accept loop stopped; read after done

	mu      sync.Mutex
	waiting *list.List // of *keyWaiter, oldest first
	closed  bool
}

type keyWaiter struct {
	conn manet.Conn
	addr string
}

func newKeyedListener(l manet.Listener, psk pnet.PSK) *keyedListener {
	kl := &keyedListener{Listener: l, psk: psk, ready: make(chan manet.Conn), done: make(chan struct{}), waiting: list.New()}
	go kl.acceptLoop()
	return kl
}

func (l *keyedListener) acceptLoop() {
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
		w := l.admit(c)
		if w == nil {
			c.Close()
			continue
		}
		go l.check(w)
	}
}

// admit adds c to the waiting connections, dropping the oldest from its
// address, or the oldest of all, when there is no room.
func (l *keyedListener) admit(c manet.Conn) *list.Element {
	addr := remoteHost(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var oldestHere *list.Element
	here := 0
	for e := l.waiting.Front(); e != nil; e = e.Next() {
		if e.Value.(*keyWaiter).addr == addr {
			here++
			if oldestHere == nil {
				oldestHere = e
			}
		}
	}
	switch {
	case here >= maxKeyWaitsPerAddr:
		l.drop(oldestHere)
	case l.waiting.Len() >= maxKeyWaits:
		l.drop(l.waiting.Front())
	}
	return l.waiting.PushBack(&keyWaiter{conn: c, addr: addr})
}

// drop closes a waiting connection and forgets it; l.mu is held.
func (l *keyedListener) drop(e *list.Element) {
	e.Value.(*keyWaiter).conn.Close()
	l.waiting.Remove(e)
}

// forget takes e off the waiting list; it reports false if it was
// dropped meanwhile.
func (l *keyedListener) forget(e *list.Element) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for x := l.waiting.Front(); x != nil; x = x.Next() {
		if x == e {
			l.waiting.Remove(e)
			return true
		}
	}
	return false
}

// check hands on a connection that proves the key within keyWait. One
// that does not is held, unread, until keyWait has passed, so that a
// dialer with another wiki's key sees what it always did (a timeout)
// and a quick close keeps meaning that the node is busy.
func (l *keyedListener) check(e *list.Element) {
	c := e.Value.(*keyWaiter).conn
	deadline := time.Now().Add(keyWait)
	_ = c.SetReadDeadline(deadline)
	var raw bytes.Buffer
	pc, _ := pnetconn.NewProtectedConn(l.psk, readRecorder{c, &raw})
	first := make([]byte, len(mssHeader))
	if _, err := io.ReadFull(pc, first); err != nil || !bytes.Equal(first, mssHeader) {
		_, _ = io.Copy(io.Discard, c) // until the deadline, or a drop
		if l.forget(e) {
			c.Close()
		}
		return
	}
	if !l.forget(e) {
		return // dropped meanwhile, and closed
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case l.ready <- &replayConn{Conn: c, prefix: raw.Bytes()}:
	case <-l.done:
		c.Close()
	case <-time.After(time.Until(deadline)):
		c.Close()
	}
}

func (l *keyedListener) Accept() (manet.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *keyedListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	for e := l.waiting.Front(); e != nil; e = e.Next() {
		e.Value.(*keyWaiter).conn.Close()
	}
	l.waiting.Init()
	l.mu.Unlock()
	return err
}

// remoteHost is the IP address a connection comes from.
func remoteHost(c manet.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

// readRecorder keeps a copy of what is read from a connection.
type readRecorder struct {
	net.Conn
	copy *bytes.Buffer
}

func (r readRecorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.copy.Write(b[:n])
	return n, err
}

// replayConn is a connection whose first bytes, read already, are read
// again.
type replayConn struct {
	manet.Conn
	prefix []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
