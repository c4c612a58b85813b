package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
)

func bind(help string, desc string, keys ...string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
}

// Keys shared by several screens.
var (
	keyUp      = bind("↑/k", "up", "up", "k")
	keyDown    = bind("↓/j", "down", "down", "j")
	keyPgUp    = bind("pgup/ctrl+b", "page up", "pgup", "ctrl+b")
	keyPgDown  = bind("pgdn/space/ctrl+f", "page down", "pgdown", "ctrl+f", " ")
	keyTop     = bind("g/home", "top", "g", "home")
	keyBottom  = bind("G/end", "bottom", "G", "end")
	keyBack    = bind("esc", "back", "esc", "q")
	keyQuit    = bind("q", "quit", "q")
	keyForceQ  = bind("ctrl+c", "quit", "ctrl+c")
	keyEdit    = bind("e", "edit", "e")
	keyHistory = bind("h", "history", "h")
	keyMerge   = bind("m", "merge", "m")
	keyYes     = bind("y", "yes", "y", "Y")
	keyNo      = bind("n/esc", "no", "n", "N", "esc")
	keyAccept  = bind("enter", "ok", "enter")
	keyCancel  = bind("esc", "cancel", "esc")
)

// browserKeys are the page list's.
var browserKeys = struct {
	Open, Filter, Search, Sort, New, Rename, Delete, Deleted, Invite key.Binding
}{
	Open:    bind("enter", "open", "enter"),
	Filter:  bind("/", "filter", "/"),
	Search:  bind("s", "search text", "s"),
	Sort:    bind("o", "sort", "o"),
	New:     bind("n", "new", "n"),
	Rename:  bind("r", "rename", "r"),
	Delete:  bind("d", "delete", "d"),
	Deleted: bind("x", "show deleted", "x"),
	Invite:  bind("i", "invite", "i"),
}

// viewerKeys are the page viewer's.
var viewerKeys = struct {
	NextLink, PrevLink, Follow key.Binding
}{
	NextLink: bind("tab", "next link", "tab"),
	PrevLink: bind("shift+tab", "prev link", "shift+tab"),
	Follow:   bind("enter", "follow link", "enter"),
}

// editorKeys are the editor's.
var editorKeys = struct {
	Save, ToBody, ToTitle, Indent, External, Cancel key.Binding
}{
	Save:     bind("ctrl+s", "save", "ctrl+s"),
	ToBody:   bind("tab", "body", "tab"),
	ToTitle:  bind("shift+tab", "title", "shift+tab"),
	Indent:   bind("tab", "indent", "tab"),
	External: bind("ctrl+o", "$EDITOR", "ctrl+o"),
	Cancel:   bind("esc", "cancel", "esc"),
}

// historyKeys are the history screen's.
var historyKeys = struct {
	Toggle, Parent, Mark, Restore key.Binding
}{
	Toggle:  bind("enter", "content/diff", "enter", "tab"),
	Parent:  bind("p", "diff parent", "p"),
	Mark:    bind("c", "compare with…", "c"),
	Restore: bind("r", "restore", "r"),
}

// mergeKeys are the merge screen's; the issue fixes these letters.
var mergeKeys = struct {
	Next, Prev, Ours, Theirs, Both, Edit, Undo, Save, Quit, Whole key.Binding
}{
	Next:   bind("n", "next", "n"),
	Prev:   bind("p", "previous", "p"),
	Ours:   bind("o", "take ours", "o"),
	Theirs: bind("t", "take theirs", "t"),
	Both:   bind("b", "both", "b"),
	Edit:   bind("e", "edit result", "e"),
	Undo:   bind("u", "undo", "u"),
	Save:   bind("s", "save", "s"),
	Quit:   bind("q", "quit", "q", "esc"),
	Whole:  bind("v", "whole result", "v"),
}

// scroll moves vp as a scrolling key asks (up, down, page up and down,
// top, bottom); it reports whether km was one.
func scroll(vp *viewport.Model, km tea.KeyMsg) bool {
	switch {
	case key.Matches(km, keyUp):
		vp.ScrollUp(1)
	case key.Matches(km, keyDown):
		vp.ScrollDown(1)
	case key.Matches(km, keyPgUp):
		vp.PageUp()
	case key.Matches(km, keyPgDown):
		vp.PageDown()
	case key.Matches(km, keyTop):
		vp.GotoTop()
	case key.Matches(km, keyBottom):
		vp.GotoBottom()
	default:
		return false
	}
	return true
}
