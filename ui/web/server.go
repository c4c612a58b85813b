package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"peerwiki/wiki"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configure a Server.
type Options struct {
	Repo *wiki.Repo
	// Token, when set, must be presented once (?token=, then a cookie)
	// before anything is served: for listening beyond loopback.
	Token string
	// Loopback restricts the Host header to loopback names, so that a web
	// page elsewhere cannot reach this server by DNS rebinding.
	Loopback bool
	// Poll is how often the store's commit counter is read for live
	// updates (default 250 ms).
	Poll time.Duration
	Log  *slog.Logger
}

// Server serves the web interface of one repo.
type Server struct {
	opts Options
	repo *wiki.Repo
	// csrf is the token every write must carry: put in each form, and
	// readable only by pages of this origin.
	csrf   string
	events *broadcaster
	// netEvents tell pages that what they show of the network (connected
	// replicas, who edits what) changed.
	netEvents *broadcaster
	node      nodeLink
	mux       *http.ServeMux
}

// NewToken returns a fresh random token (an access or form token).
func NewToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// New makes a server; Run starts its live updates.
func New(o Options) *Server {
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, repo: o.Repo, csrf: NewToken(), events: newBroadcaster(), netEvents: newBroadcaster(), mux: http.NewServeMux()}
	s.routes()
	return s
}

// Run follows the store's commit counter until ctx ends, telling open
// pages when it moves: a commit by this server, another command, or a
// node syncing with peers.
func (s *Server) Run(ctx context.Context) {
	var last int64 = -1
	lastNet := s.node.readNetwork(ctx, s.repo).signature()
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for tick := 0; ; tick++ {
		if n, err := s.repo.ChangeCount(ctx); err == nil && n != last {
			if last >= 0 {
				s.events.publish(n)
			}
			last = n
		}
		// The network every fourth poll (a second by default): a request
		// to the node, not a read of the store.
		if tick%4 == 3 {
			if sig := s.node.readNetwork(ctx, s.repo).signature(); sig != lastNet {
				lastNet = sig
				s.netEvents.publish(int64(tick))
			}
		}
		select {
		case <-ctx.Done():
			s.events.close()
			s.netEvents.close()
			return
		case <-t.C:
		}
	}
}

func (s *Server) routes() {
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.handleList)
	s.mux.HandleFunc("GET /go", s.handleGo)
	s.mux.HandleFunc("GET /new", s.handleNewForm)
	s.mux.HandleFunc("POST /new", s.handleNew)
	s.mux.HandleFunc("GET /page/{id}", s.handlePage)
	s.mux.HandleFunc("GET /page/{id}/history", s.handleHistory)
	s.mux.HandleFunc("GET /page/{id}/diff", s.handleDiff)
	s.mux.HandleFunc("GET /page/{id}/edit", s.handleEditForm)
	s.mux.HandleFunc("POST /page/{id}/edit", s.handleEdit)
	s.mux.HandleFunc("POST /page/{id}/rename", s.handleRename)
	s.mux.HandleFunc("POST /page/{id}/delete", s.handleDelete)
	s.mux.HandleFunc("GET /page/{id}/conflict", s.handleConflict)
	s.mux.HandleFunc("POST /page/{id}/resolve", s.handleResolve)
	s.mux.HandleFunc("GET /events", s.handleEvents)
}

// ServeHTTP applies the security rules to every request, then routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style, nothing from elsewhere, no framing, no
	// plugins: a page's hostile content has nothing to run with.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on our own forms, and sameOrigin could not tell them
	// from a sandboxed page elsewhere.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if s.opts.Loopback && !loopbackHost(r.Host) {
		http.Error(w, "this server answers to 127.0.0.1, localhost and [::1] only", http.StatusMisdirectedRequest)
		return
	}
	if s.opts.Token != "" && !s.authorised(w, r) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.sameOrigin(r) {
		http.Error(w, "refused: a write must come from a form of this server (its form token was missing or wrong)", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(&timed{ResponseWriter: w, start: time.Now()}, r)
}

// timed adds a Server-Timing header: how long the server took until the
// response began (scripts/bench-web.py reads it).
type timed struct {
	http.ResponseWriter
	start time.Time
}

func (t *timed) WriteHeader(status int) {
	us := time.Since(t.start).Microseconds()
	t.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%d.%03d", us/1000, us%1000))
	t.ResponseWriter.WriteHeader(status)
}

// Flush lets the event stream through.
func (t *timed) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

const tokenCookie = "peerwiki_token"

// authorised checks the access token: from ?token= (then kept in a
// cookie, and the URL cleaned of it) or from that cookie.
func (s *Server) authorised(w http.ResponseWriter, r *http.Request) bool {
	if q := r.URL.Query().Get("token"); q != "" && equalToken(q, s.opts.Token) {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.opts.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		u := *r.URL
		v := u.Query()
		v.Del("token")
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if c, err := r.Cookie(tokenCookie); err == nil && equalToken(c.Value, s.opts.Token) {
		return true
	}
	http.Error(w, "open the address 'peerwiki web' printed, with its token", http.StatusUnauthorized)
	return false
}

func equalToken(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// sameOrigin checks a write: the form token, and the Origin header when
// the browser sends one.
func (s *Server) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return equalToken(r.PostFormValue("csrf"), s.csrf)
}

// broadcaster hands the commit counter to every open event stream.
type broadcaster struct {
	mu     sync.Mutex
	subs   map[chan int64]bool
	closed bool
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[chan int64]bool{}} }

func (b *broadcaster) subscribe() (chan int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan int64, 1)
	if b.closed {
		return ch, false
	}
	b.subs[ch] = true
	return ch, true
}

func (b *broadcaster) unsubscribe(ch chan int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, ch)
}

func (b *broadcaster) publish(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select { // a slow reader gets the latest count, never a backlog
		case <-ch:
		default:
		}
		ch <- n
	}
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		close(ch)
		delete(b.subs, ch)
	}
}

// handleEvents is the server-sent event stream open pages listen to: a
// "change" event each time the store's commit counter moves.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, ok := s.events.subscribe()
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.events.unsubscribe(ch)
	netCh, ok := s.netEvents.subscribe()
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.netEvents.unsubscribe(netCh)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("retry: 1000\n\n"))
	fl.Flush()
	keep := time.NewTicker(20 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case n, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write([]byte("event: change\ndata: " + itoa(n) + "\n\n")); err != nil {
				return
			}
			fl.Flush()
		case _, ok := <-netCh:
			if !ok {
				return
			}
			if _, err := w.Write([]byte("event: network\ndata: 1\n\n")); err != nil {
				return
			}
			fl.Flush()
		case <-keep.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// errStatus maps wiki's errors to HTTP statuses.
func errStatus(err error) int {
	switch {
	case errors.Is(err, wiki.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, wiki.ErrInvalid), errors.Is(err, wiki.ErrNoChange), errors.Is(err, wiki.ErrAmbiguous),
		errors.Is(err, wiki.ErrConflict), errors.Is(err, wiki.ErrNoConflict):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// templates are parsed at first use (every command links this package).
var templates = sync.OnceValue(func() map[string]*template.Template {
	funcs := template.FuncMap{"short": shortRev, "minute": minute, "second": second, "stamp": stamp}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"list", "page", "history", "diff", "edit", "conflict", "error"} {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, "templates/"+name+".html"))
	}
	return out
})
