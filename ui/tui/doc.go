// Package tui is peerwiki's terminal UI (Bubble Tea v1): a page browser,
// a Markdown viewer with followable [[links]] and backlinks, an editor, a
// page's revision history, and the three-way merge screen. One file per
// screen, as in charmbracelet/glow's ui/; keys.go and styles.go hold what
// the screens share.
//
// It owns presentation and the person's choices, nothing else: every read
// and write goes through wiki.Repo, never the store behind it, so every
// write keeps the store's invariants. It never talks to the network
// itself: the repo's node (which the caller runs, or reaches through the
// repo's control socket) replicates, and the caller hands the UI a
// Network to report on and an Invite to make codes with. It never decides a
// merge for the person (the merge screen only proposes what merge.Merge3
// computes), never saves a body it may have truncated (the textarea keeps at
// most 10,000 lines; bigger pages go to $EDITOR), and never writes to stdout
// or stderr other than through Bubble Tea, which owns the terminal.
//
// The UI stays live: it polls wiki.Repo.ChangeCount, which every write of
// any process moves, and reloads what it shows when the count moves, so a
// peer's edit appears without a key press.
package tui
