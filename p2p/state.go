package p2p

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Files p2p keeps in a repo directory.
const (
	// PeersFile remembers the peers this replica has synced with (or was
	// given by a join code), so that a later sync or serve finds them.
	PeersFile = "peers.json"
	// ServeFile holds the pid and addresses of the node running on the
	// repo, for scripts; it is removed when the node stops. Commands ask
	// the node itself, through ControlSocket.
	ServeFile = "serve.json"
	// SharedFile marks a wiki as shared: an invite was made here, or the
	// repo was made by join. The terminal UI opens no network socket on a
	// wiki that is not (see IsShared).
	SharedFile = "shared"
)

// RememberedPeer is one entry of PeersFile.
type RememberedPeer struct {
	ID       string   `json:"peer_id"`
	Name     string   `json:"name,omitempty"`
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
	seen := make([]seenPeer, len(infos))
	for i, info := range infos {
		seen[i] = seenPeer{info: info}
	}
	return rememberSeen(dir, seen)
}

// seenPeer is a replica met, with the name it goes by when known.
type seenPeer struct {
	info peer.AddrInfo
	name string
}

// peersFileMu serialises this process's changes of PeersFile (the peer
// book remembers while the node forgets).
var peersFileMu sync.Mutex

func rememberSeen(dir string, infos []seenPeer) error {
	peersFileMu.Lock()
	defer peersFileMu.Unlock()
	ps, err := LoadPeers(dir)
	if err != nil {
		return err
	}
	byID := map[string]int{}
	for i, p := range ps {
		byID[p.ID] = i
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, sp := range infos {
		info := sp.info
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
		if sp.name != "" {
			ps[i].Name = sp.name
		}
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

// serveState is the content of ServeFile.
type serveState struct {
	PID    int      `json:"pid"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

func writeServeState(dir string, st serveState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return writeFileAtomic(filepath.Join(dir, ServeFile), append(b, '\n'))
}

// removeServeState removes ServeFile if it is this process's.
func removeServeState(dir string) {
	var st serveState
	if b, err := os.ReadFile(filepath.Join(dir, ServeFile)); err == nil && json.Unmarshal(b, &st) == nil && st.PID == os.Getpid() {
		os.Remove(filepath.Join(dir, ServeFile))
	}
}

// MarkShared records that the wiki in dir is shared (why: "invite",
// "join"). It is never undone: a member may come back at any time.
func MarkShared(dir, why string) error {
	if _, err := os.Stat(filepath.Join(dir, SharedFile)); err == nil {
		return nil
	}
	b, _ := json.Marshal(map[string]string{"since": time.Now().UTC().Format(time.RFC3339), "by": why})
	return writeFileAtomic(filepath.Join(dir, SharedFile), append(b, '\n'))
}

// IsShared reports whether the wiki in dir was ever shared: SharedFile
// exists (an invite was made or the repo was joined), or the repo
// remembers replicas (it synced with one: a repo made before SharedFile
// existed that invited others counts once they synced with it).
func IsShared(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, SharedFile)); err == nil {
		return true
	}
	ps, _ := LoadPeers(dir)
	return len(ps) > 0
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
