//go:build !linux

package cli

// makeWay does nothing here (see makeway_linux.go).
func makeWay() {}
