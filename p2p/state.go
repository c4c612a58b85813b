package p2p

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Files p2p keeps in a repo directory.
const (
	// PeersFile remembers the peers this replica has synced with (or was
	// given by a join code), so that a later sync or serve finds them.
	PeersFile = "peers.json"
	// ServeFile holds the addresses of a running `serve` on the repo; it
	// is removed when serve stops. `id` and `invite` read it.
	ServeFile = "serve.json"
)

// RememberedPeer is one entry of PeersFile.
type RememberedPeer struct {
	ID       string   `json:"peer_id"`
	Addrs    []string `json:"addrs"`
	LastSeen string   `json:"last_seen,omitempty"`
}

// LoadPeers reads the remembered peers of a repo (none if the file is missing).
func LoadPeers(dir string) ([]RememberedPeer, error) {
	b, err := os.ReadFile(filepath.Join(dir, PeersFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read remembered peers: %w", err)
	}
	var ps []RememberedPeer
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %v", filepath.Join(dir, PeersFile), err)
	}
	return ps, nil
}

// RememberPeers merges infos into the repo's remembered peers (newest
// addresses first, at most 8 per peer) and marks them seen now.
func RememberPeers(dir string, infos []peer.AddrInfo) error {
	ps, err := LoadPeers(dir)
	if err != nil {
		return err
	}
	byID := map[string]int{}
	for i, p := range ps {
		byID[p.ID] = i
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, info := range infos {
		var addrs []string
		for _, a := range info.Addrs {
			addrs = append(addrs, a.String())
		}
		i, ok := byID[info.ID.String()]
		if !ok {
			ps = append(ps, RememberedPeer{ID: info.ID.String()})
			i = len(ps) - 1
			byID[info.ID.String()] = i
		}
		seen := map[string]bool{}
		var merged []string
		for _, a := range append(addrs, ps[i].Addrs...) {
			if !seen[a] && len(merged) < 8 {
				seen[a] = true
				merged = append(merged, a)
			}
		}
		ps[i].Addrs, ps[i].LastSeen = merged, now
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	b, _ := json.MarshalIndent(ps, "", "  ")
	return writeFileAtomic(filepath.Join(dir, PeersFile), append(b, '\n'))
}

// AddrInfos turns remembered peers into dialable address infos, skipping
// entries that do not parse.
func AddrInfos(ps []RememberedPeer) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, p := range ps {
		id, err := peer.Decode(p.ID)
		if err != nil {
			continue
		}
		info := peer.AddrInfo{ID: id}
		for _, s := range p.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				info.Addrs = append(info.Addrs, a)
			}
		}
		if len(info.Addrs) > 0 {
			out = append(out, info)
		}
	}
	return out
}

// ServeState is the content of ServeFile.
type ServeState struct {
	PID    int      `json:"pid"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	// Connected are the peers the node is connected to (updated as they
	// come and go).
	Connected []ConnectedPeer `json:"connected"`
}

// ConnectedPeer is a peer a running node is connected to.
type ConnectedPeer struct {
	ID    string   `json:"peer_id"`
	Addrs []string `json:"addrs"`
}

// WriteServeState records a running node's addresses in the repo.
func WriteServeState(dir string, st ServeState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return writeFileAtomic(filepath.Join(dir, ServeFile), append(b, '\n'))
}

// RemoveServeState removes ServeFile if it is this process's.
func RemoveServeState(dir string) {
	if st, ok := ReadServeState(dir); ok && st.PID == os.Getpid() {
		os.Remove(filepath.Join(dir, ServeFile))
	}
}

// ReadServeState returns the addresses of the serve running on the repo;
// ok is false when none runs (no file, or its process is gone).
func ReadServeState(dir string) (ServeState, bool) {
	var st ServeState
	b, err := os.ReadFile(filepath.Join(dir, ServeFile))
	if err != nil || json.Unmarshal(b, &st) != nil || st.PID <= 0 {
		return st, false
	}
	if err := syscall.Kill(st.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return st, false
	}
	return st, true
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
