package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"peerwiki/wiki"
)

// bodySource is the --body / --file / - choice of commands that take text.
type bodySource struct {
	body    string
	file    string
	hasBody bool
}

func (b *bodySource) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.body, "body", "", "the body text")
	cmd.Flags().StringVar(&b.file, "file", "", "read the body from file F")
}

// read returns the body the user gave, and whether they gave one; dash is
// whether a "-" argument asked for standard input.
func (b *bodySource) read(cmd *cobra.Command, stdin io.Reader, dash bool) (string, bool, error) {
	b.hasBody = cmd.Flags().Changed("body")
	sources := 0
	for _, on := range []bool{b.hasBody, cmd.Flags().Changed("file"), dash} {
		if on {
			sources++
		}
	}
	if sources > 1 {
		return "", false, usagef("give the body once: --body, --file or -")
	}
	switch {
	case b.hasBody:
		return b.body, true, nil
	case cmd.Flags().Changed("file"):
		data, err := os.ReadFile(b.file)
		if err != nil {
			return "", false, fmt.Errorf("read %s: %w", b.file, unwrapPathError(err))
		}
		return string(data), true, checkText(b.file, data)
	case dash:
		data, err := io.ReadAll(stdin)
		if err != nil {
			return "", false, fmt.Errorf("read standard input: %w", err)
		}
		return string(data), true, checkText("standard input", data)
	}
	return "", false, nil
}

func checkText(name string, data []byte) error {
	if err := wiki.CheckBody(string(data)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// dashArg splits a trailing "-" (read standard input) from positional args.
func dashArg(as []string, n int) ([]string, bool, error) {
	if len(as) == n+1 {
		if as[n] != "-" {
			return nil, false, usagef("unexpected argument %q (the body comes from --body, --file or -)", as[n])
		}
		return as[:n], true, nil
	}
	return as, false, nil
}

// interactive reports whether standard input and output are a terminal.
func interactive(stdin io.Reader, stdout io.Writer) bool {
	in, ok1 := stdin.(*os.File)
	out, ok2 := stdout.(*os.File)
	return ok1 && ok2 && isatty.IsTerminal(in.Fd()) && isatty.IsTerminal(out.Fd())
}

// editText opens $VISUAL or $EDITOR (else vi) on text and returns the result.
func editText(text, name string) (string, error) {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	dir, err := os.MkdirTemp("", "peerwiki-edit-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, wiki.Slug(name)+".md")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return "", err
	}
	// The editor setting may carry arguments ("code --wait"); let the shell split it.
	c := exec.Command("sh", "-c", editor+` "$1"`, "sh", path)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("editor %q failed: %w", editor, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if err := checkText("the edited text", data); err != nil {
		return "", err
	}
	return strings.Clone(string(data)), nil
}
