package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Presence: a page open in an editor on one replica shows on another
// within a second or so; it ends when the editor ends, and expires after
// its lease when the editing replica disappears. It never blocks a write.
func TestPresenceAppearsAndExpires(t *testing.T) {
	lease := []string{"--presence-lease", "2s"}
	a := InitRepo(t, "alice")
	page := a.OK("new", "Shared", "--body", "x\n")
	sa := a.StartServe(lease...)
	b := NewRepo(t)
	b.OK("join", a.OK("invite"), "--name", "bob")
	sb := b.StartServe(append(lease, "--peer", sa.Addr())...)
	Eventually(t, 10*time.Second, "b's node to connect", func() bool {
		return strings.Contains(sb.Log(), "connected")
	})
	editor := filepath.Join(t.TempDir(), "slow-editor")
	os.WriteFile(editor, []byte("#!/bin/sh\nsleep 60\n"), 0o755)
	a.Env = append(a.Env, "EDITOR="+editor)

	u := startTUI(t, a, "edit", page)
	start := time.Now()
	Eventually(t, 5*time.Second, "presence to reach b", func() bool {
		p := b.Show(page)
		return len(p.Editing) == 1 && p.Editing[0].Name == "alice"
	})
	t.Logf("presence reached the other replica in %s", time.Since(start).Round(time.Millisecond))
	if out := b.OK("show", page); !strings.Contains(out, "being edited by alice") {
		t.Fatalf("show does not say who edits:\n%s", out)
	}
	if out := b.OK("list"); !strings.Contains(out, "[being edited by alice]") {
		t.Fatalf("list does not say who edits:\n%s", out)
	}
	// Advisory only: bob can still write.
	b.OK("edit", page, "--body", "bob was here\n")

	// The editor ends (killed): its presence ends too.
	u.tmux("kill-server")
	Eventually(t, 5*time.Second, "presence to end with the editor", func() bool {
		return len(b.Show(page).Editing) == 0
	})

	// The editing replica disappears altogether: the lease runs out.
	startTUI(t, a, "edit", page)
	Eventually(t, 5*time.Second, "presence to reach b again", func() bool {
		return len(b.Show(page).Editing) == 1
	})
	sa.cmd.Process.Kill()
	<-sa.done
	gone := time.Now()
	Eventually(t, 8*time.Second, "presence to expire after its lease", func() bool {
		return len(b.Show(page).Editing) == 0
	})
	if time.Since(gone) < time.Second {
		t.Fatal("presence vanished before its lease could run out")
	}
}
