package tui

import (
	"strings"

	"peerwiki/ui/markdown"
	"peerwiki/wiki"
)

// mdRenderer renders page bodies. It keeps the last result per width so a
// page is laid out when it or the width changes, never in every View.
type mdRenderer struct {
	color bool
	cache map[mdKey]string
}

type mdKey struct {
	body    string
	width   int
	missing string // the targets drawn as missing pages, joined
}

// newMarkdown returns a renderer; style "notty" (NO_COLOR, tests) renders
// without ANSI styles, any other style with them.
func newMarkdown(style string) *mdRenderer {
	return &mdRenderer{color: style != "notty", cache: map[mdKey]string{}}
}

// render returns body as styled text wrapped at width, with links to the
// missing pages (titles as wiki.NormTitle compares them) in red.
func (md *mdRenderer) render(body string, width int, missing []string) string {
	k := mdKey{body, max(width, 20), strings.Join(missing, "\x00")}
	if out, ok := md.cache[k]; ok {
		return out
	}
	if len(md.cache) > 64 {
		clear(md.cache)
	}
	gone := map[string]bool{}
	for _, t := range missing {
		gone[wiki.NormTitle(t)] = true
	}
	isMissing := func(target string) bool { return gone[wiki.NormTitle(target)] }
	out := markdown.Render(body, markdown.Options{Width: k.width, Color: md.color, Missing: isMissing})
	md.cache[k] = out
	return out
}
