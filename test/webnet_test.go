package test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// get fetches a page of a web server started by the test.
func (w *Web) get(t *testing.T, path string) string {
	t.Helper()
	res, err := http.Get(strings.TrimSuffix(w.URL, "/") + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// With a node running on the repo, the web interface shows the replicas
// connected to it and who has a page open in an editor elsewhere; without
// one it says so.
func TestWebShowsPeersAndPresence(t *testing.T) {
	a := InitRepo(t, "alice")
	page := a.OK("new", "Shared", "--body", "x\n")
	w := a.StartWeb()
	if out := w.get(t, "/page/"+page); !strings.Contains(out, "No node runs on this repo") {
		t.Fatalf("without a node the page does not say so:\n%s", out)
	}
	sa := a.StartServe()
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")
	b.StartServe("--peer", sa.Addr())
	Eventually(t, 15*time.Second, "the page to show bob connected", func() bool {
		return strings.Contains(w.get(t, "/page/"+page), "Connected to bob")
	})
	editor := filepath.Join(t.TempDir(), "slow-editor")
	os.WriteFile(editor, []byte("#!/bin/sh\nsleep 60\n"), 0o755)
	b.Env = append(b.Env, "EDITOR="+editor)
	u := startTUI(t, b, "edit", page) // $EDITOR opens on a terminal only
	Eventually(t, 15*time.Second, "the page to show bob editing", func() bool {
		return strings.Contains(w.get(t, "/page/"+page), "Being edited now by bob")
	})
	u.tmux("kill-server")
	Eventually(t, 15*time.Second, "the page to stop showing bob editing", func() bool {
		return !strings.Contains(w.get(t, "/page/"+page), "Being edited now")
	})
}
