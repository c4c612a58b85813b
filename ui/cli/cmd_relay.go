package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"peerwiki/p2p"
)

func (a *app) relayCommand() *cobra.Command {
	var listen, publicNets, allow []string
	var keyFile, allowFile string
	cmd := &cobra.Command{
		Use:   "relay [--listen MULTIADDR]... [--key FILE] [--public-net CIDR]... [--allow PEERID]... [--allow-file FILE]",
		Short: "Run a relay and DHT bootstrap node for a team's members behind NATs",
		Long: fmt.Sprintf(`Run a Circuit Relay v2 relay, a Kademlia DHT server and an AutoNAT service
until interrupted (SIGINT or SIGTERM), on a machine with a public address:
members behind NATs reserve a slot at it and reach each other through it
(then, often, directly: hole punching), find each other on its DHT, and
learn from it whether they are reachable from outside. Give its address to
'serve' and 'tui' with --relay and --bootstrap (or in the configuration,
see README). It needs no repo, holds no wiki data, and cannot read any: a
relayed connection is encrypted end to end between the two members.

Listens on --listen (default TCP and QUIC on port %d, IPv4 and IPv6). Its
identity is --key (default $XDG_DATA_HOME/peerwiki/relay.key, created with
mode 0600 if missing), so its peer id, and the addresses members were
given, stay the same across restarts. --public-net CIDR makes addresses in
that range count as public (a lab's or a test network's).

Limits: 128 reservations (one a peer, 8 an IP address), 16 relayed
connections a peer; a relayed connection has no time or byte limit (a wiki
sync takes minutes and megabytes, and libp2p opens no application stream
over a connection a relay limits).

Who may use it: anyone, within those limits, unless --allow or
--allow-file is given. Then only the peers they name (the team's members)
may reserve a slot, and connections are relayed only to them (from anyone:
a new member reaches the inviter through the relay to join). --allow-file
names one peer id a line ('#' starts a comment), and is read again when it
changes, so a member is added without a restart; for instance:
  peerwiki members --json | jq -r '.[] | select(.removed | not) | .peer_id' > allow.txt

Prints one line 'listening on MULTIADDR/p2p/PEERID' per address on stdout,
then logs to stderr.`, p2p.DefaultRelayPort),
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.keepRunning()
			nets, err := p2p.ParsePublicNets(publicNets)
			if err != nil {
				return usagef("--public-net: %v", err)
			}
			var addrs []ma.Multiaddr
			for _, s := range listen {
				m, err := ma.NewMultiaddr(s)
				if err != nil {
					return usagef("bad --listen %q: %v", s, err)
				}
				addrs = append(addrs, m)
			}
			if keyFile == "" {
				if keyFile, err = defaultRelayKey(); err != nil {
					return err
				}
			}
			key, err := loadOrCreateKey(keyFile)
			if err != nil {
				return err
			}
			var allowList *p2p.RelayAllow
			if len(allow) > 0 || allowFile != "" {
				var ids []peer.ID
				for _, s := range allow {
					id, err := peer.Decode(s)
					if err != nil {
						return usagef("bad --allow %q: not a peer id", s)
					}
					ids = append(ids, id)
				}
				if allowList, err = p2p.NewRelayAllow(ids, allowFile); err != nil {
					return usagef("--allow-file: %v", err)
				}
			}
			p2p.SetPublicNets(nets)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			log := newLogger(a.stderr)
			r, err := p2p.StartRelay(ctx, p2p.RelayConfig{Key: key, Listen: addrs, Logger: log, Allow: allowList})
			if err != nil {
				return err
			}
			defer r.Close()
			for _, m := range r.Addrs() {
				fmt.Fprintf(a.stdout, "listening on %s\n", m)
			}
			if f, ok := a.stdout.(*os.File); ok {
				f.Sync()
			}
			<-ctx.Done()
			log.Info("shutting down")
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&listen, "listen", nil, "address to listen on (repeatable)")
	cmd.Flags().StringVar(&keyFile, "key", "", "identity key file (created if missing)")
	cmd.Flags().StringArrayVar(&publicNets, "public-net", nil, "address range to count as public, CIDR (repeatable)")
	cmd.Flags().StringArrayVar(&allow, "allow", nil, "a peer id that may use the relay (repeatable; default: anyone)")
	cmd.Flags().StringVar(&allowFile, "allow-file", "", "file of peer ids that may use the relay, one a line, read again when it changes")
	return cmd
}

// defaultRelayKey is $XDG_DATA_HOME/peerwiki/relay.key
// (~/.local/share/peerwiki/relay.key): a relay's identity is the
// machine's, whatever repo $PEERWIKI_REPO names.
func defaultRelayKey() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "peerwiki", "relay.key"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the relay's key: give --key FILE (%v)", err)
	}
	return filepath.Join(home, ".local", "share", "peerwiki", "relay.key"), nil
}

// maxKeyFile bounds an identity key file: an Ed25519 key is 68 bytes.
const maxKeyFile = 4 << 10

// loadOrCreateKey reads a libp2p private key (its protobuf encoding)
// from path, or makes an Ed25519 one there (mode 0600) when the file
// does not exist.
func loadOrCreateKey(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key %s is readable by others (mode %o): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil || len(b) > maxKeyFile {
		return nil, fmt.Errorf("key %s is not a libp2p private key", path)
	}
	return key, nil
}

func createKey(path string) (crypto.PrivKey, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another relay made it just now: use that one.
		return loadOrCreateKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("create key %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("create key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create key %s: %w", path, err)
	}
	return key, nil
}
