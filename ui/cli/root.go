// Package cli is peerwiki's command line: one file per command (or close
// group), flags, output formats and exit codes. It is thin: the work is
// done by wiki/, history/, merge/ and p2p/.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"peerwiki/history"
	"peerwiki/p2p"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// Exit statuses. Scripts rely on them.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// usageError marks a mistake in how a command was called (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError carries a specific exit status with its message; an empty
// message prints nothing (the command already reported).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// app is the state shared by the commands of one invocation.
type app struct {
	repoDir string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	repo    *wiki.Repo
	// noPager is --no-pager: long output goes straight to the terminal.
	noPager bool
	// longLived is set by commands that keep running (serve, sync, join,
	// the UI): the collector runs as usual and the repo is opened for a
	// long-lived process.
	longLived bool
	// leaveSearch: the command's sync leaves the search rows of a large
	// batch for later (join --shallow; p2p.Config.LeaveSearchIndex).
	leaveSearch bool
	// commitBase is the commit counter at opening, kept while a node
	// runs on the repo, to tell it of this command's commits (node.go).
	commitBase   int64
	watchCommits bool
	// notice is noticeCommits' connection, dialed by prepareNotice.
	notice *p2p.PendingNotice
	// keepPriority: the write waits for confirmations, so it makes way
	// for the node only once it has them (makeWay).
	keepPriority bool
}

// asProgram: Main runs, as the program itself (not a test running
// commands in its process): calmTimers may start the process again.
var asProgram bool

// Main runs peerwiki with args (without the program name) and returns the
// exit status.
func Main(args []string) int {
	asProgram = true
	return run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	shortLivedGC()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	defer func() {
		if a.repo != nil {
			a.noticeCommits()
			a.warnUnlisted(a.repo)
			a.repo.Close()
		}
	}()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "peerwiki: "+termtext.Line(ee.msg))
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "peerwiki: "+oneLine(err))
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(stderr, "Run 'peerwiki --help' for usage.")
		return ExitUsage
	}
	return ExitError
}

// oneLine keeps error output to a single line. Errors can quote titles
// and peers' messages, so what is left is quoted for the terminal.
func oneLine(err error) string {
	msg := err.Error()
	if errors.Is(err, history.ErrCorruptDatabase) {
		msg = "the repo's database is corrupt or not a peerwiki database; 'peerwiki fsck' names what is damaged"
	}
	return termtext.Line(strings.Join(strings.Fields(msg), " "))
}

// isCobraUsage recognises the argument errors cobra itself produces.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "requires at most", "requires exactly"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "peerwiki",
		Short: "Peer-to-peer notes and wiki with multi-leader replication",
		Long: `peerwiki keeps notes and wiki pages on every member's machine. Every machine
accepts writes, even offline; each page's history is a content-addressed DAG
of signed revisions; concurrent edits become divergent heads that are never
lost, and are resolved by a person or by the wiki's replicated policy.

The repo is --repo DIR, else $PEERWIKI_REPO, else $XDG_DATA_HOME/peerwiki
(~/.local/share/peerwiki). PAGE is a title, a page id, or a unique prefix of
one. Exit status: 0 ok, 1 error, 2 usage error, 3 a write kept locally but
not confirmed by as many replicas as --confirm asked.

On a terminal, 'peerwiki' alone opens the terminal UI.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          unknownCommand,
		RunE:          a.runBare,
		Version:       readBuildVersion().String(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.PersistentFlags().StringVar(&a.repoDir, "repo", "", "repository directory (default $PEERWIKI_REPO or $XDG_DATA_HOME/peerwiki)")
	root.PersistentFlags().BoolVar(&a.noPager, "no-pager", false, "never page long output (default: $PAGER, or less -FRX, on a terminal)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		a.initCommand(), a.newCommand(), a.editCommand(), a.rmCommand(), a.showCommand(), a.listCommand(),
		a.logCommand(), a.diffCommand(), a.searchCommand(), a.statusCommand(), a.conflictsCommand(),
		a.fsckCommand(), a.exportCommand(), a.importCommand(), a.idCommand(),
		a.mergeCommand(), a.resolveCommand(), a.policyCommand(), a.mergeFileCommand(), a.resolverCommand(),
		a.priorityCommand(), a.confirmCommand(), a.membersCommand(), a.memberCommand(),
		a.tuiCommand(), a.webCommand(), a.versionCommand(), a.relayCommand(),
	)
	root.AddCommand(a.replicationCommands()...)
	a.registerCompletions(root)
	return root
}

// unknownCommand is the root's argument check: `peerwiki` takes no
// arguments of its own, so an argument is a command it does not know,
// maybe mistyped. (cobra suggests only when the root checks no arguments.)
func unknownCommand(cmd *cobra.Command, as []string) error {
	if len(as) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", as[0])
	// Up to 2 edits away ("shwo", "serach"), fewer for short words, whose
	// every neighbour would be 2 edits away; a prefix always matches.
	cmd.SuggestionsMinimumDistance = min(2, max(len(as[0])-1, 0))
	if s := cmd.SuggestionsFor(as[0]); len(s) > 0 {
		last := len(s) - 1
		if last > 0 {
			s[last-1] += " or " + s[last]
			s = s[:last]
		}
		msg += "; did you mean " + strings.Join(s, ", ") + "?"
	}
	return usageError{errors.New(msg)}
}

// dir is the repo directory this invocation uses.
func (a *app) dir() string {
	if a.repoDir != "" {
		return a.repoDir
	}
	return wiki.DefaultDir()
}

// open opens the repo once per invocation.
func (a *app) open() (*wiki.Repo, error) {
	if a.repo != nil {
		return a.repo, nil
	}
	r, err := wiki.OpenWith(a.dir(), wiki.OpenOptions{LongLived: a.longLived, Upgrading: func(note string) {
		fmt.Fprintln(a.stderr, "peerwiki: "+note)
	}})
	if err != nil {
		return nil, err
	}
	// What a resolver program did, when a command triggers one.
	r.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a.repo = r
	a.noteCommitBase(r)
	return r, nil
}

// args wraps cobra's validators so that their errors are usage errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, as []string) error {
		if err := v(cmd, as); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// runBare is `peerwiki` with no command: the personal wiki in the default
// repo, created on first use, with an overview of it.
func (a *app) runBare(cmd *cobra.Command, _ []string) error {
	if !wiki.Initialised(a.dir()) {
		r, err := wiki.Init(a.dir(), "")
		if err != nil {
			return err
		}
		a.repo = r
		fmt.Fprintf(a.stdout, "Created a new wiki in %s\n\n", a.dir())
	}
	if interactive(a.stdin, a.stdout) {
		return a.runTUI(cmd, false)
	}
	r, err := a.open()
	if err != nil {
		return err
	}
	st, err := r.Status(cmd.Context())
	if err != nil {
		return err
	}
	out := newPrinter(a.stdout)
	fmt.Fprintf(a.stdout, "%s  %s, %s, %s  (%s)\n\n", out.bold("peerwiki"), pluralCount(st.Pages, "page", "pages"),
		pluralCount(st.Revisions, "revision", "revisions"), pluralCount(len(st.Conflicts), "conflict", "conflicts"), a.dir())
	pages, err := r.List(cmd.Context(), false, false)
	if err != nil {
		return err
	}
	printPageList(out, pages)
	fmt.Fprintln(a.stdout, "\nnew TITLE · edit PAGE · show PAGE · search QUERY · log PAGE · peerwiki --help for all commands")
	return nil
}
