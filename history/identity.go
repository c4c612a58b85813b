package history

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Identity is a node's Ed25519 key: it signs revisions and is the node's
// libp2p identity.
type Identity struct {
	Key crypto.PrivKey
	ID  peer.ID
}

// NewIdentity generates a fresh Ed25519 identity.
func NewIdentity() (*Identity, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	return identityFromKey(key)
}

func identityFromKey(key crypto.PrivKey) (*Identity, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Identity{Key: key, ID: id}, nil
}

// Save writes the key to path with mode 0600, refusing to overwrite.
func (id *Identity) Save(path string) error {
	b, err := crypto.MarshalPrivateKey(id.Key)
	if err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save identity: %w", err)
	}
	return f.Close()
}

// LoadIdentity reads a key written by Save.
func LoadIdentity(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("identity key %s is missing", path)
		}
		return nil, fmt.Errorf("read identity: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("identity key %s is corrupt: %w", path, err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("identity key %s is not Ed25519", path)
	}
	return identityFromKey(key)
}
