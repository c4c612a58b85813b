// Package merge owns peerwiki's text and field merging: a line diff, the
// three-way text merge (diff3, compatible with `git merge-file`), unified
// diffs for display, and the conflict policies (manual, merge, union, lww)
// that turn two divergent heads of a page into one set of fields.
//
// Everything here is a pure function of its arguments: no I/O, no database,
// no clock, no goroutines, no map iteration, no floating point, nothing
// random that can reach a result (the line hash is seeded per process, but
// it only decides where a line is looked up), and only the standard
// library. That is not a style choice: an
// automatic merge revision must be byte-identical on every peer (its CID is
// recomputed by whoever receives it), so the same inputs must give the same
// bytes on every machine, at every load, forever. The diff's effort cap is
// therefore counted in edit cost, never in time.
//
// The algorithms are frozen: any change that can alter a merge's output
// (the diff's tie-breaking, its heuristics or their constants, how conflicts
// are refined) forks the network unless it ships as a new policy name.
// TestMergeGolden pins the output so that such a change cannot slip in.
//
// # Compatibility with git
//
// The merge follows `git merge-file` (git 2.39) exactly, because people
// know its behaviour and because it is a tested reference: the same diff
// algorithm with the same heuristics and constants, the same diff3 walk,
// the same conflict refinement and coalescing. Merge3(...).Text equals
// `git merge-file -p`, Merge3Level(..., Eager).Text with Diff3 equals
// `git merge-file -p --diff3`, and Union equals `git merge-file -p
// --union`, byte for byte and with the same conflict count, including
// CRLF markers and the newline added after a side that lacks one;
// TestAgainstGit checks thousands of random merges. Unified matches `git
// diff --no-indent-heuristic` hunk for hunk. The deliberate differences:
//
//   - MergeFile refuses an input with a NUL byte anywhere (git looks at
//     the first 8000 bytes) and one that is not valid UTF-8 (git does not
//     check); it has no size limit (git refuses over 1 GiB).
//   - An empty label writes a bare marker ("<<<<<<<"); git, given -L "",
//     writes the marker and a space.
//   - No --zdiff3, --ours or --theirs styles, and no whitespace options.
//   - Unified writes no function name after "@@", and no "diff --git" or
//     "index" lines.
//
// This package must never import another peerwiki package, read files, log,
// or depend on the environment.
package merge
