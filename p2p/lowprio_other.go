//go:build !linux

package p2p

// atLowPriority runs f (a thread's priority is Linux's: lowprio_linux.go).
func atLowPriority(f func()) { f() }
