package p2p

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	circuitclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

// With an allow list, a relay takes reservations only from the peers it
// names and relays connections only to them, from anyone (a joiner
// reaching its inviter); the list follows its file as it changes, and a
// file that turns bad leaves it as it was.
func TestRelayAllowListGatesReservationsAndCircuits(t *testing.T) {
	publicLoopback(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "allow.txt")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// A change the size may not show: its time must.
		later := time.Now().Add(time.Duration(len(text)) * time.Second)
		if err := os.Chtimes(file, later, later); err != nil {
			t.Fatal(err)
		}
	}
	write("# the team, to come\n")
	allow, err := NewRelayAllow(nil, file)
	if err != nil {
		t.Fatal(err)
	}
	relay := startRelayWith(t, allow)
	ri := relayInfo(t, relay)
	// Peers that take relayed connections from the relay, as a member's
	// node with it as its relay does.
	newPeer := func() host.Host {
		h, err := newHost(hostConfig{listen: loopback, relayPeers: func(p peer.ID) bool { return p == ri.ID }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	ada, bob := newPeer(), newPeer()
	write("# the team\n" + ada.ID().String() + "  # ada\n\n")
	reserve := func(h host.Host) error {
		if err := h.Connect(ctx, ri); err != nil {
			t.Fatal(err)
		}
		_, err := circuitclient.Reserve(ctx, h, ri)
		return err
	}
	through := func(to peer.ID) error {
		stranger := newPeer()
		var tcp ma.Multiaddr
		for _, a := range ri.Addrs {
			if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
				tcp = a
			}
		}
		addr := tcp.Encapsulate(ma.StringCast("/p2p/" + ri.ID.String() + "/p2p-circuit"))
		return stranger.Connect(ctx, peer.AddrInfo{ID: to, Addrs: []ma.Multiaddr{addr}})
	}

	if err := reserve(ada); err != nil {
		t.Fatalf("a listed peer's reservation: %v", err)
	}
	if err := reserve(bob); err == nil {
		t.Fatal("an unlisted peer reserved a slot")
	}
	if err := through(ada.ID()); err != nil {
		t.Fatalf("a stranger's connection to a listed peer through the relay: %v", err)
	}

	write(bob.ID().String() + "\n")
	if err := reserve(bob); err != nil {
		t.Fatalf("a peer added to the file: %v", err)
	}
	if err := through(ada.ID()); err == nil {
		t.Fatal("a connection was relayed to a peer taken off the list")
	}

	write("not a peer id\n")
	if !allow.Allows(bob.ID()) || allow.Allows(ada.ID()) {
		t.Fatal("a bad file changed the list")
	}
}

func TestReadAllowFile(t *testing.T) {
	id := "12D3KooWMNbAM6D4LXxxUQ9HXZDEaWQcB8xPr6QWYbaLSQQCuv7q"
	dir := t.TempDir()
	for name, c := range map[string]struct {
		text, err string
		n         int
	}{
		"comments and blanks": {"# team\n\n" + id + "   # ada\n  \n", "", 1},
		"two on a line":       {id + " " + id + "\n", ":1: one peer id a line", 0},
		"not an id":           {"\n" + "ada\n", `:2: "ada" is not a peer id`, 0},
		"too large":           {strings.Repeat("#", maxAllowFile+1), "over", 0},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		ids, err := ReadAllowFile(path)
		if c.err == "" && (err != nil || len(ids) != c.n) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %d ids, %v", name, len(ids), err)
		}
	}
}
