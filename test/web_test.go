package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Web is a `peerwiki web` process started by a test.
type Web struct {
	URL string // with the trailing slash
	cmd *exec.Cmd
}

// StartWeb runs `web` on the repo on a free loopback port and waits for
// its address. The test's cleanup stops it (by its pid).
func (r *Repo) StartWeb(args ...string) *Web {
	r.T.Helper()
	cmd := r.Command(append([]string{"web", "--listen", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.T.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		r.T.Fatal(err)
	}
	w := &Web{cmd: cmd}
	r.T.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			r.T.Errorf("web did not stop within 5s of SIGTERM")
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				line <- u
			}
		}
	}()
	select {
	case w.URL = <-line:
	case <-time.After(10 * time.Second):
		r.T.Fatal("web printed no address within 10s")
	}
	return w
}

// browser is one headless Chromium shared by a test's subtests.
type browser struct {
	ctx   context.Context
	shots string // where screenshots go
}

// chromium finds the browser, or skips the test saying why.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it): the browser tests need it")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1200, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("chromium does not start here: %v", err)
	}
	shots := os.Getenv("PEERWIKI_WEB_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (set PEERWIKI_WEB_SCREENSHOTS to keep them)", shots)
	return &browser{ctx: ctx, shots: shots}
}

// run runs browser actions with a deadline.
func (b *browser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(t, err)
	}
}

func (b *browser) fail(t *testing.T, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	t.Fatalf("browser: %v\npage: %.2000s", err, html)
}

// eval evaluates JavaScript in the page and returns its value.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.fail(t, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page until it is true.
func (b *browser) waitFor(t *testing.T, d time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser: %s did not happen within %v (%v)", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: a PNG
	if err != nil {
		b.fail(t, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), img, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pageIDByTitle(t *testing.T, r *Repo, title string) string {
	t.Helper()
	for _, p := range r.List() {
		if p.Title == title {
			return p.ID
		}
	}
	t.Fatalf("no page %q", title)
	return ""
}

// TestWebInABrowser drives `peerwiki web` in headless Chromium: the list,
// its filter, links, creating and editing pages, a peer's edit arriving
// live, resolving a conflict, and hostile pages from a peer.
func TestWebInABrowser(t *testing.T) {
	b := newBrowser(t)
	a := InitRepo(t, "alice")
	home := a.OK("new", "Home", "--body", "Welcome. See [[Ideas]] and [[Nowhere yet]].\n")
	a.OK("new", "Ideas", "--body", "# Ideas\n\n- one\n- two\n")
	a.OK("new", "Zebra crossing", "--body", "stripes\n")
	sa := a.StartServe()
	code := a.OK("invite")
	peer := NewRepo(t)
	peer.OK("join", code, "--name", `<img src=x onerror="window.pwned='name'">Mallory`)
	web := a.StartWeb()

	t.Run("list, filter, follow a link", func(t *testing.T) {
		var rows int
		b.run(t, chromedp.Navigate(web.URL), chromedp.WaitVisible(chromedp.CSS("#pages")))
		rows = eval[int](t, b, `document.querySelectorAll("#pages tbody tr").length`)
		if rows != 3 {
			t.Fatalf("the list shows %d rows, want 3", rows)
		}
		b.screenshot(t, "list")
		b.run(t, chromedp.SendKeys(chromedp.CSS("#filter"), "zeb"))
		b.waitFor(t, 5*time.Second, "the filter hides other pages",
			`[...document.querySelectorAll("#pages tbody tr")].filter(r => !r.hidden).map(r => r.dataset.title).join() === "Zebra crossing"`)
		b.screenshot(t, "list-filtered")

		b.run(t, chromedp.Navigate(web.URL+"page/"+home), chromedp.WaitVisible(chromedp.CSS("#page-title")))
		missing := eval[string](t, b, `document.querySelector("#page-body a.wikilink.missing").textContent`)
		present := eval[string](t, b, `document.querySelector("#page-body a.wikilink:not(.missing)").textContent`)
		if missing != "Nowhere yet" || present != "Ideas" {
			t.Fatalf("links: missing %q, present %q", missing, present)
		}
		b.screenshot(t, "page")
		b.run(t, chromedp.Click(chromedp.CSS(`#page-body a.wikilink:not(.missing)`)))
		b.waitFor(t, 5*time.Second, "following the link", `document.querySelector("#page-title")?.textContent === "Ideas"`)
		back := eval[string](t, b, `document.querySelector("#backlinks").textContent`)
		if !strings.Contains(back, "Home") {
			t.Fatalf("backlinks of Ideas: %q", back)
		}
	})

	t.Run("create and edit a page, seen by show", func(t *testing.T) {
		b.run(t, chromedp.Navigate(web.URL+"new"), chromedp.WaitVisible(chromedp.CSS("#editor")))
		b.run(t, chromedp.SendKeys(chromedp.CSS("#title"), "Browser page"))
		b.run(t, chromedp.SetValue(chromedp.CSS("#body"), "Written in **Chromium**, links to [[Home]]."))
		b.run(t, chromedp.Click(chromedp.CSS("#preview-button")))
		b.run(t, chromedp.WaitVisible(chromedp.CSS("#preview strong")))
		b.screenshot(t, "new-preview")
		b.run(t, chromedp.Click(chromedp.CSS("#save-button")))
		b.waitFor(t, 5*time.Second, "the new page", `document.querySelector("#page-title")?.textContent === "Browser page"`)
		if got := a.Show("Browser page").Body; got != "Written in **Chromium**, links to [[Home]]." {
			t.Fatalf("show after create: body %q", got)
		}
		b.run(t, chromedp.Click(chromedp.CSS("#edit-link")), chromedp.WaitVisible(chromedp.CSS("#body")),
			chromedp.SetValue(chromedp.CSS("#body"), "Edited in the browser.\n"),
			chromedp.SetValue(chromedp.CSS("#title"), "Browser page, renamed"),
			chromedp.Click(chromedp.CSS("#save-button")))
		b.waitFor(t, 5*time.Second, "the edited page", `document.querySelector("#page-title")?.textContent === "Browser page, renamed"`)
		p := a.Show("Browser page, renamed")
		if p.Body != "Edited in the browser.\n" {
			t.Fatalf("show after edit: body %q", p.Body)
		}
		b.run(t, chromedp.Navigate(web.URL+"page/"+p.ID+"/history"), chromedp.WaitVisible(chromedp.CSS("table.graph")))
		b.screenshot(t, "history")
	})

	t.Run("a peer's edit appears without a reload", func(t *testing.T) {
		ideas := pageIDByTitle(t, a, "Ideas")
		b.run(t, chromedp.Navigate(web.URL+"page/"+ideas), chromedp.WaitVisible(chromedp.CSS("#page-body")))
		marker := eval[bool](t, b, `window.stillHere = true`)
		peer.OK("sync", "--peer", sa.Addr(), "--timeout", "10s")
		peer.OK("edit", "Ideas", "--body", "# Ideas\n\n- one\n- two\n- three, from a peer\n")
		peer.OK("sync", "--peer", sa.Addr(), "--timeout", "10s")
		b.waitFor(t, 10*time.Second, "the peer's edit in the open page",
			`document.querySelector("#page-body").textContent.includes("three, from a peer")`)
		marker = eval[bool](t, b, `window.stillHere === true`)
		if !marker {
			t.Fatal("the page reloaded instead of updating in place")
		}
		b.screenshot(t, "live-update")
	})

	t.Run("resolve a conflict", func(t *testing.T) {
		id := a.OK("new", "Meeting", "--body", "agenda\n")
		first := a.Show(id).Rev
		a.OK("edit", id, "--body", "agenda\nalice's item\n")
		a.OK("edit", id, "--body", "agenda\nbob's item\n", "--parent", first)
		if !a.Show(id).Conflict {
			t.Fatal("no conflict made")
		}
		b.run(t, chromedp.Navigate(web.URL+"page/"+id), chromedp.WaitVisible(chromedp.CSS("#resolve-link")),
			chromedp.Click(chromedp.CSS("#resolve-link")), chromedp.WaitVisible(chromedp.CSS("#versions")))
		var versions int
		var merged string
		versions = eval[int](t, b, `document.querySelectorAll("#versions .version").length`)
		merged = eval[string](t, b, `document.querySelector("#merge-body").value`)
		if versions != 2 || !strings.Contains(merged, "<<<<<<<") {
			t.Fatalf("conflict screen: %d versions, merge text %q", versions, merged)
		}
		b.screenshot(t, "conflict")
		b.run(t, chromedp.SetValue(chromedp.CSS("#merge-body"), "agenda\nalice's item\nbob's item\n"),
			chromedp.Click(chromedp.CSS("#save-merge")))
		b.waitFor(t, 5*time.Second, "the resolved page", `!!document.querySelector("#page-title") && !document.querySelector("#conflict-note")`)
		p := a.Show(id)
		if p.Conflict || len(p.Heads) != 1 || p.Body != "agenda\nalice's item\nbob's item\n" {
			t.Fatalf("after resolving in the browser: %+v", p)
		}

		// And by keeping one version.
		first = p.Rev
		a.OK("edit", id, "--body", "one way\n")
		a.OK("edit", id, "--body", "another way\n", "--parent", first)
		b.run(t, chromedp.Navigate(web.URL+"page/"+id+"/conflict"), chromedp.WaitVisible(chromedp.CSS("#take-1")))
		keep := eval[string](t, b, `document.querySelectorAll("#versions .version .body")[1].textContent.trim()`)
		b.run(t, chromedp.Click(chromedp.CSS("#take-1")))
		b.waitFor(t, 5*time.Second, "the resolved page", `!!document.querySelector("#page-title") && !document.querySelector("#conflict-note")`)
		if p := a.Show(id); p.Conflict || strings.TrimSpace(p.Body) != keep {
			t.Fatalf("after keeping %q: %+v", keep, p)
		}
	})

	t.Run("hostile pages from a peer run nothing", func(t *testing.T) {
		body := strings.Join([]string{
			"# Totally normal page",
			"<script>window.pwned = 'script'; document.title = 'pwned'</script>",
			"",
			`Inline <img src=x onerror="window.pwned='img'"> image and <svg onload="window.pwned='svg'"><circle r="9"/></svg>.`,
			"",
			"<style>body { display: none !important } header { position: fixed; top: -999px }</style>",
			"",
			`<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000" onload="window.pwned='svg-block'"><script>window.pwned='svg-script'</script></svg>`,
			"",
			"[click me](javascript:window.pwned='link') and [me too](JAVASCRIPT:window.pwned='link2')",
			"[data](data:text/html,<script>parent.pwned='data'</script>) <javascript:window.pwned='auto'>",
			`![img](x" onerror="window.pwned='attr')`,
			`<iframe src="javascript:parent.pwned='iframe'"></iframe>`,
			"",
		}, "\n")
		title := `<script>window.pwned='title'</script>Evil`
		peer.OK("new", title, "--body", body)
		peer.OK("sync", "--peer", sa.Addr(), "--timeout", "10s")
		id := pageIDByTitle(t, a, title)
		for _, path := range []string{"page/" + id, "page/" + id + "/history", "", "page/" + id + "/diff"} {
			b.run(t, chromedp.Navigate(web.URL+path), chromedp.WaitVisible(chromedp.CSS("header.top")))
			// Click every link the page's text made, the javascript: ones included.
			clicked := eval[int](t, b, `(() => { let n = 0; for (const a of document.querySelectorAll("#page-body a")) {
				if (!a.classList.contains("wikilink")) { a.click(); n++ } } return n })()`)
			if path == "page/"+id && clicked < 3 {
				t.Fatalf("the hostile page shows %d links, want its 3 at least (their URLs dropped)", clicked)
			}
			time.Sleep(300 * time.Millisecond) // what a click would run, it runs at once; give it time
			b.run(t, chromedp.WaitVisible(chromedp.CSS("header.top")))
			pwned := eval[string](t, b, `String(window.pwned) + "|" + document.title`)
			if !strings.HasPrefix(pwned, "undefined|") || strings.Contains(pwned, "|pwned") {
				t.Fatalf("%s: the payload ran: %q", path, pwned)
			}
			layout := eval[string](t, b, `(() => { const h = document.querySelector("header.top").getBoundingClientRect();
				const m = document.querySelector("main").getBoundingClientRect();
				return [getComputedStyle(document.body).display, h.top >= 0 && h.height > 10, m.width <= window.innerWidth + 1].join() })()`)
			if layout != "block,true,true" {
				t.Fatalf("%s: the layout broke (body display, header in place, main within the window): %s", path, layout)
			}
			if path == "page/"+id {
				shown := eval[string](t, b, `document.querySelector("#page-title").textContent + document.querySelector("#page-body").textContent`)
				if !strings.Contains(shown, "<script>window.pwned='title'</script>Evil") || !strings.Contains(shown, "<script>window.pwned = 'script'") {
					t.Fatalf("the hostile text is not shown as text: %q", shown)
				}
				b.screenshot(t, "hostile")
			}
		}
		// The policy the browser enforced is the one sent.
		res, err := http.Get(web.URL + "page/" + id)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
			}
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("no X-Content-Type-Options: nosniff")
		}
	})
}

// TestWebRefusesForeignWrites: a write without the form token, from
// another origin, or to a Host that is not loopback is refused; listening
// beyond loopback asks for the printed token.
func TestWebRefusesForeignWrites(t *testing.T) {
	a := InitRepo(t, "alice")
	web := a.StartWeb()
	post := func(path, origin, body string) int {
		req, _ := http.NewRequest("POST", web.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("new", "", "title=Forged&body=x"); code != http.StatusForbidden {
		t.Errorf("a write without the form token: %d, want 403", code)
	}
	if code := post("new", "https://evil.example", "title=Forged&body=x&csrf=guess"); code != http.StatusForbidden {
		t.Errorf("a cross-origin write: %d, want 403", code)
	}
	if len(a.List()) != 0 {
		t.Fatalf("a forged write made a page: %v", a.List())
	}
	req, _ := http.NewRequest("GET", web.URL, nil)
	req.Host = "rebound.example:7272"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a request for another host name: %d, want 421 (DNS rebinding)", res.StatusCode)
	}

	// Beyond loopback (0.0.0.0, reached here on 127.0.0.1): nothing without the token.
	open := a.StartWeb("--listen", "0.0.0.0:0")
	if !strings.Contains(open.URL, "?token=") {
		t.Fatalf("listening beyond loopback printed %q, without a token", open.URL)
	}
	port := open.URL[strings.LastIndex(open.URL, ":")+1 : strings.Index(open.URL, "/?")]
	local := fmt.Sprintf("http://127.0.0.1:%s/", port)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	res, err = client.Get(local)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", res.StatusCode)
	}
	res, err = client.Get(local + open.URL[strings.Index(open.URL, "?"):])
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("with the token: %d, want 200 (after the redirect that sets its cookie)", res.StatusCode)
	}
}

// TestWebResolveSeesEveryVersion: a resolution posted from a conflict
// screen that did not show every head (one arrived meanwhile) is not
// made; the screen comes back with all of them.
func TestWebResolveSeesEveryVersion(t *testing.T) {
	a := InitRepo(t, "alice")
	id := a.OK("new", "Plan", "--body", "base\n")
	first := a.Show(id).Rev
	a.OK("edit", id, "--body", "one\n")
	a.OK("edit", id, "--body", "two\n", "--parent", first)
	web := a.StartWeb()
	get := func(path string) string {
		res, err := http.Get(web.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	field := func(html, name string) string {
		i := strings.Index(html, `name="`+name+`" value="`)
		if i < 0 {
			t.Fatalf("no %s field in the conflict screen", name)
		}
		rest := html[i+len(`name="`+name+`" value="`):]
		return rest[:strings.Index(rest, `"`)]
	}
	screen := get("page/" + id + "/conflict")
	csrf, heads, take := field(screen, "csrf"), field(screen, "heads"), field(screen, "take")
	a.OK("edit", id, "--body", "three\n", "--parent", first) // a third version arrives
	form := url.Values{"csrf": {csrf}, "heads": {heads}, "take": {take}}
	req, _ := http.NewRequest("POST", web.URL+"page/"+id+"/resolve", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if p := a.Show(id); !p.Conflict || len(p.Heads) != 3 {
		t.Fatalf("resolved over a version nobody saw: %+v", p)
	}
	if !strings.Contains(string(body), "New versions arrived") || strings.Count(string(body), `class="version"`) != 3 {
		t.Fatalf("the conflict screen did not come back with the three versions:\n%.1500s", body)
	}
}
