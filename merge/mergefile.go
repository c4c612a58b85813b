package merge

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// Errors MergeFile returns, wrapped with the input they concern.
var (
	// ErrBinary: an input contains a NUL byte, so it is not text.
	ErrBinary = errors.New("binary file (contains a NUL byte)")
	// ErrInvalidUTF8: an input is not valid UTF-8; page bodies always are.
	ErrInvalidUTF8 = errors.New("not valid UTF-8")
)

// MergeFile merges files like `git merge-file -p [--diff3] ours base
// theirs`: it returns the merged text, with git-style conflict markers
// labelled by labels (ours, base, theirs; by convention the file names),
// and the number of conflicts (a command exits with that number, capped at
// 127, as git does).
//
// Deliberate differences from git: an input with a NUL byte anywhere is
// refused (git looks at the first 8000 bytes only), and so is one that is
// not valid UTF-8 (git does not check). There is no size limit (git refuses
// files over 1 GiB).
func MergeFile(ours, base, theirs []byte, diff3 bool, labels [3]string) (out []byte, conflicts int, err error) {
	roles := [3]string{"ours", "base", "theirs"}
	for i, in := range [3][]byte{ours, base, theirs} {
		name := roles[i]
		if labels[i] != "" {
			name = fmt.Sprintf("%s %q", roles[i], labels[i])
		}
		if bytes.IndexByte(in, 0) >= 0 {
			return nil, 0, fmt.Errorf("cannot merge %s: %w", name, ErrBinary)
		}
		if !utf8.Valid(in) {
			return nil, 0, fmt.Errorf("cannot merge %s: %w", name, ErrInvalidUTF8)
		}
	}
	level := Zealous
	if diff3 {
		level = Eager
	}
	// The merge only reads its inputs while it runs, and the text it
	// returns is written to a fresh buffer, so the input bytes can serve as
	// strings without copying megabytes (this is the whole reason for
	// unsafe here).
	r := Merge3Level(asString(base), asString(ours), asString(theirs), level)
	opt := MarkerOptions{OursLabel: labels[0], BaseLabel: labels[1], TheirsLabel: labels[2], Diff3: diff3}
	var buf bytes.Buffer
	buf.Grow(r.textSize(opt))
	r.writeText(&buf, opt)
	return buf.Bytes(), r.Conflicts, nil
}

// asString returns b's bytes as a string without copying them; b must not
// change while the string is in use.
func asString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
