// Package web is peerwiki's browser interface (`peerwiki web`): the page
// list with filter and search, pages rendered from Markdown with their
// [[links]] and backlinks, history as a graph, diffs, conflicts side by
// side with a form that resolves them, editing with preview, new, rename
// and delete; open pages follow changes live (server-sent events).
//
// It calls wiki/ only, as the other UIs do. Everything it shows may come
// from another member and is treated as hostile: templates escape, the
// Markdown renderer escapes raw HTML and drops unsafe URLs, and every
// response carries a strict Content-Security-Policy (scripts only from
// this server's own static file). It must never listen beyond loopback
// without the access token, nor accept a write without the same-origin
// form token.
package web
