package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	msmux "github.com/multiformats/go-multistream"

	"peerwiki/history"
)

// JoinProtocol is how a new replica redeems an invite: one stream, one
// request and one answer, each a varint-length-prefixed CBOR frame.
//
//	joiner → redeemer   {wiki, token, name}   token ≤ MaxInviteToken bytes, name ≤ maxJoinName
//	redeemer → joiner   {ok, role, err}       err ≤ maxJoinError bytes, one line
//
// It is the one protocol a stranger may speak, and only to a node whose
// identity may redeem invites (Membership.CanRedeem); the stranger's
// connection is closed after the exchange, and the new member connects
// again as one.
const JoinProtocol = protocol.ID("/peerwiki/join/1.0.0")

// Limits of the join protocol.
const (
	maxJoinName = 128
	// maxJoinError bounds the redeemer's reason for a refusal, and
	// maxJoinRole the role it names.
	maxJoinError = 256
	maxJoinRole  = 64
	// maxJoinFrame bounds either frame: a request with the largest
	// token and name, with room to spare.
	maxJoinFrame = 8 << 10
	// joinExchangeTimeout bounds the exchange on the redeemer's side,
	// within the stranger's joinWindow; joinAnswerWait how long the
	// joiner waits for the answer (Redeem writes to the store).
	joinExchangeTimeout = 8 * time.Second
	joinAnswerWait      = joinExchangeTimeout + time.Second
	// joinAttempts a joinAttemptWindow from one peer, and from one IP
	// address, are answered; more are refused, so that a stranger
	// cannot try tokens by the thousand.
	joinAttempts      = 5
	joinAttemptWindow = time.Minute
)

type joinRequest struct {
	Wiki  string `cbor:"wiki"`
	Token []byte `cbor:"token"`
	Name  string `cbor:"name"`
}

type joinAnswer struct {
	OK   bool   `cbor:"ok"`
	Role string `cbor:"role,omitempty"`
	Err  string `cbor:"err,omitempty"`
}

// errCannotRedeem is the answer of a node whose identity may not add
// members.
const errCannotRedeem = "this member cannot add members; ask an admin"

// strangerProtocols are the protocols a stranger's streams reach: the
// join protocol only.
func (n *Node) strangerProtocols() protocol.Switch {
	mux := msmux.NewMultistreamMuxer[protocol.ID]()
	mux.AddHandler(JoinProtocol, func(_ protocol.ID, rwc io.ReadWriteCloser) error {
		n.handleJoin(rwc.(network.Stream))
		return nil
	})
	return mux
}

// handleJoin answers a join request: a stranger's (or a member's) invite
// token goes to Membership.Redeem, within the attempts a peer and an
// address are allowed. A stranger's connection is closed once it has the
// answer.
func (n *Node) handleJoin(s network.Stream) {
	c := s.Conn()
	p := c.RemotePeer()
	stranger := n.access(p) != AccessMember
	defer func() {
		if stranger {
			c.Close() // this connection only, not the joiner's next one
		}
	}()
	_ = s.SetDeadline(time.Now().Add(joinExchangeTimeout))
	answer := func(a joinAnswer) {
		if b, err := cbor.Marshal(a); err == nil {
			_ = msgio.NewVarintWriter(s).WriteMsg(b)
		}
		_ = s.CloseWrite()
		// Closing the connection at once could lose the answer (it is
		// reset, not shut down): wait for the joiner to read it and
		// close the stream.
		_ = s.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(s, maxJoinFrame))
		_ = s.Close()
	}
	ip := ipOf(c.RemoteMultiaddr())
	keys := []string{"peer " + p.String(), "ip " + ip}
	if ok, wait := n.joins.allow(keys, time.Now()); !ok {
		n.log.Info("refused a join attempt: too many from that peer or address", "peer", p, "ip", ip)
		answer(joinAnswer{Err: "too many join attempts; try again in " + FormatWait(wait)})
		return
	}
	msg, err := msgio.NewVarintReaderSize(s, maxJoinFrame).ReadMsg()
	if err != nil {
		s.Reset()
		return
	}
	var req joinRequest
	if err := wireDec.Unmarshal(msg, &req); err != nil || len(req.Token) == 0 || len(req.Token) > MaxInviteToken ||
		len(req.Name) > maxJoinName || !utf8.ValidString(req.Name) {
		answer(joinAnswer{Err: "malformed join request"})
		return
	}
	if req.Wiki != n.wiki {
		answer(joinAnswer{Err: "this node is of another wiki"})
		return
	}
	if !n.gate.canRedeem() {
		answer(joinAnswer{Err: errCannotRedeem})
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, joinExchangeTimeout-time.Second)
	defer cancel()
	role, err := n.cfg.Members.Redeem(ctx, req.Token, p, req.Name)
	if err != nil {
		n.log.Info("refused an invite", "peer", p, "name", clipName(req.Name), "why", oneLine(err.Error(), maxJoinError))
		answer(joinAnswer{Err: oneLine(err.Error(), maxJoinError)})
		return
	}
	n.joins.forgive(keys)
	n.log.Info("added a member", "peer", p, "name", clipName(req.Name), "role", role)
	answer(joinAnswer{OK: true, Role: oneLine(role, maxJoinRole)})
}

// oneLine is s's first line, at most max bytes (on a rune boundary).
func oneLine(s string, max int) string {
	s, _, _ = strings.Cut(s, "\n")
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// attemptLimiter allows at most max attempts a window under each of
// several keys (a peer, an address); attempts it refused, and those
// forgiven (joins that succeeded), do not count.
type attemptLimiter struct {
	max    int
	window time.Duration

	mu   sync.Mutex
	seen map[string][]time.Time
}

func newAttemptLimiter(max int, window time.Duration) *attemptLimiter {
	return &attemptLimiter{max: max, window: window, seen: map[string][]time.Time{}}
}

// allow reports whether an attempt under keys at now is allowed, and
// when not, how long until it would be.
func (l *attemptLimiter) allow(keys []string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) > 4096 {
		for k, ts := range l.seen {
			if now.Sub(ts[len(ts)-1]) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	var wait time.Duration
	for _, k := range keys {
		ts := l.seen[k]
		for len(ts) > 0 && now.Sub(ts[0]) >= l.window {
			ts = ts[1:]
		}
		l.seen[k] = ts
		if len(ts) >= l.max {
			wait = max(wait, ts[0].Add(l.window).Sub(now))
		}
	}
	if wait > 0 {
		return false, wait
	}
	for _, k := range keys {
		l.seen[k] = append(l.seen[k], now)
	}
	return true, 0
}

// forgive takes back the latest attempt under keys: a join that
// succeeded is not an attempt at guessing (a class joining from behind
// one address must not be refused).
func (l *attemptLimiter) forgive(keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if ts := l.seen[k]; len(ts) > 0 {
			l.seen[k] = ts[:len(ts)-1]
		}
	}
}

// JoinConfig is what a new replica needs to redeem an invite.
type JoinConfig struct {
	// Identity is the new replica's: its peer id is the one the
	// redeemer adds to the member list.
	Identity *history.Identity
	// Wiki is the wiki id, Token the invite token and Peers the
	// inviter's addresses, all from the join code.
	Wiki  string
	Token []byte
	Peers []peer.AddrInfo
	// Name is the new member's display name.
	Name string
	// Timeout bounds reaching each peer (default connectTimeout); the
	// redeemer then has joinAnswerWait to answer.
	Timeout time.Duration
}

// JoinResult is a redeemed invite.
type JoinResult struct {
	// Inviter is the peer that added this replica, at the addresses it
	// was reached at: the first sync is with it (see TrustInviter).
	Inviter peer.AddrInfo
	// Role is the role the new member was given.
	Role string
}

// ErrInviteRefused is Join's error when a redeemer answered no; the
// error's text says who and why. ErrNoInviter: no peer of the join code
// answered.
var (
	ErrInviteRefused = errors.New("invite refused")
	ErrNoInviter     = errors.New("no inviter reachable")
)

// inviteRefused is a redeemer's no, with its reason as received.
type inviteRefused struct {
	peer   peer.ID
	reason string
}

func (e *inviteRefused) Error() string {
	return fmt.Sprintf("invite refused by %s: %q", e.peer, e.reason)
}

func (e *inviteRefused) Is(target error) bool { return target == ErrInviteRefused }

// noInviter is why no peer of a join code redeemed it.
type noInviter struct {
	addrs []string
	why   string
}

func (e *noInviter) Error() string {
	at := strings.Join(e.addrs, ", ")
	if len(e.addrs) > 3 {
		at = strings.Join(e.addrs[:3], ", ") + fmt.Sprintf(" and %d more", len(e.addrs)-3)
	}
	return fmt.Sprintf("no inviter reachable at %s (%s)", at, e.why)
}

func (e *noInviter) Is(target error) bool { return target == ErrNoInviter }

// Join redeems an invite: it dials the join code's peers in turn, with a
// dial-only host of the new replica's identity, and redeems the token at
// the first that answers, whose answer is final. Its errors are one
// line: ErrInviteRefused with the redeemer's reason, or ErrNoInviter
// with why none answered.
func Join(ctx context.Context, cfg JoinConfig) (JoinResult, error) {
	switch {
	case cfg.Identity == nil:
		return JoinResult{}, errors.New("p2p: Join needs the new replica's Identity")
	case len(cfg.Token) == 0 || len(cfg.Token) > MaxInviteToken:
		return JoinResult{}, fmt.Errorf("the invite token must be 1 to %d bytes, not %d", MaxInviteToken, len(cfg.Token))
	case len(cfg.Name) > maxJoinName || !utf8.ValidString(cfg.Name):
		return JoinResult{}, fmt.Errorf("the name must be UTF-8 of at most %d bytes", maxJoinName)
	case len(cfg.Peers) == 0:
		return JoinResult{}, fmt.Errorf("%w: the join code names no peer", ErrNoInviter)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = connectTimeout
	}
	h, err := newHost(hostConfig{key: cfg.Identity.Key, agent: agentFor(cfg.Name)})
	if err != nil {
		return JoinResult{}, err
	}
	defer h.Close()
	req, err := cbor.Marshal(joinRequest{Wiki: cfg.Wiki, Token: cfg.Token, Name: cfg.Name})
	if err != nil {
		return JoinResult{}, err
	}
	var addrs, whys []string
	for _, info := range cfg.Peers {
		for _, a := range info.Addrs {
			addrs = append(addrs, a.String())
		}
		a, err := askToJoin(ctx, h, info, req, cfg.Timeout)
		if err != nil {
			whys = append(whys, err.Error())
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if !a.OK && a.Err == errCannotRedeem {
			// A member that is not an admin: another peer of the code may be.
			whys = append(whys, fmt.Sprintf("%s: %s", info.ID, a.Err))
			continue
		}
		if !a.OK {
			return JoinResult{}, &inviteRefused{peer: info.ID, reason: a.Err}
		}
		return JoinResult{Inviter: peer.AddrInfo{ID: info.ID, Addrs: h.Peerstore().Addrs(info.ID)}, Role: a.Role}, nil
	}
	why := "no peer answered"
	if len(whys) > 0 {
		why = whys[len(whys)-1]
	}
	return JoinResult{}, &noInviter{addrs: addrs, why: why}
}

// askToJoin sends a join request to one peer and reads its answer.
func askToJoin(ctx context.Context, h host.Host, info peer.AddrInfo, req []byte, reach time.Duration) (joinAnswer, error) {
	dctx, cancel := context.WithTimeout(ctx, reach)
	defer cancel()
	if err := h.Connect(dctx, info); err != nil {
		if dctx.Err() != nil && ctx.Err() == nil {
			return joinAnswer{}, fmt.Errorf("%s: not reached within %s", info.ID, FormatWait(reach))
		}
		return joinAnswer{}, fmt.Errorf("%s: %v", info.ID, dialFailure(err))
	}
	// A relay's limits (go-libp2p's defaults: 2 minutes, 128 KiB) are
	// ample for a join, and a joiner behind a NAT may reach its inviter
	// no other way.
	s, err := h.NewStream(network.WithAllowLimitedConn(dctx, "join"), info.ID, JoinProtocol)
	if err != nil {
		return joinAnswer{}, fmt.Errorf("%s: %s", info.ID, errNoJoin)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	_ = s.SetDeadline(time.Now().Add(joinAnswerWait))
	// No CloseWrite: the redeemer takes the stream's end for having
	// read its answer (deferred Close), and closes the connection then.
	if err := msgio.NewVarintWriter(s).WriteMsg(req); err != nil {
		return joinAnswer{}, fmt.Errorf("%s: %s", info.ID, errNoJoin)
	}
	msg, err := msgio.NewVarintReaderSize(s, maxJoinFrame).ReadMsg()
	if err != nil {
		return joinAnswer{}, fmt.Errorf("%s: no answer to the join request (%v)", info.ID, firstLine(err))
	}
	var a joinAnswer
	if err := wireDec.Unmarshal(msg, &a); err != nil {
		return joinAnswer{}, fmt.Errorf("%s: malformed answer to the join request", info.ID)
	}
	if len(a.Err) > maxJoinError || len(a.Role) > maxJoinRole || !printable(a.Role) || (!a.OK && a.Err == "") {
		return joinAnswer{}, fmt.Errorf("%s: malformed answer to the join request", info.ID)
	}
	return a, nil
}

// errNoJoin is what a joiner sees of a node that let it through the
// handshake and then closed the connection, or would not speak the join
// protocol: only an admin's node takes strangers in.
const errNoJoin = "it closed the connection: only an admin's node takes new members (or this identity was removed from the wiki)"

// printable reports whether s has no control characters.
func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// PendingInvite is the invite a replica was made with while no admin's
// node could be reached (join --no-sync, or an inviter away): the node
// redeems it at the first peer it connects to that takes it, then syncs
// with that peer.
type PendingInvite struct {
	Token []byte
	Name  string
	// Redeemed is called once, when an admin's node added this replica.
	Redeemed func(JoinResult)
}

// pendingJoin is a node's state of its PendingInvite.
type pendingJoin struct {
	inv  *PendingInvite
	mu   sync.Mutex
	done bool
	// tried is when each peer was last asked: once a minute at most.
	tried map[peer.ID]time.Time
}

// redeemPending asks p to redeem the node's pending invite, if there is
// one still pending and p was not asked in the last minute.
func (n *Node) redeemPending(p peer.ID) {
	pj := n.pending
	if pj == nil {
		return
	}
	pj.mu.Lock()
	if pj.done || time.Since(pj.tried[p]) < time.Minute {
		pj.mu.Unlock()
		return
	}
	pj.tried[p] = time.Now()
	pj.mu.Unlock()
	req, err := cbor.Marshal(joinRequest{Wiki: n.wiki, Token: pj.inv.Token, Name: pj.inv.Name})
	if err != nil {
		return
	}
	a, err := askToJoin(n.ctx, n.host, peer.AddrInfo{ID: p}, req, connectTimeout)
	if err != nil {
		n.log.Debug("pending invite not redeemed", "peer", p, "err", err)
		return
	}
	if !a.OK {
		n.log.Warn("the invite this replica was made with was refused", "peer", p, "why", oneLine(a.Err, maxJoinError))
		return
	}
	pj.mu.Lock()
	first := !pj.done
	pj.done = true
	pj.mu.Unlock()
	if !first {
		return
	}
	n.log.Info("invite redeemed: this replica is a member", "peer", p, "role", a.Role)
	if pj.inv.Redeemed != nil {
		pj.inv.Redeemed(JoinResult{Inviter: peer.AddrInfo{ID: p, Addrs: n.host.Peerstore().Addrs(p)}, Role: a.Role})
	}
	// The redeemer closes the connection after its answer: sync anew.
	go func() {
		select {
		case <-n.ctx.Done():
		case <-time.After(100 * time.Millisecond):
			n.Trigger(p)
		}
	}()
}
