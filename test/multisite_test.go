package test

import (
	"bytes"
	"fmt"
	"maps"
	mrand "math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
)

// The multi-site simulation (issue 6): three sites, each a network
// namespace with two replicas (`peerwiki serve` processes) that talk to
// each other directly, and between sites only Toxiproxy proxies that add
// the one-way delay and packet loss of a wide-area path
// (multisite_net_test.go). It measures what multi-leader replication is
// for: a write is local (an `edit` takes as long at every site whatever
// the distance to the others), edits reach the other sites about one
// one-way delay later, and a site cut off keeps taking writes and
// converges with the rest once the link returns.
//
// By default a short run (one path setting, a few edits, a 5 s partition)
// with hard assertions; PEERWIKI_MULTISITE_FULL=1 (scripts/multisite.sh)
// measures 0, 50 and 150 ms one-way, each also with 1% loss, and a 60 s
// partition, and prints a Markdown table (also written to
// PEERWIKI_MULTISITE_OUT when set).

// msPath is the condition of every path between sites.
type msPath struct {
	delay   time.Duration // one-way
	lossPct float64
}

func (p msPath) String() string {
	s := fmt.Sprintf("%d ms one-way", p.delay.Milliseconds())
	if p.lossPct > 0 {
		s += fmt.Sprintf(", %g%% loss", p.lossPct)
	}
	return s
}

// msConfig is what one run measures.
type msConfig struct {
	full      bool
	paths     []msPath
	edits     int           // measured edits per path setting
	partition time.Duration // how long a site is cut off
	partPath  msPath        // the paths while it is
}

func msConfigFromEnv() msConfig {
	cfg := msConfig{
		paths:     []msPath{{50 * time.Millisecond, 1}},
		edits:     6,
		partition: 5 * time.Second,
		partPath:  msPath{50 * time.Millisecond, 1},
	}
	if os.Getenv("PEERWIKI_MULTISITE_FULL") == "" {
		return cfg
	}
	cfg.full = true
	cfg.paths = []msPath{{0, 0}, {50 * time.Millisecond, 0}, {150 * time.Millisecond, 0}, {0, 1}, {50 * time.Millisecond, 1}, {150 * time.Millisecond, 1}}
	cfg.edits = 60
	cfg.partition = 60 * time.Second
	cfg.partPath = msPath{50 * time.Millisecond, 0}
	if n, err := strconv.Atoi(os.Getenv("PEERWIKI_MULTISITE_EDITS")); err == nil && n > 0 {
		cfg.edits = n
	}
	if d, err := time.ParseDuration(os.Getenv("PEERWIKI_MULTISITE_PARTITION")); err == nil && d > 0 {
		cfg.partition = d
	}
	return cfg
}

// msReplica is one replica of the wiki at a site.
type msReplica struct {
	name   string // "A1"
	index  int
	site   int
	port   int
	repo   *Repo
	serve  *Serve
	peerID string
	page   string // the page only this replica edits (so edits never diverge)
	events *msEvents
}

// multisite is one run of the simulation.
type multisite struct {
	t        *testing.T
	cfg      msConfig
	tp       *msTopology
	replicas []*msReplica
	proxies  []*msProxy
	shared   string // a page edited at several sites (policy merge)
	edits    int    // edits made so far, to make every body new
}

const msReplicasPerSite = 2

func TestMultisite(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-site simulation skipped in -short mode")
	}
	cfg := msConfigFromEnv()
	m := &multisite{t: t, cfg: cfg, tp: newMSTopology(t, 3)}
	m.start()

	var rows []msRow
	for _, p := range cfg.paths {
		m.setPath(p)
		rows = append(rows, m.measure(p))
	}
	m.checkProxiesCarried()
	m.setPath(cfg.partPath)
	part := m.partition(len(m.tp.sites) - 1)

	table := msTable(cfg, rows, part)
	if cfg.full {
		fmt.Print("\n" + table + "\n")
		if out := os.Getenv("PEERWIKI_MULTISITE_OUT"); out != "" {
			if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
				t.Error(err)
			}
		}
	} else {
		t.Log("\n" + table)
	}
}

// start makes the replicas (one wiki, begun at A1), the proxies between
// the sites, and runs every replica's serve, connected to all the others
// (through the proxies where they are at another site); then waits until
// all six hold the wiki.
func (m *multisite) start() {
	t := m.t
	first := InitRepo(t, "A1")
	for k, s := range m.tp.sites {
		for i := range msReplicasPerSite {
			name := fmt.Sprintf("%s%d", s.name, i+1)
			r := &msReplica{name: name, index: len(m.replicas), site: k, port: 7001 + i}
			r.page = first.OK("new", "Page "+name, "--body", "written at "+name+"\n")
			m.replicas = append(m.replicas, r)
		}
	}
	var lines []string
	for _, s := range m.tp.sites {
		lines = append(lines, s.name+": first\n")
	}
	m.shared = first.OK("new", "Shared", "--body", strings.Join(lines, ""))
	first.OK("policy", m.shared, "merge")
	code := first.OK("invite", "--uses", fmt.Sprint(len(m.replicas)), "--addr", fmt.Sprintf("/ip4/%s/tcp/%d", m.tp.sites[0].addr, m.replicas[0].port))
	for i, r := range m.replicas {
		if i == 0 {
			r.repo = first
		} else {
			r.repo = NewRepo(t)
			r.repo.OK("join", code, "--no-sync", "--name", r.name)
			// Only the --peer addresses below: no way around the proxies.
			os.Remove(filepath.Join(r.repo.Dir, "peers.json"))
		}
		r.repo.Env = append(r.repo.Env, "PEERWIKI_LOG=debug")
		var id struct {
			PeerID string `json:"peer_id"`
		}
		r.repo.JSON(&id, "id", "--json")
		r.peerID = id.PeerID
	}
	// One proxy per pair of replicas at different sites and direction of
	// dialling, listening on the wan's address on the dialler's link; the
	// port names the pair.
	for _, from := range m.replicas {
		for _, q := range m.replicas {
			if q.site == from.site {
				continue
			}
			p := newMSProxy(t, m.tp.wan, from.name+"->"+q.name,
				fmt.Sprintf("%s:%d", m.tp.sites[from.site].wanAddr, msProxyPort(from, q)),
				fmt.Sprintf("%s:%d", m.tp.sites[q.site].addr, q.port), int64(len(m.proxies)+1))
			p.from, p.to = from.index, q.index
			m.proxies = append(m.proxies, p)
		}
	}
	m.setPath(m.cfg.paths[0])
	t.Cleanup(func() {
		if t.Failed() {
			m.dumpLogs()
		}
	})
	for _, r := range m.replicas {
		args := []string{"serve", "--no-mdns", "--listen", fmt.Sprintf("/ip4/%s/tcp/%d", m.tp.sites[r.site].addr, r.port)}
		for _, q := range m.replicas {
			if q != r {
				args = append(args, "--peer", m.addrOf(q, r))
			}
		}
		cmd := r.repo.Command(args...)
		ip, err := exec.LookPath("ip")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Args = append([]string{"ip", "netns", "exec", m.tp.sites[r.site].ns, cmd.Path}, cmd.Args[1:]...)
		cmd.Path = ip
		r.serve = startServe(t, cmd)
		r.events = &msEvents{s: r.serve, at: map[string]int64{}}
	}
	want := len(m.replicas) + 1
	Eventually(t, 60*time.Second, "every replica to hold the wiki's pages", func() bool {
		for _, r := range m.replicas {
			if res := r.repo.Run("list", "--json"); res.Code != 0 || strings.Count(res.Stdout, `"id"`) != want {
				return false
			}
		}
		return true
	})
}

// addrOf is how replica r dials q: directly at its own site, else
// through their proxy on its link.
func (m *multisite) addrOf(q, r *msReplica) string {
	if q.site == r.site {
		return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", m.tp.sites[q.site].addr, q.port, q.peerID)
	}
	return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", m.tp.sites[r.site].wanAddr, msProxyPort(r, q), q.peerID)
}

// msProxyPort is the port of the proxy through which r dials q.
func msProxyPort(r, q *msReplica) int { return 20000 + 10*r.index + q.index }

func (m *multisite) setPath(p msPath) {
	m.t.Helper()
	for _, x := range m.proxies {
		if err := x.setPath(p.delay, p.lossPct); err != nil {
			m.t.Fatal(err)
		}
	}
}

// edit makes a new revision of r's page (or of page, when given, with
// body) at r and returns the revision and the command's wall time.
func (m *multisite) edit(r *msReplica, page, body string) (string, time.Duration, error) {
	m.edits++
	if page == "" {
		page = r.page
		body = fmt.Sprintf("edit %d, made at %s\n", m.edits, r.name)
	}
	return m.write(r, "edit", page, "--body", body)
}

// write runs a writing command of peerwiki on r's repo inside r's site, as
// a user there would, and returns its output and wall time.
func (m *multisite) write(r *msReplica, args ...string) (string, time.Duration, error) {
	cmd := r.repo.Command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := msInNetns(m.tp.sites[r.site].ns, cmd.Start); err != nil {
		return "", 0, err
	}
	err := cmd.Wait()
	took := time.Since(start)
	if err != nil {
		return "", took, fmt.Errorf("%s: %s: %v: %s", r.name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), took, nil
}

// msRow is what one path setting measured.
type msRow struct {
	path  msPath
	write [][]time.Duration // per site: `edit` wall times
	same  []time.Duration   // commit at the origin's serve to stored at the other replica of its site
	cross []time.Duration   // ... to stored at a replica at another site
	all   []time.Duration   // ... to stored at the last of the five

	packets, lost int64 // packets between sites (as the loss model counts them), and those it delayed
}

// measure makes cfg.edits edits, one at a time, round the replicas, and
// times each from its origin serve's commit to its arrival at each of the
// other five (from the timestamps in their logs, so polling costs no
// precision). A few edits first warm the path up and are not counted.
func (m *multisite) measure(p msPath) msRow {
	t := m.t
	row := msRow{path: p, write: make([][]time.Duration, len(m.tp.sites))}
	packets, lost := msLoss.packets.Load(), msLoss.lost.Load()
	const warmUp = 3
	for i := range warmUp + m.cfg.edits {
		o := m.replicas[i%len(m.replicas)]
		rev, took, err := m.edit(o, "", "")
		if err != nil {
			t.Fatal(err)
		}
		m.waitEverywhere(rev, 20*time.Second)
		if i < warmUp {
			continue
		}
		row.write[o.site] = append(row.write[o.site], took)
		t0 := o.events.at[rev]
		var last time.Duration
		for _, r := range m.replicas {
			if r == o {
				continue
			}
			lag := time.Duration(r.events.at[rev]-t0) * time.Microsecond
			if r.site == o.site {
				row.same = append(row.same, lag)
			} else {
				row.cross = append(row.cross, lag)
				// Nothing crosses sites faster than the path's delay; if
				// something did, it went around the proxies.
				if lag < p.delay {
					t.Errorf("%s reached %s in %s, under the %s one-way delay: traffic bypasses the proxy", rev, r.name, lag, p.delay)
				}
			}
			last = max(last, lag)
		}
		row.all = append(row.all, last)
	}
	row.packets, row.lost = msLoss.packets.Load()-packets, msLoss.lost.Load()-lost
	// A write that waited for the network would take at least a round
	// trip between sites (only in the full run: two edits a site say
	// little on a busy machine).
	if m.cfg.full && p.delay > 0 {
		if med := msMedian(slices.Concat(row.write...)); med >= 2*p.delay {
			t.Errorf("%s: the median edit took %s, a round trip between sites or more", p, med)
		}
	}
	t.Logf("%s: %d of %d packets between sites delayed as lost; edit median %s; same site %s / %s, other site %s / %s, all five %s / %s (median / p99)",
		p, row.lost, row.packets, msMedian(slices.Concat(row.write...)), msMedian(row.same), msP99(row.same),
		msMedian(row.cross), msP99(row.cross), msMedian(row.all), msP99(row.all))
	return row
}

// waitEverywhere waits until every serve has logged rev (committed or
// stored).
func (m *multisite) waitEverywhere(rev string, d time.Duration) {
	m.t.Helper()
	deadline := time.Now().Add(d)
	for {
		missing := ""
		for _, r := range m.replicas {
			r.events.poll()
			if _, ok := r.events.at[rev]; !ok {
				missing += " " + r.name
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("revision %s did not reach%s within %s", rev, missing, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkProxiesCarried checks that every two replicas at different sites
// exchanged data through one of their two proxies (whichever side
// dialled; libp2p keeps one connection per pair).
func (m *multisite) checkProxiesCarried() {
	m.t.Helper()
	carried := map[[2]int]int64{}
	var total int64
	for _, p := range m.proxies {
		carried[[2]int{min(p.from, p.to), max(p.from, p.to)}] += p.bytes()
		total += p.bytes()
	}
	for _, a := range m.replicas {
		for _, b := range m.replicas[a.index+1:] {
			if a.site != b.site && carried[[2]int{a.index, b.index}] == 0 {
				m.t.Errorf("no bytes went between %s and %s through their proxies", a.name, b.name)
			}
		}
	}
	m.t.Logf("the %d proxies carried %d bytes", len(m.proxies), total)
}

// msPartition is what cutting a site off measured.
type msPartition struct {
	site     string
	length   time.Duration
	writes   int
	write    [][]time.Duration // per site, during the partition
	first    time.Duration     // heal to the first revision stored across it
	last     time.Duration     // heal to the last revision stored anywhere: all identical
	polled   time.Duration     // heal to six identical `list --all --json`, as polled
	finalRev int
	shared   string // how the page both sides edited ended
	// Serves' log lines: failed dials while the site was cut off, and
	// connections made after it healed (a connection that outlived the
	// cut needs none).
	failedDials, redials int
}

// partition cuts site k off for cfg.partition while every replica keeps
// writing (its own page, a new page per site, and both sides the shared
// page, which the merge policy merges on healing); checks that nothing
// crossed the cut; heals it and times the convergence; then checks every
// replica holds every revision anyone wrote.
func (m *multisite) partition(k int) msPartition {
	t := m.t
	cut := m.tp.sites[k]
	res := msPartition{site: cut.name, length: m.cfg.partition, write: make([][]time.Duration, len(m.tp.sites))}
	written := map[string]string{} // revision -> page
	newPages := make([][]string, len(m.tp.sites))
	record := func(r *msReplica, page, body string) {
		rev, took, err := m.edit(r, page, body)
		if err != nil {
			t.Fatalf("a write during the partition failed: %v", err)
		}
		// Local writes must not wait for the network: a write that did
		// would take a dial timeout or more while its site is cut off.
		if took > 3*time.Second {
			t.Errorf("%s: an edit took %s during the partition", r.name, took)
		}
		res.write[r.site] = append(res.write[r.site], took)
		if page == "" {
			page = r.page
		}
		written[rev] = page
		res.writes++
	}
	sharedLines := func(r *msReplica, round int) string {
		var b strings.Builder
		for j, s := range m.tp.sites {
			if j == r.site {
				fmt.Fprintf(&b, "%s: round %d of the partition, from %s\n", s.name, round, r.name)
			} else {
				fmt.Fprintf(&b, "%s: first\n", s.name)
			}
		}
		return b.String()
	}
	// The writers of the shared page: one on each side of the cut.
	sideWriter := []*msReplica{m.replicas[0], m.replicas[k*msReplicasPerSite]}
	sharedLast := make([]string, len(sideWriter))
	for _, r := range sideWriter {
		var p Page
		r.repo.JSON(&p, "show", m.shared, "--json")
		if len(p.Heads) != 1 {
			t.Fatalf("%s: the shared page has %d heads before the partition", r.name, len(p.Heads))
		}
	}

	t.Logf("cutting site %s off for %s", cut.name, m.cfg.partition)
	atCut := m.logLengths()
	m.tp.cut(cut, true)
	start := time.Now()
	const roundEvery = 2 * time.Second
	for round := 0; round == 0 || time.Since(start)+roundEvery <= m.cfg.partition; round++ {
		roundStart := time.Now()
		for _, r := range m.replicas {
			record(r, "", "")
		}
		for j := range m.tp.sites {
			r := m.replicas[j*msReplicasPerSite]
			title := fmt.Sprintf("New at %s, round %d", r.name, round)
			id, took, err := m.write(r, "new", title, "--body", "written during the partition\n")
			if err != nil {
				t.Fatalf("a write during the partition failed: %v", err)
			}
			res.write[j] = append(res.write[j], took)
			newPages[j] = append(newPages[j], id)
			res.writes++
		}
		for i, r := range sideWriter {
			record(r, m.shared, sharedLines(r, round))
			sharedLast[i] = fmt.Sprintf("%s: round %d of the partition, from %s\n", m.tp.sites[r.site].name, round, r.name)
		}
		time.Sleep(time.Until(roundStart.Add(roundEvery)))
	}
	// The sites still connected reach each other; nothing crosses the cut.
	Eventually(t, 20*time.Second, "the sites still connected to exchange their new pages", func() bool {
		for _, r := range m.replicas {
			if r.site == k {
				continue
			}
			have := msPageSet(r.repo)
			for j, ids := range newPages {
				for _, id := range ids {
					if j != k && !have[id] {
						return false
					}
				}
			}
		}
		return true
	})
	for _, r := range m.replicas {
		have := msPageSet(r.repo)
		for j, ids := range newPages {
			for _, id := range ids {
				if (r.site == k) != (j == k) && have[id] {
					t.Fatalf("page %s written at site %s reached %s across the partition", id, m.tp.sites[j].name, r.name)
				}
			}
		}
	}
	if d := time.Since(start); d < m.cfg.partition {
		time.Sleep(m.cfg.partition - d)
	}
	res.length = time.Since(start)

	atHeal := m.logLengths()
	m.tp.cut(cut, false)
	healed := time.Now()
	t.Logf("healed after %s (%d writes during it); waiting for convergence", res.length.Round(time.Millisecond), res.writes)
	limit := 45 * time.Second
	if m.cfg.full {
		limit = 3 * time.Minute
	}
	deadline := healed.Add(limit)
	var states []string
	for {
		states = m.states()
		if msAllSame(states) {
			if res.polled == 0 {
				res.polled = time.Since(healed)
			}
			// Quiescent? Merges made on receipt may still be travelling.
			time.Sleep(2 * time.Second)
			if again := m.states(); msAllSame(again) && again[0] == states[0] {
				break
			}
			res.polled = 0
			continue
		}
		if time.Now().After(deadline) {
			for i, s := range states {
				t.Logf("%s:\n%s", m.replicas[i].name, s)
			}
			t.Fatalf("the replicas did not converge within %s of the partition healing", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// From the serves' logs: when the first revision crossed, and when the
	// last one anywhere was stored (after which all six were identical).
	healedUS := healed.UnixMicro()
	var first, last int64
	for _, r := range m.replicas {
		r.events.poll()
		for _, us := range r.events.times {
			if us < healedUS {
				continue
			}
			if first == 0 || us < first {
				first = us
			}
			last = max(last, us)
		}
	}
	res.failedDials = m.countLogged(atCut, atHeal, "msg=\"could not reach peer")
	res.redials = m.countLogged(atHeal, nil, "msg=connected ")
	res.first = time.Duration(first-healedUS) * time.Microsecond
	res.last = time.Duration(last-healedUS) * time.Microsecond
	t.Logf("converged: first revision across %s after healing, last stored %s after, six identical states polled at %s; %d failed dials during the cut, %d connections made after it",
		res.first.Round(time.Millisecond), res.last.Round(time.Millisecond), res.polled.Round(time.Millisecond), res.failedDials, res.redials)

	// Nothing written on either side is lost, and everyone has the same
	// revisions.
	var want map[string]bool
	for i, r := range m.replicas {
		have, _ := r.repo.Revisions()
		for rev, page := range written {
			if !have[rev] {
				t.Errorf("%s lacks revision %s of page %s written during the partition", r.name, rev, page)
			}
		}
		if i == 0 {
			want = have
			res.finalRev = len(have)
		} else if !maps.Equal(want, have) {
			t.Errorf("%s holds %d revisions, %s %d", r.name, len(have), m.replicas[0].name, len(want))
		}
		if res := r.repo.Run("fsck"); res.Code != 0 {
			t.Errorf("%s: fsck: %s%s", r.name, res.Stdout, res.Stderr)
		}
	}
	// Both sides changed their own line of the shared page: its merge
	// policy merges that cleanly (heads that hold the same version are no
	// conflict).
	var p Page
	m.replicas[0].repo.JSON(&p, "show", m.shared, "--json")
	res.shared = "merged (one head)"
	if len(p.Heads) > 1 {
		res.shared = fmt.Sprintf("merged (%d heads holding one version)", len(p.Heads))
	}
	if p.Conflict {
		res.shared = fmt.Sprintf("**conflict**: %d heads, %d versions", len(p.Heads), len(p.Versions))
	}
	if p.Conflict || !strings.Contains(p.Body, sharedLast[0]) || !strings.Contains(p.Body, sharedLast[1]) {
		t.Errorf("the shared page was not merged: conflict %v, %d heads, body %q, want lines %q; its history:\n%s",
			p.Conflict, len(p.Heads), p.Body, sharedLast, m.replicas[0].repo.Run("log", m.shared, "--graph").Stdout)
		t.Logf("%s", m.replicas[0].repo.Run("log", m.shared, "--json").Stdout)
		for _, v := range p.Versions {
			t.Logf("version %s:\n%s", v.Rev, v.Body)
		}
	}
	return res
}

// states returns every replica's pages and their heads, as
// `list --all --json` prints them, read at the same time ("" where the
// command failed).
func (m *multisite) states() []string {
	out := make([]string, len(m.replicas))
	var wg sync.WaitGroup
	for i, r := range m.replicas {
		wg.Go(func() {
			if b, err := r.repo.Command("list", "--all", "--json").Output(); err == nil {
				out[i], _ = headsState(string(b))
			}
		})
	}
	wg.Wait()
	return out
}

func msAllSame(states []string) bool {
	for _, s := range states {
		if s == "" || s != states[0] {
			return false
		}
	}
	return true
}

// msPageSet is the ids of every page a replica lists.
func msPageSet(r *Repo) map[string]bool {
	var pages []Page
	r.JSON(&pages, "list", "--all", "--json")
	have := map[string]bool{}
	for _, p := range pages {
		have[p.ID] = true
	}
	return have
}

func (m *multisite) dumpLogs() {
	for _, r := range m.replicas {
		if r.serve == nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(r.serve.Log()), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		m.t.Logf("serve %s (last %d lines):\n%s", r.name, len(lines), strings.Join(lines, "\n"))
	}
}

// logLengths is how far each serve's log has come.
func (m *multisite) logLengths() []int {
	out := make([]int, len(m.replicas))
	for i, r := range m.replicas {
		r.serve.mu.Lock()
		out[i] = r.serve.log.Len()
		r.serve.mu.Unlock()
	}
	return out
}

// countLogged counts the lines containing substr that the serves logged
// between two logLengths (to now when to is nil).
func (m *multisite) countLogged(from, to []int, substr string) int {
	if to == nil {
		to = m.logLengths()
	}
	n := 0
	for i, r := range m.replicas {
		r.serve.mu.Lock()
		n += strings.Count(string(r.serve.log.Bytes()[from[i]:to[i]]), substr)
		r.serve.mu.Unlock()
	}
	return n
}

// msEvents reads a serve's debug log as it grows: when each revision was
// first committed or stored there.
type msEvents struct {
	s     *Serve
	off   int
	at    map[string]int64 // revision -> unix µs
	times []int64          // every commit and store, in log order
}

var msEventLine = regexp.MustCompile(`msg=(?:"local commit"|stored) .*last=(\S+) us=(\d+)`)

// poll takes the lines logged since the last poll (copying only those:
// the log grows to megabytes in a long run).
func (e *msEvents) poll() {
	e.s.mu.Lock()
	b := e.s.log.Bytes()
	end := bytes.LastIndexByte(b[e.off:], '\n')
	var chunk string
	if end >= 0 {
		chunk = string(b[e.off : e.off+end])
		e.off += end + 1
	}
	e.s.mu.Unlock()
	for _, line := range strings.Split(chunk, "\n") {
		sm := msEventLine.FindStringSubmatch(line)
		if sm == nil {
			continue
		}
		us, err := strconv.ParseInt(sm[2], 10, 64)
		if err != nil {
			continue
		}
		if _, ok := e.at[sm[1]]; !ok {
			e.at[sm[1]] = us
		}
		e.times = append(e.times, us)
	}
}

func msSorted(xs []time.Duration) []time.Duration {
	return slices.Sorted(slices.Values(xs))
}

func msMedian(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := msSorted(xs)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func msP99(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := msSorted(xs)
	i := int(0.99*float64(len(s)-1) + 0.5)
	return s[min(i, len(s)-1)]
}

func msMS(d time.Duration) string {
	if d >= 100*time.Millisecond {
		return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// msTable is the run's figures as Markdown.
func msTable(cfg msConfig, rows []msRow, part msPartition) string {
	var b strings.Builder
	b.WriteString("| path between sites | `edit` at site A / B / C, median (p99), ms | reaches the other replica of its site, median / p99, ms | reaches a replica at another site, median / p99, ms | reaches all 5 others, median / p99, ms | packets between sites delayed as lost |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		var sites []string
		for _, w := range r.write {
			sites = append(sites, fmt.Sprintf("%s (%s)", msMS(msMedian(w)), msMS(msP99(w))))
		}
		fmt.Fprintf(&b, "| %s | %s | %s / %s | %s / %s | %s / %s | %d of %d |\n", r.path,
			strings.Join(sites, " / "), msMS(msMedian(r.same)), msMS(msP99(r.same)),
			msMS(msMedian(r.cross)), msMS(msP99(r.cross)), msMS(msMedian(r.all)), msMS(msP99(r.all)), r.lost, r.packets)
	}
	fmt.Fprintf(&b, "\n%d measured edits per row (after 3 warm-up edits), one at a time round the six replicas; lags from the origin serve's commit to the receiving serve's store, by the timestamps in their logs.\n\n", cfg.edits)
	b.WriteString("| partition | writes during it | `edit`/`new` at site A / B / C during it, median (p99), ms | first revision across after healing | all six identical after healing (last store / as polled) | connections redialled after healing | revisions at the end | page edited on both sides (merge policy) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	var sites []string
	for _, w := range part.write {
		sites = append(sites, fmt.Sprintf("%s (%s)", msMS(msMedian(w)), msMS(msP99(w))))
	}
	fmt.Fprintf(&b, "| site %s cut off for %.0f s (paths %s) | %d, all kept | %s | %.2f s | %.2f s / %.2f s | %d | %d on each replica | %s |\n",
		part.site, part.length.Seconds(), cfg.partPath, part.writes, strings.Join(sites, " / "),
		part.first.Seconds(), part.last.Seconds(), part.polled.Seconds(), part.redials, part.finalRev, part.shared)
	return b.String()
}

// TestMultisiteLossModel checks the WAN toxic's loss model without a
// network: about the asked share of packets is late by the RTO, a chunk
// counts as one packet per msMSS bytes, nothing overtakes what was sent
// before it, and the same seed hits the same packets.
func TestMultisiteLossModel(t *testing.T) {
	const packets = 20000
	delay := 50 * time.Millisecond
	rto := msMinRTO + 2*delay
	// run sends chunks of the given size, a second apart (so no loss
	// delays the next chunk), and says for each packet whether it was late.
	run := func(chunk int) []bool {
		st := &msWANState{rng: mrand.New(mrand.NewSource(7))}
		var late []bool
		var prev time.Time
		t0 := time.Unix(1e9, 0)
		perChunk := max(1, (chunk+msMSS-1)/msMSS)
		for i := range packets / perChunk {
			ts := t0.Add(time.Duration(i) * time.Second)
			ps := st.schedule(&stream.StreamChunk{Data: make([]byte, chunk), Timestamp: ts}, delay, rto, 0.01)
			n := 0
			for _, p := range ps {
				if p.at.Before(prev) || p.at.Before(ts.Add(delay)) {
					t.Fatalf("chunk %d: a piece is delivered at %s, before the one ahead of it (%s) or its delay", i, p.at, prev)
				}
				prev = p.at
				n += len(p.chunk.Data)
			}
			if n != chunk {
				t.Fatalf("chunk %d: %d bytes delivered of %d", i, n, chunk)
			}
			// Packet k of the chunk was the first lost one if the late
			// piece starts at its offset.
			for k := range perChunk {
				last := ps[len(ps)-1]
				l := last.at.Equal(ts.Add(delay+rto)) && chunk-len(last.chunk.Data) == k*msMSS
				late = append(late, l)
			}
		}
		return late
	}
	count := func(bs []bool) int {
		n := 0
		for _, b := range bs {
			if b {
				n++
			}
		}
		return n
	}
	small := run(100)
	// 1% of 20,000 is 200, with a standard deviation of about 14.
	if n := count(small); n < 150 || n > 250 {
		t.Fatalf("%d of %d packets lost, want about 1%%", n, packets)
	}
	if !slices.Equal(small, run(100)) {
		t.Fatal("the same seed lost different packets")
	}
	// Four packets a chunk: the same draws, so a chunk is late from the
	// first packet that one-packet chunks lost.
	four := run(4 * msMSS)
	for i := 0; i < len(four); i += 4 {
		first := slices.Index(small[i:i+4], true)
		if got := slices.Index(four[i:i+4], true); got != first {
			t.Fatalf("chunk %d of four packets: late from packet %d, want %d", i/4, got, first)
		}
	}
}
