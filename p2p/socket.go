package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// The files of a running node in the repo directory.
const (
	// ControlSocket is the node's control endpoint: a Unix domain socket,
	// mode 0600, that answers only processes of the user running the node.
	ControlSocket = "node.sock"
	// NodeLock is held (flock) by the process running the repo's node for
	// as long as it runs, and names it. The kernel releases it when that
	// process dies, however it dies: a socket left behind by a killed node
	// is known to be stale because nobody holds the lock.
	NodeLock = "node.lock"
)

// maxSunPath is the room a Unix socket address has for its path (108
// bytes on Linux, the terminating NUL included).
const maxSunPath = 108

// NodeRunningError is returned when a node is started on a repo where one
// runs already.
type NodeRunningError struct {
	PID    int
	Kind   string
	Socket string
}

func (e *NodeRunningError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = "a node"
	}
	return fmt.Sprintf("a node already runs on this repo: %s, pid %d, control socket %s; stop it first, or keep it: every peerwiki command on this repo uses it", kind, e.PID, e.Socket)
}

// lockOwner is the content of NodeLock.
type lockOwner struct {
	PID    int    `json:"pid"`
	Kind   string `json:"kind"`
	Socket string `json:"socket"`
}

// repoLock is a held NodeLock.
type repoLock struct{ f *os.File }

// lockRepo takes dir's NodeLock for this process, or returns a
// *NodeRunningError naming the process that holds it.
func lockRepo(dir string, me lockOwner) (*repoLock, error) {
	path := filepath.Join(dir, NodeLock)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the repo for its node: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock the repo for its node: %w", err)
		}
		owner := readLockOwner(path)
		return nil, &NodeRunningError{PID: owner.PID, Kind: owner.Kind, Socket: owner.Socket}
	}
	b, _ := json.Marshal(me)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the repo for its node: %w", err)
	}
	return &repoLock{f: f}, nil
}

// readLockOwner reads who holds a lock; its holder writes it just after
// taking it, so an empty file is read again for a moment.
func readLockOwner(path string) lockOwner {
	var o lockOwner
	for range 20 {
		b, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(b, &o) == nil && o.PID > 0 {
			return o
		}
		time.Sleep(5 * time.Millisecond)
	}
	return o
}

// release gives the lock up (closing the file releases the flock). The
// file stays: removing it could let two processes lock two files.
func (l *repoLock) release() { l.f.Close() }

// onSocketPath calls fn with a path that names dir/name and fits a socket
// address. A repo deep in the file system has a longer path than that:
// fn then gets the same place through /proc/self/fd/N/name, N an open
// descriptor of dir, which the kernel resolves as dir itself. Every
// process reaching the socket does the same, so the socket stays in the
// repo, wherever that is.
func onSocketPath(dir, name string, fn func(path string) error) error {
	p := filepath.Join(dir, name)
	if len(p) < maxSunPath {
		return fn(p)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	short := fmt.Sprintf("/proc/self/fd/%d/%s", fd, name)
	if len(short) >= maxSunPath {
		return fmt.Errorf("socket path %s is too long", p)
	}
	return fn(short)
}

// listenControl binds the control socket of dir, mode 0600, in place of
// any stale one; the caller holds the repo's lock. The socket is made
// under a name of its own, given its mode, and only then renamed into
// place, so no other process ever finds it open to others.
func listenControl(dir string) (*net.UnixListener, error) {
	tmp := fmt.Sprintf(".node-%d.sock", os.Getpid())
	os.Remove(filepath.Join(dir, tmp))
	var l *net.UnixListener
	err := onSocketPath(dir, tmp, func(p string) (err error) {
		l, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open the control socket: %w", err)
	}
	// The path it was bound under may be /proc/self/fd/N/…, gone once N
	// is closed: the socket is removed by name when the node stops.
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(filepath.Join(dir, tmp), 0o600); err != nil {
		l.Close()
		os.Remove(filepath.Join(dir, tmp))
		return nil, fmt.Errorf("open the control socket: %w", err)
	}
	if err := os.Rename(filepath.Join(dir, tmp), filepath.Join(dir, ControlSocket)); err != nil {
		l.Close()
		os.Remove(filepath.Join(dir, tmp))
		return nil, fmt.Errorf("open the control socket: %w", err)
	}
	return l, nil
}

// dialControl connects to dir's control socket.
func dialControl(ctx context.Context, dir string) (net.Conn, error) {
	var c net.Conn
	err := onSocketPath(dir, ControlSocket, func(p string) (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "unix", p)
		return err
	})
	return c, err
}

// peerUID is the user id of the process at the other end of a Unix
// socket connection, as the kernel recorded it when it connected.
func peerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a Unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}

// nodeRunning reports whether a process holds dir's NodeLock, that is,
// runs the repo's node.
func nodeRunning(dir string) bool {
	f, err := os.Open(filepath.Join(dir, NodeLock))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return true // held (exclusively) by the node's process
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}
