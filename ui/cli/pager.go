package cli

import (
	"io"
	"os"
	"os/exec"
	"os/signal"

	"github.com/mattn/go-isatty"
)

// defaultPager is git's: -F leaves at once when the text fits on one
// screen, -R lets the colours through, -X leaves the text on the screen.
const defaultPager = "less -FRX"

// pagerCommand is the pager to run: $PEERWIKI_PAGER, else $PAGER, else
// less -FRX; "" or "cat" means none.
func pagerCommand() string {
	for _, v := range []string{"PEERWIKI_PAGER", "PAGER"} {
		if s, ok := os.LookupEnv(v); ok {
			return s
		}
	}
	return defaultPager
}

// pagedWriter is the pager's standard input. Its text ends up on a
// terminal, so it may be coloured as the terminal would be.
type pagedWriter struct{ io.WriteCloser }

func (pagedWriter) terminal() bool { return true }

// pager returns where a command's long human output goes: a pager, when
// standard output is a terminal (never when it is piped or redirected)
// and --no-pager was not given; otherwise standard output. done waits
// for the pager to exit, once the output is written. A pager that cannot
// start is not an error: the output goes to the terminal as it is.
func (a *app) pager() (w io.Writer, done func()) {
	nothing := func() {}
	f, ok := a.stdout.(*os.File)
	if a.noPager || !ok || !isatty.IsTerminal(f.Fd()) {
		return a.stdout, nothing
	}
	command := pagerCommand()
	if command == "" || command == "cat" {
		return a.stdout, nothing
	}
	c := exec.Command("sh", "-c", command)
	c.Stdout, c.Stderr = f, a.stderr
	c.Env = os.Environ()
	if _, ok := os.LookupEnv("LESS"); !ok {
		c.Env = append(c.Env, "LESS=FRX") // as git does, for a $PAGER of plain "less"
	}
	if _, ok := os.LookupEnv("LV"); !ok {
		c.Env = append(c.Env, "LV=-c")
	}
	in, err := c.StdinPipe()
	if err != nil {
		return a.stdout, nothing
	}
	if err := c.Start(); err != nil {
		return a.stdout, nothing
	}
	// ctrl+c in the pager reaches this process too: as git does, stay
	// until the pager ends, so that it does not keep the terminal behind
	// the shell's back.
	signal.Ignore(os.Interrupt)
	return pagedWriter{in}, func() {
		in.Close()
		c.Wait()
		signal.Reset(os.Interrupt)
	}
}
