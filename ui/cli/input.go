package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"peerwiki/ui/drafts"
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

// editText opens $VISUAL or $EDITOR (else vi) on text, in a draft of the
// repo's (package drafts), and returns the result. page is the page's id
// (empty for a new page), title its title. The drafts that edits which
// did not finish left are named as the editor closes.
func editText(stderr io.Writer, r *wiki.Repo, page, text, title string) (string, *drafts.Draft, error) {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	// Said once the editor is closed, where it is read, not before it
	// takes the screen.
	left := drafts.LeftBehind(r.Dir)
	defer reportLeftDrafts(stderr, left)
	// Kept until what it holds is saved, so that nothing typed is lost
	// when the editor fails, the text is refused or the commit fails: the
	// error then says where it is (Draft.Keep).
	d, err := drafts.New(r.Dir, page, title, text)
	if err != nil {
		return "", nil, fmt.Errorf("make a draft for the editor: %w", err)
	}
	// Ctrl-C and Ctrl-\ are the editor's while it runs (git does the
	// same): this process going away under it would leave the editor
	// on the terminal and the text in a folder nobody names.
	signal.Ignore(os.Interrupt, syscall.SIGQUIT)
	defer signal.Reset(os.Interrupt, syscall.SIGQUIT)
	// A hangup or a kill ends this process: it says where the text is.
	stop, edited := make(chan os.Signal, 1), make(chan struct{})
	signal.Notify(stop, syscall.SIGHUP, syscall.SIGTERM)
	defer func() { signal.Stop(stop); close(edited) }()
	go func() {
		select {
		case sig := <-stop:
			fmt.Fprintf(os.Stderr, "peerwiki: %v while editing; your text is kept in %s\n", sig, d.Path)
			os.Exit(exitSignal(sig))
		case <-edited:
		}
	}()
	// The editor setting may carry arguments ("code --wait"); let the shell split it.
	c := exec.Command("sh", "-c", editor+` "$1"`, "sh", d.Path)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return "", nil, d.Keep(fmt.Errorf("editor %q failed: %w", editor, err), "")
	}
	data, err := os.ReadFile(d.Path)
	if err != nil {
		return "", nil, err
	}
	if err := checkText("the edited text", data); err != nil {
		return "", nil, d.Keep(err, "")
	}
	return strings.Clone(string(data)), d, nil
}

// exitSignal is the exit status of a process ended by sig, as shells
// report it.
func exitSignal(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
