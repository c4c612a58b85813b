package cli

import "github.com/spf13/cobra"

// replicationCommands are the commands that talk to peers: invite, join,
// serve, sync, peers.
func (a *app) replicationCommands() []*cobra.Command {
	return nil
}
