package web

import (
	"bytes"
	"html"
	"net/url"
	"strings"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"peerwiki/wiki"
)

// Markdown from a page is a peer's input, and so hostile: goldmark runs
// without html.WithUnsafe, raw HTML is shown as escaped text (not dropped,
// so a reader sees what the writer wrote), and a link or image whose URL
// has a scheme other than http, https or mailto loses its URL
// (javascript:, vbscript:, data: and any other). The Content-Security-
// Policy (server.go) stands behind all of this.

// missingKey carries, through a parse, the normalised titles no live page
// has, so that [[links]] to them are marked.
var missingKey = parser.NewContextKey()

// markdown is built at first use: every command links this package, and
// only `web` renders.
var markdown = sync.OnceValue(func() goldmark.Markdown {
	// CommonMark without goldmark's GFM extensions (tables, strikethrough,
	// autolinked URLs): their package compiles its regular expressions at
	// start-up, and every peerwiki command links this package.
	return goldmark.New(
		goldmark.WithParserOptions(
			parser.WithInlineParsers(util.Prioritized(wikiLinkParser{}, 199)),
			parser.WithASTTransformers(util.Prioritized(safeURLs{}, 100)),
		),
		goldmark.WithRendererOptions(
			renderer.WithNodeRenderers(util.Prioritized(hostileRenderer{}, 100)),
		),
	)
})

// renderMarkdown renders a page body; links to the titles in missing
// (as wiki.Links returns them) are marked missing.
func renderMarkdown(body string, missing []string) (string, error) {
	set := map[string]bool{}
	for _, t := range missing {
		set[wiki.NormTitle(t)] = true
	}
	pc := parser.NewContext()
	pc.Set(missingKey, set)
	var buf bytes.Buffer
	if err := markdown().Convert([]byte(body), &buf, parser.WithContext(pc)); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// wikiLink is [[Title]] or [[Title|label]].
type wikiLink struct {
	ast.BaseInline
	Title, Label string
	Missing      bool
}

var kindWikiLink = ast.NewNodeKind("WikiLink")

func (n *wikiLink) Kind() ast.NodeKind { return kindWikiLink }

func (n *wikiLink) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Title": n.Title, "Label": n.Label}, nil)
}

// wikiLinkParser reads [[links]] as wiki.Links does, before goldmark's
// own link parser sees the brackets.
type wikiLinkParser struct{}

func (wikiLinkParser) Trigger() []byte { return []byte{'['} }

func (wikiLinkParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _ := block.PeekLine()
	if !bytes.HasPrefix(line, []byte("[[")) {
		return nil
	}
	end := bytes.Index(line, []byte("]]"))
	if end < 0 {
		return nil
	}
	inner := string(line[2:end])
	links := wiki.Links("[[" + inner + "]]")
	if len(links) != 1 {
		return nil
	}
	title, label := links[0], links[0]
	if _, l, ok := strings.Cut(inner, "|"); ok && strings.TrimSpace(l) != "" {
		label = strings.TrimSpace(l)
	}
	block.Advance(end + 2)
	missing, _ := pc.Get(missingKey).(map[string]bool)
	return &wikiLink{Title: title, Label: label, Missing: missing[wiki.NormTitle(title)]}
}

// safeURLs drops every link and image URL whose scheme is not allowed.
type safeURLs struct{}

func (safeURLs) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	var unsafe []*ast.AutoLink
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch l := n.(type) {
		case *ast.Link:
			if !safeURL(l.Destination) {
				l.Destination = nil
			}
		case *ast.Image:
			if !safeURL(l.Destination) {
				l.Destination = nil
			}
		case *ast.AutoLink:
			if !safeURL(l.URL(reader.Source())) {
				unsafe = append(unsafe, l)
			}
		}
		return ast.WalkContinue, nil
	})
	for _, l := range unsafe { // its text stays, as text
		l.Parent().ReplaceChild(l.Parent(), l, ast.NewString(l.Label(reader.Source())))
	}
}

// safeURL allows a URL without a scheme (a path, a fragment) or with
// http, https or mailto. It reads the scheme as a browser does: ASCII
// white space and control characters ignored, any case.
func safeURL(u []byte) bool {
	clean := strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, html.UnescapeString(string(u)))
	i := strings.IndexAny(clean, ":/?#")
	if i < 0 || clean[i] != ':' {
		return true
	}
	switch strings.ToLower(clean[:i]) {
	case "http", "https", "mailto":
		return true
	}
	return false
}

// hostileRenderer renders wiki links, and raw HTML as escaped text.
type hostileRenderer struct{}

func (hostileRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(kindWikiLink, renderWikiLink)
	reg.Register(ast.KindRawHTML, renderRawHTML)
	reg.Register(ast.KindHTMLBlock, renderHTMLBlock)
}

func renderWikiLink(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	l := n.(*wikiLink)
	if l.Missing {
		w.WriteString(`<a class="wikilink missing" title="no page yet: follow to write it" href="/new?title=`)
	} else {
		w.WriteString(`<a class="wikilink" href="/go?title=`)
	}
	w.WriteString(html.EscapeString(url.QueryEscape(l.Title)))
	w.WriteString(`">`)
	w.WriteString(html.EscapeString(l.Label))
	w.WriteString(`</a>`)
	return ast.WalkSkipChildren, nil
}

func renderRawHTML(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	segs := n.(*ast.RawHTML).Segments
	w.WriteString(`<code class="raw-html">`)
	for i := range segs.Len() {
		s := segs.At(i)
		w.WriteString(html.EscapeString(string(s.Value(source))))
	}
	w.WriteString(`</code>`)
	return ast.WalkSkipChildren, nil
}

func renderHTMLBlock(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	b := n.(*ast.HTMLBlock)
	w.WriteString(`<pre class="raw-html">`)
	lines := b.Lines()
	for i := range lines.Len() {
		s := lines.At(i)
		w.WriteString(html.EscapeString(string(s.Value(source))))
	}
	if b.HasClosure() {
		w.WriteString(html.EscapeString(string(b.ClosureLine.Value(source))))
	}
	w.WriteString("</pre>\n")
	return ast.WalkSkipChildren, nil
}
