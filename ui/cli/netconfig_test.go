package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"peerwiki/wiki"
)

// The network configuration: the user's file, then the repo's, then the
// flags; a misspelt field is an error, not a silent default.
func TestNetConfigPrecedence(t *testing.T) {
	const relay = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWMYAaf4NHMG6qBsCxu7D1UmM3XffMQnrHtbXCJr3tUACf"
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	repo := &wiki.Repo{Dir: t.TempDir()}
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	user := filepath.Join(home, "peerwiki", "config.json")
	repoFile := filepath.Join(repo.Dir, wiki.ConfigFile)

	w, _, err := wanConfig(repo, nodeFlags{})
	if err != nil || !w.DHT || len(w.Bootstrap) != 0 || len(w.Relays) != 0 {
		t.Fatalf("no configuration: %+v %v; want the DHT on with the default bootstrap peers", w, err)
	}
	write(user, `{"network": {"dht": false, "relays": ["`+relay+`"]}}`)
	write(repoFile, `{"version": 1, "wiki": "w", "name": "n", "network": {"public_nets": ["10.213.0.0/24"]}}`)
	w, c, err := wanConfig(repo, nodeFlags{})
	if err != nil || w.DHT || len(w.Relays) != 1 || len(c.PublicNets) != 1 {
		t.Fatalf("user and repo files: %+v %+v %v", w, c, err)
	}
	// --bootstrap turns the DHT on over the files.
	w, _, err = wanConfig(repo, nodeFlags{bootstrap: []string{relay}})
	if err != nil || !w.DHT || len(w.Bootstrap) != 1 {
		t.Fatalf("--bootstrap: %+v %v", w, err)
	}
	write(repoFile, `{"network": {"dht": true}}`)
	if w, _, _ := wanConfig(repo, nodeFlags{noDHT: true}); w.DHT {
		t.Fatal("--no-dht left the DHT on")
	}
	for _, tc := range []struct {
		user string
		f    nodeFlags
		want string
	}{
		{`{"network": {"dth": false}}`, nodeFlags{}, "unknown field"},
		{`{"network": `, nodeFlags{}, "not valid JSON"},
		{`{}`, nodeFlags{relays: []string{"/ip4/1.2.3.4/tcp/1"}}, "must end in /p2p/PEERID"},
		{`{}`, nodeFlags{publicNets: []string{"10.0.0.0/40"}}, "--public-net"},
		{`{}`, nodeFlags{noDHT: true, bootstrap: []string{relay}}, "contradict"},
	} {
		write(user, tc.user)
		_, _, err := wanConfig(repo, tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %+v: %v, want one line with %q", tc.user, tc.f, err, tc.want)
		}
	}
}
