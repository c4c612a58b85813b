package p2p

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// JoinCodePrefix starts every join code; the digit is the format version.
const JoinCodePrefix = "peerwiki2:"

// oldJoinCodePrefix started the codes of the peerwiki that kept a wiki
// private with a shared key, which the code carried.
const oldJoinCodePrefix = "peerwiki1:"

// ErrBadJoinCode is returned for a join code that cannot be used.
var ErrBadJoinCode = errors.New("invalid join code")

// MaxInviteToken bounds an invite token, in a join code and in a join
// request.
const MaxInviteToken = 4 << 10

// Bounds of a join code's other fields.
const (
	maxCodeWiki  = 128
	maxCodeAddrs = 64
	maxCodeAddr  = 1024
)

// A JoinCode carries what a new replica needs: the wiki id, an invite
// token (opaque here: package wiki makes and checks it, and the node it
// is redeemed at hands it to Membership.Redeem), and the addresses of
// the inviter's node.
//
// Text form: "peerwiki2:" + lower-case unpadded base32 of
//
//	uvarint(len(wiki)) wiki | uvarint(len(token)) token | uvarint(n) n × (uvarint(len) multiaddr bytes) | checksum
//
// where the token is at most MaxInviteToken bytes, there is at least
// one multiaddr and every one ends in /p2p/PEERID, and the checksum is
// the first 4 bytes of SHA-256 of everything before it, so a mistyped
// code is reported as such instead of producing a replica of nothing.
// A code without a token names a wiki and where to find it, and admits
// no one (Join refuses it): one made before invites had tokens.
type JoinCode struct {
	Wiki  string
	Token []byte
	Addrs []ma.Multiaddr
	// Key is neither written nor read: codes no longer carry a key.
	//
	// Deprecated: the member list replaced the wiki key; Key goes once
	// no caller uses it.
	Key []byte
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String encodes the join code.
func (j JoinCode) String() string {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(j.Wiki)))
	b = append(b, j.Wiki...)
	b = binary.AppendUvarint(b, uint64(len(j.Token)))
	b = append(b, j.Token...)
	b = binary.AppendUvarint(b, uint64(len(j.Addrs)))
	for _, a := range j.Addrs {
		b = binary.AppendUvarint(b, uint64(len(a.Bytes())))
		b = append(b, a.Bytes()...)
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:4]...)
	return JoinCodePrefix + strings.ToLower(b32.EncodeToString(b))
}

// Peers groups the code's addresses by peer.
func (j JoinCode) Peers() ([]peer.AddrInfo, error) {
	infos, err := peer.AddrInfosFromP2pAddrs(j.Addrs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadJoinCode, err)
	}
	return infos, nil
}

// ParseJoinCode decodes and checks a join code (surrounding white space
// and line breaks inside it are ignored, so a code wrapped by a mail
// client still works). Its errors never quote the token.
func ParseJoinCode(s string) (JoinCode, error) {
	s = strings.Join(strings.Fields(s), "")
	lower := strings.ToLower(s)
	rest, ok := strings.CutPrefix(lower, JoinCodePrefix)
	if !ok {
		switch {
		case strings.HasPrefix(lower, oldJoinCodePrefix):
			return JoinCode{}, fmt.Errorf("%w: this is a code of an older peerwiki that carried a shared key; ask for a new invite", ErrBadJoinCode)
		case strings.HasPrefix(lower, "peerwiki") && strings.Contains(s, ":"):
			return JoinCode{}, fmt.Errorf("%w: unsupported version (this peerwiki reads %q codes)", ErrBadJoinCode, JoinCodePrefix)
		}
		return JoinCode{}, fmt.Errorf("%w: it does not start with %q", ErrBadJoinCode, JoinCodePrefix)
	}
	b, err := b32.DecodeString(strings.ToUpper(rest))
	if err != nil {
		return JoinCode{}, fmt.Errorf("%w: not base32 (a character was mistyped or cut off)", ErrBadJoinCode)
	}
	if len(b) < 4 {
		return JoinCode{}, fmt.Errorf("%w: too short", ErrBadJoinCode)
	}
	body, check := b[:len(b)-4], b[len(b)-4:]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:4], check) {
		return JoinCode{}, fmt.Errorf("%w: checksum mismatch (a character was mistyped or cut off)", ErrBadJoinCode)
	}
	r := bytes.NewReader(body)
	field := func(what string, max uint64) ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > max || n > uint64(r.Len()) {
			return nil, fmt.Errorf("%w: bad %s", ErrBadJoinCode, what)
		}
		out := make([]byte, n)
		r.Read(out)
		return out, nil
	}
	var j JoinCode
	w, err := field("wiki id", maxCodeWiki)
	if err != nil {
		return JoinCode{}, err
	}
	if j.Wiki = string(w); j.Wiki == "" {
		return JoinCode{}, fmt.Errorf("%w: empty wiki id", ErrBadJoinCode)
	}
	if j.Token, err = field("invite token", MaxInviteToken); err != nil {
		return JoinCode{}, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxCodeAddrs {
		return JoinCode{}, fmt.Errorf("%w: bad address count", ErrBadJoinCode)
	}
	if n == 0 {
		return JoinCode{}, fmt.Errorf("%w: it names no address to join through", ErrBadJoinCode)
	}
	for range n {
		ab, err := field("address", maxCodeAddr)
		if err != nil {
			return JoinCode{}, err
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return JoinCode{}, fmt.Errorf("%w: address: %v", ErrBadJoinCode, err)
		}
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			return JoinCode{}, fmt.Errorf("%w: address %s names no peer", ErrBadJoinCode, a)
		}
		j.Addrs = append(j.Addrs, a)
	}
	if r.Len() != 0 {
		return JoinCode{}, fmt.Errorf("%w: trailing bytes", ErrBadJoinCode)
	}
	return j, nil
}

// CodeAddrs picks at most max of a node's addresses for a join code:
// direct ones that other machines can dial first, then up to three
// relayed ones (a joiner behind another NAT reaches the inviter only
// through its relay), then link-local and loopback ones, each group in
// the order given.
func CodeAddrs(addrs []ma.Multiaddr, max int) []ma.Multiaddr {
	var direct, relayed, rest []ma.Multiaddr
	for _, a := range sortDialable(addrs) {
		switch {
		case isRelayed(a):
			relayed = append(relayed, a)
		case manet.IsIPLoopback(a) || manet.IsIP6LinkLocal(a): // not relayed here
			rest = append(rest, a)
		default:
			direct = append(direct, a)
		}
	}
	keepRelayed := min(len(relayed), 3)
	out := append([]ma.Multiaddr{}, direct[:min(len(direct), max-keepRelayed)]...)
	out = append(out, relayed[:keepRelayed]...)
	for _, a := range append(append(direct[min(len(direct), max-keepRelayed):], relayed[keepRelayed:]...), rest...) {
		if len(out) >= max {
			break
		}
		out = append(out, a)
	}
	return out
}
