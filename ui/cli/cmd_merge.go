package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"peerwiki/merge"
)

func (a *app) mergeCommand() *cobra.Command {
	var auto, all, asJSON bool
	cmd := &cobra.Command{
		Use:   "merge PAGE [--auto] | merge --all --auto",
		Short: "Resolve a conflict in the three-way merge screen, or apply the policy",
		Long: `Without --auto: open the three-way merge screen on a conflicted page (on a
terminal): each conflicting hunk with base, ours and theirs; the title and a
delete-vs-edit as entries of their own; keys n/p move, o/t/b choose ours,
theirs or both, e edits, u undoes, s saves one revision whose parents are
all heads, q quits.

With --auto: apply the replicated conflict policy to a conflicted page (or with --all to
every conflicted page) now. A clean merge is committed as an automatic merge
revision, the same block on every replica; a real conflict stays for a
person ('peerwiki resolve'). Under the manual policy nothing happens.

Policies run by themselves whenever a page gains a divergence; --auto is for
pages that diverged before their policy was set, or to check.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, as []string) error {
			if !auto {
				if all || len(as) != 1 {
					return usagef("the merge screen takes one PAGE; --all goes with --auto")
				}
				return a.runMergeTUI(cmd, as[0])
			}
			if all == (len(as) == 1) {
				return usagef("give either PAGE or --all")
			}
			r, err := a.open()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			type result struct {
				Merged    []string `json:"merged"`
				Conflicts []string `json:"conflicts"`
			}
			res := result{Merged: []string{}, Conflicts: []string{}}
			// merged are the pages merged; only, for one PAGE, is it.
			var merged, only []cid.Cid
			before, err := r.ConflictedPages(ctx)
			if err != nil {
				return err
			}
			if all {
				if merged, err = r.AutoMergeAll(ctx); err != nil {
					return err
				}
			} else {
				p, err := r.FindPage(ctx, as[0])
				if err != nil {
					return err
				}
				only = []cid.Cid{p.ID}
				if p.Versions < 2 {
					return fmt.Errorf("page %q has no conflict", p.Title)
				}
				m, err := r.AutoMerge(ctx, p.ID)
				if err != nil {
					return err
				}
				if m.Defined() {
					merged = only
				}
			}
			for _, m := range merged {
				res.Merged = append(res.Merged, m.String())
			}
			after, err := r.ConflictedPages(ctx)
			if err != nil {
				return err
			}
			for _, c := range after {
				if all || c.ID.Equals(only[0]) {
					res.Conflicts = append(res.Conflicts, c.ID.String())
				}
			}
			if asJSON {
				return writeJSON(a.stdout, res)
			}
			return printSettled(ctx, newPrinter(a.stdout), r, before, only)
		},
	}
	cmd.Flags().BoolVar(&auto, "auto", false, "apply the replicated policy")
	cmd.Flags().BoolVar(&all, "all", false, "every conflicted page")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// mergeFileError is how merge-file fails: like git merge-file, with a
// status no conflict count can have.
const mergeFileError = 255

func (a *app) mergeFileCommand() *cobra.Command {
	var diff3 bool
	var labels []string
	cmd := &cobra.Command{
		Use:   "merge-file [--diff3] [-L LABEL]... OURS BASE THEIRS",
		Short: "Three-way merge of files, like 'git merge-file -p'",
		Long: `Merge the changes from BASE to THEIRS into OURS with peerwiki's merge engine
and print the result: clean parts merged, conflicts between git-style
markers (with --diff3, the base's lines too). Like 'git merge-file -p', the
exit status is the number of conflicts (at most 127); an error exits 255.
Inputs must be UTF-8 text. -L sets the marker labels (up to three: ours,
base, theirs); by default they are the file names.`,
		Args: func(cmd *cobra.Command, as []string) error {
			if len(as) != 3 {
				return exitError{mergeFileError, "merge-file takes OURS BASE THEIRS, got " + pluralCount(len(as), "argument", "arguments")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, as []string) error {
			if len(labels) > 3 {
				return exitError{mergeFileError, "at most three -L labels"}
			}
			var in [3][]byte
			for i, path := range as {
				b, err := os.ReadFile(path)
				if err != nil {
					return exitError{mergeFileError, fmt.Sprintf("read %s: %v", path, unwrapPathError(err))}
				}
				in[i] = b
			}
			lab := [3]string{as[0], as[1], as[2]}
			copy(lab[:], labels)
			out, n, err := merge.MergeFile(in[0], in[1], in[2], diff3, lab)
			if err != nil {
				if errors.Is(err, merge.ErrBinary) || errors.Is(err, merge.ErrInvalidUTF8) {
					return exitError{mergeFileError, err.Error()}
				}
				return exitError{mergeFileError, err.Error()}
			}
			if _, err := a.stdout.Write(out); err != nil {
				return exitError{mergeFileError, err.Error()}
			}
			if n > 0 {
				return exitError{code: min(n, 127)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&diff3, "diff3", false, "show the base's lines in conflicts")
	cmd.Flags().StringArrayVarP(&labels, "label", "L", nil, "marker label (ours, then base, then theirs)")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return exitError{mergeFileError, err.Error()} })
	return cmd
}
