package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The relay's key is made once (mode 0600) and read back the same; a
// key others can read, or a file that is no key, is refused in one line.
func TestRelayKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "relay.key")
	k1, err := loadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v: want mode 0600", st, err)
	}
	k2, err := loadOrCreateKey(path)
	if err != nil || !k1.Equals(k2) {
		t.Fatalf("the key read back differs: %v", err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key others can read: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateKey(bad); err == nil || !strings.Contains(err.Error(), "not a libp2p private key") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a file that is no key: %v", err)
	}
}
