package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"peerwiki/p2p"
)

// buildVersion is the JSON shape of `version --json`.
type buildVersion struct {
	Version string `json:"version"`
	// Revision is the VCS revision the binary was built from, "unknown"
	// when the build recorded none (go build -buildvcs=false, a build
	// outside a git checkout).
	Revision     string `json:"revision"`
	RevisionTime string `json:"revision_time,omitempty"`
	Modified     bool   `json:"modified"`
	SyncVersion  int    `json:"sync_version"`
	Go           string `json:"go"`
	Platform     string `json:"platform"`
}

// readBuildVersion reads what the Go toolchain recorded in the binary.
func readBuildVersion() buildVersion {
	v := buildVersion{Version: "unknown", Revision: "unknown", SyncVersion: p2p.SyncVersion(),
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version // "(devel)" for a build from a checkout
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.RevisionTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the human form, also what --version prints.
func (v buildVersion) String() string {
	rev := v.Revision
	switch {
	case rev == "unknown":
		rev += " (built without VCS information)"
	case v.Modified:
		rev += " (with local changes)"
	}
	if v.RevisionTime != "" {
		rev += " " + v.RevisionTime
	}
	return fmt.Sprintf("peerwiki %s\nrevision      %s\nsync version  %d\ngo            %s %s\n",
		v.Version, rev, v.SyncVersion, v.Go, v.Platform)
}

func (a *app) versionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version, the revision built from and the sync version",
		Long: `Print peerwiki's module version, the VCS revision it was built from ("unknown"
when the build recorded none), the sync protocol version (replicas must
speak the same one), and the Go version it was built with. Also
'peerwiki --version'.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readBuildVersion()
			if asJSON {
				return writeJSON(a.stdout, v)
			}
			fmt.Fprint(a.stdout, v)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
