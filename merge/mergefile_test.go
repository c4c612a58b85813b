package merge

import (
	"errors"
	"strings"
	"testing"
)

func TestMergeFile(t *testing.T) {
	names := [3]string{"a.md", "o.md", "b.md"}
	out, n, err := MergeFile([]byte("x\nB\nc\nd\n"), []byte("x\nb\nc\nd\n"), []byte("x\nb\nc\nD\n"), false, names)
	if err != nil || n != 0 || string(out) != "x\nB\nc\nD\n" {
		t.Errorf("clean: %q, %d, %v", out, n, err)
	}
	out, n, err = MergeFile([]byte("1\n"), []byte("0\n"), []byte("2\n"), true, names)
	if want := "<<<<<<< a.md\n1\n||||||| o.md\n0\n=======\n2\n>>>>>>> b.md\n"; err != nil || n != 1 || string(out) != want {
		t.Errorf("diff3 conflict: %q, %d, %v; want %q, 1", out, n, err, want)
	}
	// --diff3 merges at level Eager, as git does: a change both sides made
	// but diffed differently stays a conflict there, and only there.
	c := merge3Cases[len(merge3Cases)-1]
	if _, n, _ := MergeFile([]byte(c.ours), []byte(c.base), []byte(c.theirs), false, names); n != 0 {
		t.Errorf("default level: %d conflicts, want 0", n)
	}
	if _, n, _ := MergeFile([]byte(c.ours), []byte(c.base), []byte(c.theirs), true, names); n != 1 {
		t.Errorf("diff3: %d conflicts, want 1", n)
	}
}

func TestMergeFileRejects(t *testing.T) {
	names := [3]string{"ours.txt", "base.txt", "theirs.txt"}
	ok := []byte("text\n")
	for _, c := range []struct {
		name               string
		ours, base, theirs []byte
		want               error
		mention            string
	}{
		{"NUL in theirs", ok, ok, []byte("a\x00b\n"), ErrBinary, `theirs "theirs.txt"`},
		{"NUL at the end of ours", append([]byte(strings.Repeat("x", 9000)), 0), ok, ok, ErrBinary, `ours "ours.txt"`},
		{"invalid UTF-8 in base", ok, []byte("caf\xe9\n"), ok, ErrInvalidUTF8, `base "base.txt"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, n, err := MergeFile(c.ours, c.base, c.theirs, false, names)
			if !errors.Is(err, c.want) || out != nil || n != 0 {
				t.Fatalf("got %q, %d, %v; want error %v", out, n, err, c.want)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not name the input (%s)", err, c.mention)
			}
		})
	}
	if _, _, err := MergeFile([]byte("\x00"), ok, ok, false, [3]string{}); err == nil || !strings.Contains(err.Error(), "ours") {
		t.Errorf("unlabelled input: error %v does not say which", err)
	}
}
