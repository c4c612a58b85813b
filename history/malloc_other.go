//go:build !linux || !cgo

package history

// releaseFreed is malloc_trim where glibc's malloc is (malloc_linux.go).
func releaseFreed() {}
