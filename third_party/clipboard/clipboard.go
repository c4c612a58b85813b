// Package clipboard reads and writes the system clipboard through the
// platform's clipboard commands. It stands in for github.com/atotto/clipboard
// (see the replace directive in peerwiki's go.mod), which Bubble Tea's text
// input and text area use to paste, with the same API; the difference is
// when it looks for those commands. atotto/clipboard searches every PATH
// directory for several programs at package initialisation, which every
// peerwiki command paid (0.16 ms and some fifty stat calls with a
// fourteen-entry PATH, more with a longer one) although only the terminal
// UI ever pastes. Here the search happens at the first ReadAll or WriteAll.
package clipboard

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
)

// Unsupported reports that no clipboard command was found. It is known
// only after the first ReadAll or WriteAll (atotto/clipboard set it at
// start-up); both return an error then anyway.
var Unsupported bool

// ReadAll returns the clipboard's text.
func ReadAll() (string, error) {
	t, err := tool()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(t.paste[0], t.paste[1:]...).Output()
	if err != nil {
		return "", err
	}
	s := string(out)
	if t.crlf {
		s = strings.TrimSuffix(s, "\r\n")
	}
	return s, nil
}

// WriteAll puts text on the clipboard.
func WriteAll(text string) error {
	t, err := tool()
	if err != nil {
		return err
	}
	cmd := exec.Command(t.copy[0], t.copy[1:]...)
	cmd.Stdin = strings.NewReader(text)
	return cmd.Run()
}

// clipboardTool is a pair of commands that paste and copy.
type clipboardTool struct {
	paste, copy []string
	crlf        bool // the paste command ends its output with CRLF
}

// candidates lists the tools to look for, in order of preference.
func candidates() []clipboardTool {
	switch runtime.GOOS {
	case "darwin":
		return []clipboardTool{{paste: []string{"pbpaste"}, copy: []string{"pbcopy"}}}
	case "windows":
		return []clipboardTool{{paste: []string{"powershell.exe", "-NoProfile", "-Command", "Get-Clipboard"}, copy: []string{"clip.exe"}, crlf: true}}
	}
	var ts []clipboardTool
	if os.Getenv("WAYLAND_DISPLAY") != "" {
		ts = append(ts, clipboardTool{paste: []string{"wl-paste", "--no-newline"}, copy: []string{"wl-copy"}})
	}
	return append(ts,
		clipboardTool{paste: []string{"xclip", "-out", "-selection", "clipboard"}, copy: []string{"xclip", "-in", "-selection", "clipboard"}},
		clipboardTool{paste: []string{"xsel", "--output", "--clipboard"}, copy: []string{"xsel", "--input", "--clipboard"}},
		clipboardTool{paste: []string{"termux-clipboard-get"}, copy: []string{"termux-clipboard-set"}},
		// Linux under WSL reaches the Windows clipboard.
		clipboardTool{paste: []string{"powershell.exe", "-NoProfile", "-Command", "Get-Clipboard"}, copy: []string{"clip.exe"}, crlf: true},
	)
}

var errNoTool = errors.New("no clipboard command found: install xclip, xsel, wl-clipboard, or Termux:API")

// tool finds, once, the first candidate whose commands are installed.
var tool = sync.OnceValues(findTool)

func findTool() (clipboardTool, error) {
	for _, t := range candidates() {
		if _, err := exec.LookPath(t.paste[0]); err != nil {
			continue
		}
		if _, err := exec.LookPath(t.copy[0]); err != nil {
			continue
		}
		return t, nil
	}
	Unsupported = true
	return clipboardTool{}, errNoTool
}
