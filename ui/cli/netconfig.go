package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"peerwiki/p2p"
	"peerwiki/wiki"
)

// Wide-area networking is configured, lowest precedence first, by
//
//   - the "network" object of the user's configuration,
//     $XDG_CONFIG_HOME/peerwiki/config.json (~/.config/peerwiki/config.json);
//   - the "network" object of the repo's config.json (one wiki's team
//     relay, or a LAN-only wiki);
//   - the flags of serve and tui (--bootstrap, --relay, --no-dht,
//     --public-net), each replacing what the files say of it.
//
// A field a file leaves out keeps what the one before said:
//
//	{"network": {"dht": false}}
//	{"network": {"bootstrap": ["/ip4/203.0.113.7/tcp/4001/p2p/12D3Koo…"],
//	             "relays": ["/ip4/203.0.113.7/tcp/4001/p2p/12D3Koo…"],
//	             "public_nets": ["10.213.0.0/16"]}}
//
// With nothing said, the DHT is on with the public IPFS (Amino)
// bootstrap peers, and there are no relays.

// netConfig is the "network" object of a configuration file.
type netConfig struct {
	DHT        *bool    `json:"dht,omitempty"`
	Bootstrap  []string `json:"bootstrap,omitempty"`
	Relays     []string `json:"relays,omitempty"`
	PublicNets []string `json:"public_nets,omitempty"`
}

// over is c with what o says laid over it.
func (c netConfig) over(o netConfig) netConfig {
	if o.DHT != nil {
		c.DHT = o.DHT
	}
	if o.Bootstrap != nil {
		c.Bootstrap = o.Bootstrap
	}
	if o.Relays != nil {
		c.Relays = o.Relays
	}
	if o.PublicNets != nil {
		c.PublicNets = o.PublicNets
	}
	return c
}

// userConfigFile is the user's configuration file.
func userConfigFile() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "peerwiki", "config.json")
}

// readNetConfig reads the "network" object of a configuration file (a
// missing file says nothing). Unknown fields in it are errors: a
// misspelt "dht" must not leave the DHT on.
func readNetConfig(path string) (netConfig, error) {
	if path == "" {
		return netConfig{}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return netConfig{}, nil
	} else if err != nil {
		return netConfig{}, fmt.Errorf("read %s: %w", path, err)
	}
	var top struct {
		Network json.RawMessage `json:"network"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		return netConfig{}, fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	var c netConfig
	if len(top.Network) == 0 {
		return c, nil
	}
	d := json.NewDecoder(bytes.NewReader(top.Network))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return netConfig{}, fmt.Errorf("%s: bad \"network\": %v (fields: dht, bootstrap, relays, public_nets)", path, err)
	}
	return c, nil
}

// wanConfig is the node's wide-area networking as the files and f say
// (the rendezvous secret left for the caller), with its --public-net
// ranges.
func wanConfig(r *wiki.Repo, f nodeFlags) (p2p.WANConfig, netConfig, error) {
	user, err := readNetConfig(userConfigFile())
	if err != nil {
		return p2p.WANConfig{}, netConfig{}, err
	}
	repo, err := readNetConfig(filepath.Join(r.Dir, wiki.ConfigFile))
	if err != nil {
		return p2p.WANConfig{}, netConfig{}, err
	}
	c := user.over(repo)
	on := true
	if f.noDHT && len(f.bootstrap) > 0 {
		return p2p.WANConfig{}, netConfig{}, usagef("--no-dht and --bootstrap contradict each other")
	}
	if len(f.bootstrap) > 0 {
		c.Bootstrap, c.DHT = f.bootstrap, &on
	}
	if f.noDHT {
		off := false
		c.DHT = &off
	}
	if len(f.relays) > 0 {
		c.Relays = f.relays
	}
	if len(f.publicNets) > 0 {
		c.PublicNets = f.publicNets
	}
	w := p2p.WANConfig{DHT: c.DHT == nil || *c.DHT}
	if w.Bootstrap, err = p2p.ParseAddrsOf("--bootstrap", c.Bootstrap); err != nil {
		return p2p.WANConfig{}, netConfig{}, usagef("%v", err)
	}
	if w.Relays, err = p2p.ParseAddrsOf("--relay", c.Relays); err != nil {
		return p2p.WANConfig{}, netConfig{}, usagef("%v", err)
	}
	if _, err := p2p.ParsePublicNets(c.PublicNets); err != nil {
		return p2p.WANConfig{}, netConfig{}, usagef("--public-net: %v", err)
	}
	return w, c, nil
}

// maxAdoptedRelays bounds the relays a join takes from its code.
const maxAdoptedRelays = 4

// adoptRelays gives a new replica, in its repo's configuration, the
// relays its join code's relayed addresses go through (the inviter's
// node reserves at them): the new member's node then uses them as its
// team did, relay and DHT bootstrap, with nothing typed but the invite.
// A repo whose configuration names relays already keeps them.
func adoptRelays(dir string, peers []peer.AddrInfo) error {
	var relays []string
	seen := map[string]bool{}
	for _, pi := range peers {
		for _, a := range pi.Addrs {
			relay, rest := ma.SplitFunc(a, func(c ma.Component) bool { return c.Protocol().Code == ma.P_CIRCUIT })
			if rest == nil || relay == nil {
				continue // not a relayed address
			}
			if s := relay.String(); !seen[s] && len(relays) < maxAdoptedRelays {
				seen[s] = true
				relays = append(relays, s)
			}
		}
	}
	if len(relays) == 0 {
		return nil
	}
	path := filepath.Join(dir, wiki.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return fmt.Errorf("%s is not valid JSON: %v", path, err)
	}
	cur, err := readNetConfig(path)
	if err != nil || cur.Relays != nil {
		return err
	}
	cur.Relays = relays
	if top["network"], err = json.Marshal(cur); err != nil {
		return err
	}
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
