package tui

import (
	"peerwiki/ui/markdown"
)

// mdRenderer renders page bodies. It keeps the last result per width so a
// page is laid out when it or the width changes, never in every View.
type mdRenderer struct {
	color bool
	cache map[mdKey]string
}

type mdKey struct {
	body  string
	width int
}

// newMarkdown returns a renderer; style "notty" (NO_COLOR, tests) renders
// without ANSI styles, any other style with them.
func newMarkdown(style string) *mdRenderer {
	return &mdRenderer{color: style != "notty", cache: map[mdKey]string{}}
}

// render returns body as styled text wrapped at width.
func (md *mdRenderer) render(body string, width int) string {
	k := mdKey{body, max(width, 20)}
	if out, ok := md.cache[k]; ok {
		return out
	}
	if len(md.cache) > 64 {
		clear(md.cache)
	}
	out := markdown.Render(body, markdown.Options{Width: k.width, Color: md.color})
	md.cache[k] = out
	return out
}
