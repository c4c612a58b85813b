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
)

// JoinCodePrefix starts every join code; the digit is the format version.
const JoinCodePrefix = "peerwiki1:"

// ErrBadJoinCode is returned for a join code that cannot be used.
var ErrBadJoinCode = errors.New("invalid join code")

// A JoinCode carries what a new replica needs: the wiki id, its 32-byte
// pre-shared key, and the addresses of a member to sync from.
//
// Text form: "peerwiki1:" + lower-case unpadded base32 of
//
//	uvarint(len(wiki)) wiki | key (32 bytes) | uvarint(n) n × (uvarint(len) multiaddr bytes) | checksum
//
// where every multiaddr ends in /p2p/PEERID and the checksum is the first
// 4 bytes of SHA-256 of everything before it, so a mistyped code is
// reported as such instead of producing a replica of nothing.
type JoinCode struct {
	Wiki  string
	Key   []byte
	Addrs []ma.Multiaddr
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String encodes the join code.
func (j JoinCode) String() string {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(j.Wiki)))
	b = append(b, j.Wiki...)
	b = append(b, j.Key...)
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
// client still works).
func ParseJoinCode(s string) (JoinCode, error) {
	s = strings.Join(strings.Fields(s), "")
	rest, ok := strings.CutPrefix(strings.ToLower(s), JoinCodePrefix)
	if !ok {
		if strings.HasPrefix(strings.ToLower(s), "peerwiki") && strings.Contains(s, ":") {
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
	w, err := field("wiki id", 128)
	if err != nil {
		return JoinCode{}, err
	}
	j.Wiki = string(w)
	if j.Wiki == "" {
		return JoinCode{}, fmt.Errorf("%w: empty wiki id", ErrBadJoinCode)
	}
	j.Key = make([]byte, 32)
	if n, _ := r.Read(j.Key); n != 32 {
		return JoinCode{}, fmt.Errorf("%w: the wiki key is cut short", ErrBadJoinCode)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > 64 {
		return JoinCode{}, fmt.Errorf("%w: bad address count", ErrBadJoinCode)
	}
	for range n {
		ab, err := field("address", 1024)
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
