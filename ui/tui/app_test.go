package tui

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"

	"peerwiki/wiki"
)

type fakeNetwork struct{ st NetStatus }

func (f *fakeNetwork) Status() NetStatus { return f.st }

func TestPollShowsOtherProcessesWrites(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "x\n")
	m := newModel(t, r)
	// Another process on the same repo: its own handle on the database.
	other, err := wiki.Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Create(context.Background(), "From elsewhere", "hi\n", ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(snapshot(m), "From elsewhere") {
		t.Fatal("shown before the poll")
	}
	m.Update(pollMsg{})
	requireContains(t, snapshot(m), "From elsewhere")
}

func TestStatusBar(t *testing.T) {
	r := newRepo(t)
	conflicted(t, r, "Plan")
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	net := &fakeNetwork{NetStatus{Mode: "online", Peers: 2, LastSync: now.Add(-5 * time.Second)}}
	m := newModel(t, r, func(o *Options) { o.Network = net; o.Now = func() time.Time { return now } })
	requireContains(t, snapshot(m), "online · 2 peers · synced 5s ago · 1 conflict")
	net.st = NetStatus{Mode: "online", Peers: 1}
	m.Update(pollMsg{})
	requireContains(t, snapshot(m), "online · 1 peer · not synced yet")
	m2 := newModel(t, r)
	requireContains(t, snapshot(m2), " offline · 1 conflict")
}

// A wiki never shared says so, and "i" shares it: the join code is
// shown, and the status bar follows the node.
func TestNotSharedAndInvite(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "x\n")
	net := &fakeNetwork{NetStatus{Mode: NotShared}}
	invited := 0
	m := newModel(t, r, func(o *Options) {
		o.Network = net
		o.Invite = func() (string, error) {
			invited++
			net.st = NetStatus{Mode: "online"}
			return "peerwiki1:thecode", nil
		}
	})
	view := snapshot(m)
	requireContains(t, view, " not shared · 0 conflicts", "i invite")
	if strings.Contains(view, "not synced yet") {
		t.Fatalf("a wiki not shared is not waiting for a sync:\n%s", view)
	}
	press(t, m, "i")
	if invited != 1 {
		t.Fatalf("invite called %d times", invited)
	}
	requireContains(t, snapshot(m), "online · 0 peers", "peerwiki1:thecode")
	// Without an invite to offer (offline), "i" is no key.
	m2 := newModel(t, r)
	if strings.Contains(snapshot(m2), "i invite") {
		t.Fatal("offline, the UI offers an invite")
	}
}

func TestSmallAndResizedTerminal(t *testing.T) {
	r := newRepo(t)
	for i := 0; i < 40; i++ {
		mustCreate(t, r, strings.Repeat("long title ", 10)+string(rune('A'+i%26)), "x\n")
	}
	mustCreate(t, r, "Home", "# Welcome\n\n"+strings.Repeat("a long paragraph of words ", 30)+"\n\n[[Ideas]]\n")
	page, _ := conflicted(t, r, "Plan")
	screens := map[string]func() *Model{
		"browser": func() *Model { return newModel(t, r) },
		"viewer": func() *Model {
			m := newModel(t, r)
			press(t, m, "/")
			typeText(m, "Hom")
			press(t, m, "enter", "enter")
			return m
		},
		"merge": func() *Model { return newModel(t, r, func(o *Options) { o.MergePage = page }) },
		"history": func() *Model {
			m := newModel(t, r, func(o *Options) { o.MergePage = page })
			m.replace(newHistory(m, page))
			return m
		},
	}
	for name, open := range screens {
		m := open()
		for _, size := range [][2]int{{80, 24}, {40, 12}, {120, 40}, {30, 8}, {80, 24}} {
			m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			lines := strings.Split(m.View(), "\n")
			if len(lines) != size[1] {
				t.Fatalf("%s %dx%d: %d lines", name, size[0], size[1], len(lines))
			}
			for _, l := range lines {
				if w := lipgloss.Width(l); w > size[0] {
					t.Fatalf("%s %dx%d: line of %d cells: %q", name, size[0], size[1], w, l)
				}
			}
			if size[1] >= 12 && !strings.Contains(m.View(), "ctrl+c quit") || !strings.Contains(lines[len(lines)-1], "conflict") {
				t.Fatalf("%s %dx%d: help or status bar lost:\n%s", name, size[0], size[1], m.View())
			}
		}
	}
}

// TestProgramGolden runs the real Bubble Tea program (teatest): open a
// page, follow a link, go back, quit; the final screen is golden.
func TestProgramGolden(t *testing.T) {
	r := newRepo(t)
	mustCreate(t, r, "Home", "Start at [[Ideas]].\n")
	mustCreate(t, r, "Ideas", "- fly\n- swim\n")
	m := New(context.Background(), Options{Repo: r, MarkdownStyle: "notty"})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("2 pages")) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	tm.Send(keyMsg("enter"))
	tm.Send(keyMsg("tab"))
	tm.Send(keyMsg("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("swim")) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	tm.Send(keyMsg("q"))
	tm.Send(keyMsg("q"))
	tm.Send(keyMsg("q"))
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if _, ok := final.top().(*browser); !ok || len(final.stack) != 1 {
		t.Fatalf("q, q went back to %T (stack %d), want the page list", final.top(), len(final.stack))
	}
	requireGolden(t, snapshot(final))
}
