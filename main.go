// Command peerwiki is a peer-to-peer notes and wiki tool with multi-leader
// replication. See README.md.
package main

import (
	"os"

	"peerwiki/ui/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
