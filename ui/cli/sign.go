package cli

import "crypto/ed25519"

// warmSigning builds, on another core, the base-point table that Go's
// Ed25519 computes the first time a process signs (about 10M instructions,
// 1-2 ms here), while the command opens the repository and reads the page.
// A command that then signs waits for at most the rest of it; the
// signature is the same.
func warmSigning() {
	go ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
}
