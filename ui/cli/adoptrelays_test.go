package cli

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"peerwiki/wiki"
)

// A join takes the relays of its code's relayed addresses into the new
// repo's configuration, once each; a repo that names relays keeps them,
// and a code without relayed addresses writes nothing.
func TestAdoptRelays(t *testing.T) {
	const relay = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWFRHsTwMp9kxwKidyWhZCH75s7U9tDMk5SiD676Gfu8Fx"
	const ada = "12D3KooWNGLxcEFPT9EFkEDGrG7EyFw2TdNjKoEBhnACFdZxBVap"
	id, err := peer.Decode(ada)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/10.0.0.5/tcp/7171"),
		ma.StringCast(relay + "/p2p-circuit"),
		ma.StringCast("/ip4/203.0.113.7/udp/4001/quic-v1/p2p/12D3KooWFRHsTwMp9kxwKidyWhZCH75s7U9tDMk5SiD676Gfu8Fx/p2p-circuit"),
		ma.StringCast(relay + "/p2p-circuit"),
	}
	repo := func(cfg string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, wiki.ConfigFile), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := repo(`{"version":1,"wiki":"w","name":"bob"}`)
	if err := adoptRelays(dir, []peer.AddrInfo{{ID: id, Addrs: addrs}}); err != nil {
		t.Fatal(err)
	}
	c, err := readNetConfig(filepath.Join(dir, wiki.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{relay, "/ip4/203.0.113.7/udp/4001/quic-v1/p2p/12D3KooWFRHsTwMp9kxwKidyWhZCH75s7U9tDMk5SiD676Gfu8Fx"}
	if !slices.Equal(c.Relays, want) {
		t.Fatalf("relays %v, want %v", c.Relays, want)
	}

	kept := repo(`{"version":1,"wiki":"w","name":"bob","network":{"relays":["/ip4/198.51.100.1/tcp/4001/p2p/` + ada + `"]}}`)
	if err := adoptRelays(kept, []peer.AddrInfo{{ID: id, Addrs: addrs}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := readNetConfig(filepath.Join(kept, wiki.ConfigFile)); len(c.Relays) != 1 {
		t.Fatalf("a repo's own relays were replaced: %v", c.Relays)
	}

	plain := repo(`{"version":1,"wiki":"w","name":"bob"}`)
	if err := adoptRelays(plain, []peer.AddrInfo{{ID: id, Addrs: addrs[:1]}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(plain, wiki.ConfigFile)); string(b) != `{"version":1,"wiki":"w","name":"bob"}` {
		t.Fatalf("a code without relayed addresses changed the config: %s", b)
	}
}
