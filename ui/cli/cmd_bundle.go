package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/wiki"
)

// bundleFlags are export's flags for the history as a whole: a CAR bundle
// or a git repository, rather than Markdown files.
type bundleFlags struct {
	car   string
	since []string
	git   string
	force bool
}

func (b *bundleFlags) exportFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.car, "car", "", "write the wiki's blocks as a CAR v1 bundle to FILE")
	cmd.Flags().StringArrayVar(&b.since, "since", nil, "with --car: leave out what these revisions (another replica's heads) reach")
	cmd.Flags().StringVar(&b.git, "git", "", "write the history as a git repository in DIR (again: add what is new)")
}

// exportBundle runs `export --car` or `export --git`; done is false when
// neither was asked for.
func (a *app) exportBundle(cmd *cobra.Command, b bundleFlags, as []string) (done bool, err error) {
	if b.car == "" && b.git == "" {
		if len(b.since) > 0 {
			return true, usagef("--since goes with --car")
		}
		return false, nil
	}
	if len(as) > 0 || (b.car != "" && b.git != "") {
		return true, usagef("export takes one of DIR, --car FILE and --git DIR")
	}
	if len(b.since) > 0 && b.car == "" {
		return true, usagef("--since goes with --car")
	}
	b.force, _ = cmd.Flags().GetBool("force")
	r, err := a.open()
	if err != nil {
		return true, err
	}
	// A bundle or a git history carries the history: a shallow replica's
	// would pass a part off as the whole.
	if st, err := r.ReplicationStore().Shallow(cmd.Context()); err != nil {
		return true, err
	} else if st.Pages > 0 {
		what := "--car"
		if b.git != "" {
			what = "--git"
		}
		return true, fmt.Errorf("export %s: this replica is shallow: the history of %s is not here yet; 'peerwiki sync --unshallow' fetches it", what, pluralCount(st.Pages, "page", "pages"))
	}
	if b.git != "" {
		res, err := r.ExportGit(cmd.Context(), b.git)
		if errors.Is(err, wiki.ErrGitExportDir) {
			return true, fmt.Errorf("export --git: %w: give a new or empty folder, or one an earlier 'export --git' of this wiki made", err)
		} else if err != nil {
			return true, err
		}
		fmt.Fprintf(a.stdout, "exported %s to %s (%s in all", pluralCount(res.Commits, "new commit", "new commits"), b.git, pluralCount(res.Total, "revision", "revisions"))
		if len(res.Branches) > 0 {
			fmt.Fprintf(a.stdout, "; %s", pluralCount(len(res.Branches), "conflict branch", "conflict branches"))
		}
		fmt.Fprintln(a.stdout, ")")
		return true, nil
	}
	// The blocks stream out: garbage is collected as it goes rather than
	// piling up to shortLivedGC's limit (faster as well as smaller).
	streamingGC()
	var since []cid.Cid
	for _, ref := range b.since {
		c, err := r.FindRevision(cmd.Context(), ref, cid.Undef)
		if err != nil {
			return true, fmt.Errorf("--since: %w", err)
		}
		since = append(since, c)
	}
	return true, writeFileAtomically(b.car, b.force, a.stdout, func(w io.Writer) error {
		res, err := r.ExportCAR(cmd.Context(), w, since)
		if err != nil {
			return err
		}
		if b.car != "-" {
			fmt.Fprintf(a.stdout, "exported %s (%s, %d bytes) to %s\n", pluralCount(res.Revisions, "revision", "revisions"),
				pluralCount(res.Blocks, "block", "blocks"), res.Bytes, b.car)
		}
		return nil
	})
}

// writeFileAtomically writes a file whole (a temporary file beside it,
// synced, then renamed) or not at all; "-" is stdout. An existing file is
// replaced only with force, and a symbolic link never followed.
func writeFileAtomically(path string, force bool, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	if fi, err := os.Lstat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s exists and is not a regular file", path)
		}
		if !force {
			return fmt.Errorf("%s exists: give --force to replace it", path)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// importCAR runs `import --car FILE`.
func (a *app) importCAR(cmd *cobra.Command, path string, asJSON bool) error {
	// The bundle streams through a few batches at a time: under
	// shortLivedGC the garbage piled up to its limit, and then the
	// collector ran over and over (a 35 MB bundle: 280 MB resident and
	// twice the time).
	streamingGC()
	r, err := a.open()
	if err != nil {
		return err
	}
	var in io.Reader = a.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	res, err := r.ImportCAR(cmd.Context(), in)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if asJSON {
		return writeJSON(a.stdout, res)
	}
	fmt.Fprintf(a.stdout, "imported %s: %s (%s of %d)", path, pluralCount(res.Revisions, "new revision", "new revisions"),
		pluralCount(res.Stored, "new block", "new blocks"), res.Blocks)
	if res.Deferred > 0 {
		fmt.Fprintf(a.stdout, ", %d waiting (dated ahead of this clock, a page at its cap of heads, or by an author not on the member list here)", res.Deferred)
	}
	if len(res.Conflicts) > 0 {
		fmt.Fprintf(a.stdout, ", %s in conflict", pluralCount(len(res.Conflicts), "page", "pages"))
	}
	fmt.Fprintln(a.stdout)
	return nil
}
