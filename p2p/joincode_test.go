package p2p

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

var testToken = []byte("an invite token, opaque to p2p \x00\x01\xff")

func testCode() JoinCode {
	return JoinCode{Wiki: "wikiid", Token: testToken, Addrs: []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/7171/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"),
		ma.StringCast("/ip6/::1/tcp/7171/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"),
	}}
}

func TestJoinCodeRoundTripAndTypos(t *testing.T) {
	code := testCode()
	s := code.String()
	if !strings.HasPrefix(s, "peerwiki2:") {
		t.Fatalf("code %q", s)
	}
	got, err := ParseJoinCode("  " + s[:20] + "\n" + s[20:] + " ")
	if err != nil {
		t.Fatal(err)
	}
	if got.Wiki != "wikiid" || !bytes.Equal(got.Token, testToken) || len(got.Addrs) != 2 || !got.Addrs[1].Equal(code.Addrs[1]) || got.Key != nil {
		t.Fatalf("round trip: %+v", got)
	}
	if peers, err := got.Peers(); err != nil || len(peers) != 1 || len(peers[0].Addrs) != 2 {
		t.Fatalf("peers %+v, %v", peers, err)
	}
	// The biggest token a code carries.
	big := testCode()
	big.Token = bytes.Repeat([]byte{7}, MaxInviteToken)
	if got, err := ParseJoinCode(big.String()); err != nil || len(got.Token) != MaxInviteToken {
		t.Fatalf("a code with a %d-byte token: %v", MaxInviteToken, err)
	}

	typo := []byte(s)
	i := len(JoinCodePrefix) + 10
	if typo[i] == 'a' {
		typo[i] = 'b'
	} else {
		typo[i] = 'a'
	}
	tooBig, noAddr := testCode(), testCode()
	tooBig.Token = bytes.Repeat([]byte{7}, MaxInviteToken+1)
	noAddr.Addrs = nil
	for what, bad := range map[string]string{
		"typo":             string(typo),
		"cut short":        s[:len(s)-3],
		"not a code":       "hello",
		"a later version":  "peerwiki3:abc",
		"not base32":       JoinCodePrefix + "!!!",
		"empty":            "",
		"token too big":    tooBig.String(),
		"no address":       noAddr.String(),
		"empty after code": JoinCodePrefix,
	} {
		if _, err := ParseJoinCode(bad); !errors.Is(err, ErrBadJoinCode) {
			t.Errorf("%s: ParseJoinCode(%.40q…) = %v, want ErrBadJoinCode", what, bad, err)
		} else if strings.Contains(err.Error(), string(testToken[:10])) {
			t.Errorf("%s: the error shows the token: %v", what, err)
		}
	}
}

// A code of the peerwiki that carried a shared key is refused with a
// word on what to do.
func TestOldJoinCodeIsRefusedWithAWord(t *testing.T) {
	old := "peerwiki1:a4fxmzlsnfxhimjvgezdgnbvgy3doobzmeytsnrxgqydcmrtgq2tmnzygkyqc"
	_, err := ParseJoinCode(old)
	if !errors.Is(err, ErrBadJoinCode) || !strings.Contains(err.Error(), "an older peerwiki that carried a shared key; ask for a new invite") {
		t.Fatalf("an old code: %v", err)
	}
	if _, err := ParseJoinCode(strings.ToUpper(old)); !strings.Contains(fmt_(err), "older peerwiki") {
		t.Fatalf("an old code in capitals: %v", err)
	}
}

func fmt_(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Whatever it is given, the parser neither panics nor accepts a code it
// would not write the same way.
func FuzzParseJoinCode(f *testing.F) {
	f.Add(testCode().String())
	f.Add(JoinCodePrefix)
	f.Add("peerwiki1:abcd")
	f.Add(JoinCodePrefix + "aaaaaaaa")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJoinCode(s)
		if err != nil {
			if !errors.Is(err, ErrBadJoinCode) {
				t.Fatalf("error %v is not ErrBadJoinCode", err)
			}
			return
		}
		again, err := ParseJoinCode(j.String())
		if err != nil || again.Wiki != j.Wiki || !bytes.Equal(again.Token, j.Token) || len(again.Addrs) != len(j.Addrs) {
			t.Fatalf("%q parsed, but its re-encoding %q gives %+v, %v", s, j.String(), again, err)
		}
		if len(j.Token) > MaxInviteToken || len(j.Addrs) == 0 {
			t.Fatalf("accepted %+v", j)
		}
	})
}
