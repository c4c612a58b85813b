package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/ipfs/go-cid"
	"github.com/muesli/termenv"

	"peerwiki/ui/drafts"
	"peerwiki/ui/termtext"
	"peerwiki/wiki"
)

// NotShared is the Mode of a node on a wiki never shared: it listens
// nowhere until an invite is made.
const NotShared = "not shared"

// NetStatus is what the status bar says about replication.
type NetStatus struct {
	// Mode is "offline", "online", NotShared, or how else the repo
	// replicates (for example "via serve", when a serve process runs on
	// the repo).
	Mode string
	// Peers is the number of connected peers; Via counts them by how
	// they are connected (lan, direct, hole-punched, relayed).
	Peers int
	Via   map[string]int
	// LastSync is when a sync with a peer last finished (zero: never).
	LastSync time.Time
	// SyncUnknown is set when the node is another process's and the last
	// sync cannot be known.
	SyncUnknown bool
}

// Network reports replication state; the UI polls it with the commit
// counter. The caller owns the node behind it.
type Network interface {
	Status() NetStatus
}

// Options configure the UI.
type Options struct {
	Repo *wiki.Repo
	// Network is the replication node's state; nil shows "offline".
	Network Network
	// MarkdownStyle is "notty" for pages without ANSI styles; "" means
	// "notty" under NO_COLOR, else "dark".
	MarkdownStyle string
	// Editor is the external editor command; nil means $VISUAL, $EDITOR, vi.
	Editor []string
	// PollInterval is how often the commit counter is checked (default 300ms).
	PollInterval time.Duration
	// MergePage, when defined, opens the merge screen of that page alone:
	// leaving it leaves the UI (`peerwiki merge PAGE`).
	MergePage cid.Cid
	// Now is the clock for "synced 5s ago" (default time.Now).
	Now func() time.Time
	// Resolved, when set, is told of each revision the merge screen
	// saves (`peerwiki merge PAGE` prints it, as `resolve` does).
	Resolved func(rev cid.Cid)
	// Editing, when set, tells the other replicas that page is open in
	// the editor here, until done is called (presence: advisory).
	Editing func(page cid.Cid) (done func())
	// Presence, when set, says who on other replicas edits page now.
	Presence func(page cid.Cid) []Editor
	// Invite, when set, shares the wiki (the node starts listening if it
	// did not) and returns a join code for a new member: the browser's
	// "i" key.
	Invite func() (code string, err error)
}

// Editor is someone editing a page on another replica.
type Editor struct {
	Name  string
	Since time.Time
}

// screen is one of the UI's screens. Screens are pointers and keep their
// own state; the Model keeps them on a stack (esc goes back).
type screen interface {
	// update handles a message addressed to the screen on top.
	update(m *Model, msg tea.Msg) tea.Cmd
	// view renders the screen's body in width×height cells.
	view(m *Model, width, height int) string
	// keys are the keys the help bar shows now.
	keys(m *Model) []key.Binding
	// reload re-reads what the screen shows after the repo changed.
	reload(m *Model)
	// name is the screen's title-bar label.
	name() string
}

// Model is the whole UI: a stack of screens, a status bar, a help bar,
// and a prompt when one is open.
type Model struct {
	opts   Options
	repo   *wiki.Repo
	ctx    context.Context
	st     styles
	md     *mdRenderer
	width  int
	height int

	stack  []screen
	prompt *prompt

	commits   int64
	conflicts int
	net       NetStatus

	flash    string
	flashErr bool
	// quitAsked is set while the "quit anyway?" question of ctrl+c is open.
	quitAsked bool
	// later are commands a screen started outside an Update's return (a
	// background load its reload began): the next Update returns them.
	later []tea.Cmd
}

// loaded is what a background load returns (a tea.Msg): applying it
// hands the result to the screen that asked.
type loaded interface {
	apply(m *Model)
}

// runLater has the next Update return cmd, to run in the background.
func (m *Model) runLater(cmd tea.Cmd) { m.later = append(m.later, cmd) }

// withLater is cmd and the commands runLater collected.
func (m *Model) withLater(cmd tea.Cmd) tea.Cmd {
	if len(m.later) == 0 {
		return cmd
	}
	cmds := append([]tea.Cmd{cmd}, m.later...)
	m.later = nil
	return tea.Batch(cmds...)
}

type pollMsg struct{}

// New builds the UI model. It reads the repo once to fill the first screen.
func New(ctx context.Context, opts Options) *Model {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 300 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MarkdownStyle == "" {
		opts.MarkdownStyle = "dark"
		if noColor() {
			opts.MarkdownStyle = "notty"
		}
	}
	m := &Model{opts: opts, repo: opts.Repo, ctx: ctx, st: newStyles(), width: 80, height: 24}
	m.md = newMarkdown(opts.MarkdownStyle)
	m.commits, _ = m.repo.ChangeCount(ctx)
	m.refreshStatus()
	if opts.MergePage.Defined() {
		m.push(newMergeScreen(m, opts.MergePage))
	} else {
		m.push(newBrowser(m))
	}
	// Text an editor wrote that was never saved (this UI or an edit
	// killed before it could save): said at once, on the first screen.
	if left := drafts.LeftBehind(m.repo.Dir); len(left) > 0 {
		more := ""
		if len(left) > 1 {
			more = fmt.Sprintf(" (and %d more: 'peerwiki edit' in $EDITOR lists them)", len(left)-1)
		}
		m.setFlash(left[0].Note()+more, true)
	}
	return m
}

// Init starts the commit-counter poll, and what the first screen left to
// load in the background.
func (m *Model) Init() tea.Cmd { return m.withLater(m.poll()) }

func (m *Model) poll() tea.Cmd {
	return tea.Tick(m.opts.PollInterval, func(time.Time) tea.Msg { return pollMsg{} })
}

// Update routes a message: sizes and polls to the model, keys to the
// prompt when one is open, else to the screen on top; a background
// load's result to the screen that asked for it.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	model, cmd := m.update(msg)
	return model, m.withLater(cmd)
}

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case loaded:
		msg.apply(m)
		return m, nil
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case pollMsg:
		m.checkCommits()
		return m, m.poll()
	case tea.KeyMsg:
		if key.Matches(msg, keyForceQ) {
			// ctrl+c always leaves, but asks once when it would throw
			// away an edit or merge choices; a second ctrl+c is the yes.
			if m.unsaved() && !m.quitAsked {
				m.quitAsked = true
				m.ask("You have unsaved changes. Quit anyway? (ctrl+c again also quits)", func(m *Model) tea.Cmd {
					m.dropDrafts()
					return tea.Quit
				})
				return m, nil
			}
			m.dropDrafts()
			return m, tea.Quit
		}
		m.quitAsked = false
		// Keys typed faster than the UI reads (or sent by a script)
		// arrive as one message with several runes. As commands they are
		// several key presses; as text too, since the text fields match
		// a message's String() against key names, and a burst "home" or
		// "end" would move the cursor instead of being typed.
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			var cmds []tea.Cmd
			for _, r := range msg.Runes {
				_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt})
				cmds = append(cmds, cmd)
			}
			return m, tea.Batch(cmds...)
		}
		m.flash = ""
		if key.Matches(msg, keyHelp) && !m.typing() {
			if _, open := m.top().(*helpScreen); !open {
				m.push(newHelp(m, m.top()))
				return m, nil
			}
		}
		if m.prompt != nil {
			return m, m.prompt.update(m, msg)
		}
	}
	if top := m.top(); top != nil {
		return m, top.update(m, msg)
	}
	return m, nil
}

// checkCommits reloads every screen when another process, a peer, or this
// one wrote to the store since the last look.
func (m *Model) checkCommits() {
	if m.opts.Network != nil {
		m.net = m.opts.Network.Status()
	}
	n, err := m.repo.ChangeCount(m.ctx)
	if err != nil || n == m.commits {
		return
	}
	m.commits = n
	m.reloadAll()
}

// reloadAll re-reads the repo for every screen on the stack.
func (m *Model) reloadAll() {
	m.refreshStatus()
	for _, s := range m.stack {
		s.reload(m)
	}
}

// wrote is called after the UI itself committed: the counter moved
// because of us, so reload now instead of at the next poll.
func (m *Model) wrote() {
	if n, err := m.repo.ChangeCount(m.ctx); err == nil {
		m.commits = n
	}
	m.reloadAll()
}

func (m *Model) refreshStatus() {
	if rows, err := m.repo.ConflictedPages(m.ctx); err == nil {
		m.conflicts = len(rows)
	}
	if m.opts.Network != nil {
		m.net = m.opts.Network.Status()
	}
}

// unsavedScreen is implemented by screens that hold work not yet written.
type unsavedScreen interface {
	unsaved() bool
}

func (m *Model) unsaved() bool {
	for _, s := range m.stack {
		if u, ok := s.(unsavedScreen); ok && u.unsaved() {
			return true
		}
	}
	return false
}

func (m *Model) top() screen {
	if len(m.stack) == 0 {
		return nil
	}
	return m.stack[len(m.stack)-1]
}

func (m *Model) push(s screen) { m.stack = append(m.stack, s) }

// pop leaves the screen on top; leaving the last one quits.
func (m *Model) pop() tea.Cmd {
	if len(m.stack) > 0 {
		if e, ok := m.stack[len(m.stack)-1].(*editor); ok {
			e.leave()
		}
		m.stack = m.stack[:len(m.stack)-1]
	}
	if len(m.stack) == 0 {
		return tea.Quit
	}
	return nil
}

// dropDrafts discards the $EDITOR drafts of the editors open: the user
// chose to quit without saving them.
func (m *Model) dropDrafts() {
	for _, s := range m.stack {
		if e, ok := s.(*editor); ok {
			e.dropDraft()
		}
	}
}

// replace swaps the screen on top for s.
func (m *Model) replace(s screen) {
	if len(m.stack) > 0 {
		if e, ok := m.stack[len(m.stack)-1].(*editor); ok {
			e.leave()
		}
		m.stack = m.stack[:len(m.stack)-1]
	}
	m.push(s)
}

// setFlash shows text in the status line. It often quotes a title or an
// error about one, so it is quoted for the terminal.
func (m *Model) setFlash(text string, isErr bool) {
	m.flash, m.flashErr = termtext.Line(text), isErr
}

// fail shows err in the status line, in the one-line form the CLI uses.
func (m *Model) fail(err error) {
	m.setFlash(oneLine(err.Error()), true)
}

// View draws the title bar, the screen, the prompt, the help bar and the
// status bar, exactly filling the terminal.
func (m *Model) View() string {
	top := m.top()
	if top == nil {
		return ""
	}
	w, h := max(m.width, 20), max(m.height, 6)
	// Screen names carry page titles: quoted here, once for every screen.
	title := m.st.title.Render(truncate("peerwiki · "+termtext.Line(top.name()), w))
	var keys []key.Binding
	var promptLine string
	if m.prompt != nil {
		keys = m.prompt.keys()
		promptLine = m.prompt.view(m, w)
	} else {
		keys = top.keys(m)
	}
	if _, open := top.(*helpScreen); !open && !m.typing() {
		keys = append(keys, keyHelp)
	}
	keys = append(keys, keyForceQ)
	help := m.helpLines(keys, w)
	status := m.statusLines(w)
	promptH := 0
	if promptLine != "" {
		promptH = strings.Count(promptLine, "\n") + 1
	}
	// On a terminal too small for every key, the screen keeps one line
	// and the help bar what is left.
	if room := h - 2 - len(status) - promptH; len(help) > room {
		help = help[:max(room, 0)]
		if len(help) > 0 {
			help[len(help)-1] = truncate(help[len(help)-1], w-2) + " …"
		}
	}
	bodyH := h - 1 - len(help) - len(status) - promptH
	body := fitHeight(top.view(m, w, max(bodyH, 1)), max(bodyH, 1), w)
	// Again, now that the screen has laid out what it scrolls.
	if again := m.statusLines(w); len(again) == len(status) {
		status = again
	}
	parts := []string{title, body}
	if promptLine != "" {
		parts = append(parts, promptLine)
	}
	parts = append(parts, help...)
	parts = append(parts, status...)
	return strings.Join(parts, "\n")
}

// helpLines lays every key out over as many lines as the width needs:
// all keys a person needs are always on screen.
func (m *Model) helpLines(keys []key.Binding, w int) []string {
	var lines []string
	cur, curW := "", 0
	for _, k := range keys {
		if !k.Enabled() {
			continue
		}
		h := k.Help()
		item := m.st.helpKey.Render(h.Key) + " " + m.st.helpDesc.Render(h.Desc)
		iw := lipgloss.Width(h.Key) + 1 + lipgloss.Width(h.Desc)
		sep := 3
		if curW > 0 && curW+sep+iw > w {
			lines = append(lines, cur)
			cur, curW = "", 0
		}
		if curW > 0 {
			cur += " · "
			curW += sep
		}
		cur += item
		curW += iw
	}
	if curW > 0 {
		lines = append(lines, cur)
	}
	return lines
}

// statusLines are the bottom line (replication state, conflicts, where
// the screen is scrolled to, and the last message), preceded by the
// message alone, wrapped, when it does not fit beside the rest: a
// message often names the keys to press next, so it is never cut.
func (m *Model) statusLines(w int) []string {
	var parts []string
	switch {
	case m.opts.Network == nil:
		parts = append(parts, "offline")
	case strings.HasPrefix(m.net.Mode, "offline"), strings.HasPrefix(m.net.Mode, NotShared):
		parts = append(parts, termtext.Line(m.net.Mode)) // may name an error
	default:
		mode := termtext.Line(m.net.Mode)
		if mode == "" {
			mode = "online"
		}
		s := fmt.Sprintf("%s · %d %s", mode, m.net.Peers, plural(m.net.Peers, "peer", "peers")) + viaSummary(m.net.Via)
		switch {
		case m.net.SyncUnknown:
		case m.net.LastSync.IsZero():
			s += " · not synced yet"
		default:
			s += " · synced " + ago(m.opts.Now().Sub(m.net.LastSync))
		}
		parts = append(parts, s)
	}
	parts = append(parts, fmt.Sprintf("%d %s", m.conflicts, plural(m.conflicts, "conflict", "conflicts")))
	if sc, ok := m.top().(scrollingScreen); ok && m.prompt == nil {
		if pos := sc.scrollPosition(); pos != "" {
			parts = append(parts, pos)
		}
	}
	left := " " + strings.Join(parts, " · ") + " "
	line := m.st.statusBar.Render(truncate(left, w))
	if m.flash == "" {
		return []string{line}
	}
	style := m.st.okMsg
	if m.flashErr {
		style = m.st.errMsg
	}
	if room := w - lipgloss.Width(left) - 1; lipgloss.Width(m.flash) <= room {
		return []string{line + " " + style.Render(m.flash)}
	}
	var out []string
	for _, l := range strings.Split(ansi.Wrap(m.flash, w, ""), "\n") {
		out = append(out, style.Render(truncate(l, w)))
	}
	return append(out, line)
}

// scrollingScreen is implemented by screens whose content can be longer
// than the terminal: the status bar says where the view is.
type scrollingScreen interface {
	// scrollPosition is "lines 20–43 of 120 (36%)", or "" when
	// everything fits.
	scrollPosition() string
}

// scrollPosition describes a viewport's position for the status bar.
func scrollPosition(vp viewport.Model) string {
	total := vp.TotalLineCount()
	if total <= vp.Height || vp.Height <= 0 {
		return ""
	}
	first := vp.YOffset + 1
	last := min(vp.YOffset+vp.Height, total)
	return fmt.Sprintf("lines %d–%d of %d (%d%%)", first, last, total, int(vp.ScrollPercent()*100+0.5))
}

func ago(d time.Duration) string {
	switch {
	case d < 2*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	default:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// truncate cuts s to w cells, with "…" when it cut; styling escapes
// are kept intact.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// fitHeight pads or cuts s to exactly h lines of at most w cells, so that
// the bars below a screen never move or scroll off.
func fitHeight(s string, h, w int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = truncate(l, w) // a wider line would wrap and push the bars off
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// ErrNotTerminal is returned by Run when stdin or stdout is not a terminal.
var ErrNotTerminal = errors.New("the terminal UI needs a terminal on stdin and stdout; use the commands instead ('peerwiki --help')")

// Run runs the UI on the terminal until the person quits.
func Run(ctx context.Context, opts Options, in io.Reader, out io.Writer) error {
	if noColor() {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	m := New(ctx, opts)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// editorCommand is the external editor: Options.Editor, else $VISUAL,
// else $EDITOR, else vi. The variables may carry arguments ("code -w").
func (m *Model) editorCommand() []string {
	if len(m.opts.Editor) > 0 {
		return m.opts.Editor
	}
	for _, v := range []string{"VISUAL", "EDITOR"} {
		if f := strings.Fields(os.Getenv(v)); len(f) > 0 {
			return f
		}
	}
	return []string{"vi"}
}

// shortRev abbreviates a revision id as the CLI does, so that what the
// UI shows can be typed back to `peerwiki show --rev`; an undefined one
// (no revision) is empty.
func shortRev(c cid.Cid) string {
	if !c.Defined() {
		return ""
	}
	return wiki.Short(c)
}

// minute is a time as the screens show it: UTC, to the minute.
func minute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// viaSummary says how the connected peers are connected, " (2 lan, 1
// relayed)", in a fixed order; nothing when no node says.
func viaSummary(via map[string]int) string {
	var parts []string
	for _, k := range []string{"lan", "direct", "hole-punched", "relayed"} {
		if via[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", via[k], k))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
