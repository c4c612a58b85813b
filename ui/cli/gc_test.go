package cli

import (
	"runtime"
	"testing"
	"time"
)

// nodeGC's GOGC puts the collector's next goal at nodeHeapFloor for a
// small live heap (the goal as the Go runtime works it out: the larger of
// live*(1+GOGC/100) and 4 MiB*GOGC/100), and leaves a large heap at GOGC
// 100.
func TestNodeGCPercentPutsTheGoalAtTheFloor(t *testing.T) {
	goal := func(live uint64, gogc int) uint64 {
		return max(live*uint64(100+gogc)/100, (4<<20)*uint64(gogc)/100)
	}
	for _, live := range []uint64{0, 100 << 10, 1 << 20, 2 << 20, 3 << 20, 4 << 20, 6 << 20, 7 << 20, 8<<20 - 1} {
		g := nodeGCPercent(live)
		if got := goal(live, g); got < nodeHeapFloor*9/10 || got > nodeHeapFloor*11/10 {
			t.Errorf("live %d KiB: GOGC %d, goal %d KiB, want about %d", live>>10, g, got>>10, nodeHeapFloor>>10)
		}
	}
	for _, live := range []uint64{8 << 20, 20 << 20, 1 << 30} {
		if g := nodeGCPercent(live); g != 100 {
			t.Errorf("live %d MiB: GOGC %d, want 100", live>>20, g)
		}
	}
}

// afterEachGC's function runs after each collection, and keeps running
// after those that follow (each call arms the next).
func TestAfterEachGCRunsAfterEveryCollection(t *testing.T) {
	calls := make(chan struct{}, 16)
	afterEachGC(func() {
		select {
		case calls <- struct{}{}:
		default: // the test is over; the hook stays for the process
		}
	})
	for i := range 3 {
		runtime.GC()
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("collection %d: no call", i+1)
		}
	}
}
