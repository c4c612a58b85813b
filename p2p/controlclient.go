package p2p

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"peerwiki/history"
)

// ErrNoNode is returned when no node runs on a repo: no control socket,
// or one left behind by a node that was killed.
var ErrNoNode = errors.New("no node runs on this repo")

// NodeClient is the NodeAPI of the node running on a repo, reached
// through its control socket from another process of the same user.
type NodeClient struct {
	dir    string
	socket string
	http   *http.Client
}

var _ NodeAPI = (*NodeClient)(nil)

// DialNode returns a client of the node running on the repo in dir, or
// ErrNoNode when there is no control socket. A socket left by a killed
// node is found out by the first request, which returns ErrNoNode.
func DialNode(dir string) (*NodeClient, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	socket := filepath.Join(abs, ControlSocket)
	if _, err := os.Stat(socket); err != nil {
		return nil, ErrNoNode
	}
	c := &NodeClient{dir: abs, socket: socket}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialControl(ctx, abs)
		},
		DisableCompression:    true,
		MaxIdleConnsPerHost:   2,
		ResponseHeaderTimeout: 10 * time.Minute, // a sync's answer comes when it is done
	}}
	return c, nil
}

// Socket is the path of the control socket.
func (c *NodeClient) Socket() string { return c.socket }

// NoticeCommit tells the node running on dir, if any, that a commit was
// made at committed (NodeAPI.CommitNotice), without waiting for its
// answer: it costs a command a connection and a write, not a round trip
// (a node that missed it notices the commit anyway, by watching the
// database). Without a node it does nothing.
//
// commits, when not nil, are the revisions committed with their blocks
// (history.Store.TakeLocalCommits): the node announces them as they are.
func NoticeCommit(dir string, committed time.Time, commits []history.LocalCommit) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := dialControl(ctx, dir)
	if err != nil {
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	writeNotice(conn, committed, commits)
}

// writeNotice writes a commit notice on conn, in one write, and closes
// it; the caller set conn's write deadline (a timer armed there, not
// between the commit and the node hearing of it).
func writeNotice(conn net.Conn, committed time.Time, commits []history.LocalCommit) {
	defer conn.Close()
	body := commitNotice{At: committed.UnixMicro(), Revisions: noticedRevisions(commits)}.appendCBOR(nil)
	req := make([]byte, 0, len(body)+128)
	req = append(req, "POST /v1/commit HTTP/1.1\r\nHost: peerwiki\r\nContent-Type: application/cbor\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\nConnection: close\r\n\r\n"...)
	_, _ = conn.Write(append(req, body...))
}

// PendingNotice is a commit notice's connection, dialed before the
// command commits: the notice then costs a write, and the node has
// accepted the connection and waits for it (dialing after the commit was
// a tenth to a half of a millisecond of an edit's trip to a replica).
type PendingNotice struct {
	dir  string
	at   time.Time
	conn net.Conn // nil: dialing failed
}

// noticeFresh is how long a prepared connection is used: the node gives
// up on a connection that sends no request within 5 s
// (ReadHeaderTimeout).
const noticeFresh = 3 * time.Second

// PrepareNotice dials the node on dir, for Send; a command calls it just
// before its commit, and the node accepts the connection while the
// command commits. The dial is made here, not in a goroutine of its own:
// a command that writes one page runs on one P (ui/cli onePageWrite),
// where such a goroutine ran only once Send waited for it, after the
// commit (0.16 ms at the median, 0.3 at the 90th percentile, of the
// notice's way to the node).
func PrepareNotice(dir string) *PendingNotice {
	p := &PendingNotice{dir: dir, at: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if conn, err := dialControl(ctx, dir); err == nil {
		// Used within noticeFresh of p.at (Send), then written at once.
		_ = conn.SetWriteDeadline(p.at.Add(noticeFresh + time.Second))
		p.conn = conn
	}
	return p
}

// Send is NoticeCommit on the prepared connection, or on a new one if it
// is older than noticeFresh. It is used once.
func (p *PendingNotice) Send(committed time.Time, commits []history.LocalCommit) {
	if p.conn == nil || time.Since(p.at) > noticeFresh {
		p.Close()
		NoticeCommit(p.dir, committed, commits)
		return
	}
	conn := p.conn
	p.conn = nil
	writeNotice(conn, committed, commits)
}

// Close closes the prepared connection unless Send used it.
func (p *PendingNotice) Close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// do sends one request and decodes its answer into out (when not nil).
func (c *NodeClient) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("the node on this repo (%s) answered %s %s with something unreadable: %v", c.socket, method, path, err)
	}
	return nil
}

// send sends one request; the caller closes the body of a 2xx answer.
func (c *NodeClient) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://peerwiki"+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNoNode
		}
		return nil, fmt.Errorf("the node on this repo (%s): %w", c.socket, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e apiError
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e) != nil || e.Error == "" {
		e.Error = resp.Status
	}
	switch e.Code {
	case codeNotShared:
		return nil, ErrNotShared
	case codeBadRequest:
		return nil, fmt.Errorf("%w: %s", errBadRequest, e.Error)
	}
	return nil, fmt.Errorf("the node on this repo (%s): %s", c.socket, e.Error)
}

// Status implements NodeAPI.
func (c *NodeClient) Status(ctx context.Context) (st NodeStatus, err error) {
	return st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Share implements NodeAPI.
func (c *NodeClient) Share(ctx context.Context) (st NodeStatus, err error) {
	return st, c.do(ctx, http.MethodPost, "/v1/share", struct{}{}, &st)
}

// Peers implements NodeAPI.
func (c *NodeClient) Peers(ctx context.Context) (ps []PeerState, err error) {
	return ps, c.do(ctx, http.MethodGet, "/v1/peers", nil, &ps)
}

// Sync implements NodeAPI.
func (c *NodeClient) Sync(ctx context.Context, req SyncRequest) (rep SyncReport, err error) {
	return rep, c.do(ctx, http.MethodPost, "/v1/sync", req, &rep)
}

// Confirm implements NodeAPI.
func (c *NodeClient) Confirm(ctx context.Context, req ConfirmRequest) (rep ConfirmReport, err error) {
	return rep, c.do(ctx, http.MethodPost, "/v1/confirm", req, &rep)
}

// CommitNotice implements NodeAPI.
func (c *NodeClient) CommitNotice(ctx context.Context, committed time.Time, commits []history.LocalCommit) error {
	return c.do(ctx, http.MethodPost, "/v1/commit", commitNotice{At: committed.UnixMicro(), Revisions: noticedRevisions(commits)}, nil)
}

// Editing implements NodeAPI: the request stays open until done is
// called, or this process ends, which closes it as surely.
func (c *NodeClient) Editing(ctx context.Context, page cid.Cid) (func(), error) {
	hold, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel) // until the node has answered
	resp, err := c.send(hold, http.MethodPost, "/v1/editing", editingRequest{Page: page})
	stop()
	if err != nil {
		cancel()
		return func() {}, err
	}
	return func() {
		cancel()
		resp.Body.Close()
	}, nil
}

// Gone reports whether the node this client speaks to has stopped (no
// process holds the repo's node lock any more): a caller that depends on
// a node, such as the terminal UI, may start one itself.
func (c *NodeClient) Gone() bool { return !nodeRunning(c.dir) }
