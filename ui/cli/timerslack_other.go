//go:build !linux

package cli

// calmTimers does nothing off Linux (see timerslack_linux.go).
func calmTimers() {}
