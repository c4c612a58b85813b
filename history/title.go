package history

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTitleLen bounds a title in bytes.
const MaxTitleLen = 512

// ErrBadTitle marks a title that CheckTitle refuses.
var ErrBadTitle = errors.New("bad title")

// CheckTitle is the rule for a page title, the same for a local command
// and for a revision from a peer: not blank, UTF-8, at most MaxTitleLen
// bytes, and no control character (line breaks included) nor line or
// paragraph separator, so that a title is always one line of text. A
// title arrives on every member's terminal and in every file name an
// export writes: one that forges lines or carries escape sequences is
// refused at the door.
func CheckTitle(t string) error {
	switch {
	case strings.TrimSpace(t) == "":
		return fmt.Errorf("%w: empty title", ErrBadTitle)
	case !utf8.ValidString(t):
		return fmt.Errorf("%w: title is not valid UTF-8", ErrBadTitle)
	case len(t) > MaxTitleLen:
		return fmt.Errorf("%w: title is longer than %d bytes", ErrBadTitle, MaxTitleLen)
	}
	for _, r := range t {
		switch {
		case r == '\n' || r == '\r':
			return fmt.Errorf("%w: title contains a line break", ErrBadTitle)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return fmt.Errorf("%w: title contains the control character %U", ErrBadTitle, r)
		}
	}
	return nil
}

// titleAllowed reports whether a received signed revision's title may be
// stored: one CheckTitle accepts, or one it carries unchanged from a
// parent (a title stored before the rule existed must not make its page
// impossible to edit).
func titleAllowed(q querier, rev *Revision) (bool, error) {
	if CheckTitle(rev.Title) == nil {
		return true, nil
	}
	for _, p := range rev.Parents {
		pr, ok := overlayRevision(q, p.Cid)
		if !ok {
			var err error
			if pr, err = getRevision(q, p.Cid); err != nil {
				return false, err
			}
		}
		if pr.Title == rev.Title {
			return true, nil
		}
	}
	return false, nil
}
