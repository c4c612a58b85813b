package tui

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/atotto/clipboard"
)

// The editor pastes through github.com/atotto/clipboard, which go.mod
// replaces with third_party/clipboard: the same API, looking for a
// clipboard command at the first paste instead of at every start. With a
// fake xclip first on PATH, text written reads back through it.
func TestClipboardFindsItsCommandAtFirstUse(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("the fake clipboard command stands in for xclip")
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat for the fake clipboard command")
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "clip")
	script := "#!/bin/sh\ncase \"$1\" in -out) " + cat + " " + store + ";; -in) " + cat + " > " + store + ";; esac\n"
	if err := os.WriteFile(filepath.Join(dir, "xclip"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// Set before the first use in this test binary: nothing was looked up
	// when the package was initialised.
	t.Setenv("PATH", dir)
	t.Setenv("WAYLAND_DISPLAY", "")
	if err := clipboard.WriteAll("pasted\ttext"); err != nil {
		t.Fatal(err)
	}
	if got, err := clipboard.ReadAll(); err != nil || got != "pasted\ttext" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if clipboard.Unsupported {
		t.Fatal("Unsupported with a clipboard command on PATH")
	}
}
