#!/usr/bin/env bash
# bench-sync.sh — replication benchmarks of peerwiki over 127.0.0.1, next to
# Fossil and git on the same synthetic history.
#
#   scripts/bench-sync.sh            (env: PAGES=1000 REVS=10 EDITS=50 REPLICAS=10 RUNS=5
#                                     SECTIONS=abcde
#                                     BENCH_OUT=<repo>/bench-out/sync PEERWIKI_SHARED=<repo>/../shared)
#
# Measures, as whole-process wall times:
#   (a) a fresh replica's full sync (`peerwiki join` against a `serve`) next to
#       `fossil clone` (the history as Fossil wiki pages) and `git clone` over `git daemon`;
#   (b) how long one edit made by the CLI next to a running serve takes to reach the
#       other serve of a pair, and each of REPLICAS running serves (full mesh): from the
#       CLI's commit (the `edit` process, its commit done, tells the serve on its repo
#       through the control socket, with the time) to each replica having stored it; and,
#       as before issue 14, from the origin serve announcing it;
#   (c) resident memory of an idle serve;
#   (d) an incremental sync of one new revision and a no-op sync, next to `fossil sync`
#       and `git fetch`;
#   (e) `edit --confirm 1` next to a running serve (one other replica running) against a
#       plain `edit`, in turn, RUNS*10 of each.
# SECTIONS picks some (e.g. SECTIONS=be: no fossil, no git; one join for the clone).
# Prints a Markdown table. Generated data is cached under BENCH_OUT between runs.
# Talks only to 127.0.0.1. Needs python3, and for (a) and (d) git and fossil
# (apt-get install fossil).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${PEERWIKI_SHARED:-$ROOT/../shared}
OUT=${BENCH_OUT:-$ROOT/bench-out/sync}
PAGES=${PAGES:-1000}
REVS=${REVS:-10}
export EDITS=${EDITS:-50} REPLICAS=${REPLICAS:-10} RUNS=${RUNS:-5} SECTIONS=${SECTIONS:-abcde}

tools="python3 go"
case "$SECTIONS" in *a*|*d*) tools="$tools git fossil" ;; esac
for tool in $tools; do
	command -v "$tool" >/dev/null || { echo "bench-sync: $tool is missing${tool:+ (fossil: apt-get install fossil)}" >&2; exit 1; }
done
mkdir -p "$OUT"
(cd "$ROOT" && go build -o "$OUT/peerwiki" .)
GEN="$OUT/gen-$PAGES-$REVS"
if [ ! -f "$GEN/index.tsv" ]; then
	python3 "$SHARED/bench/gen.py" history --pages "$PAGES" --revs "$REVS" --seed 42 --out "$GEN"
fi
export USER=${USER:-bench} NO_COLOR=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost

exec python3 - "$OUT" "$GEN" <<'PY'
import hashlib, json, os, re, shutil, signal, socket, statistics, subprocess, sys, time

OUT, GEN = sys.argv[1], sys.argv[2]
PW = os.path.join(OUT, "peerwiki")
EDITS, REPLICAS, RUNS = int(os.environ["EDITS"]), int(os.environ["REPLICAS"]), int(os.environ["RUNS"])
SECTIONS = os.environ["SECTIONS"]
WORK = os.path.join(OUT, "work")
started = []  # processes this script started; stopped by pid at exit

def log(*a):
    print("bench-sync:", *a, file=sys.stderr, flush=True)

def run(*cmd, quiet=True, **kw):
    t = time.perf_counter()
    subprocess.run(list(cmd), check=True, stdout=subprocess.DEVNULL if quiet else None, **kw)
    return time.perf_counter() - t

def out(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw).stdout

def pw(repo, *a):
    return [PW, "--repo", repo] + list(a)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill(); p.wait()

def stop_all():
    for p in started:
        stop(p)

def serve(repo, *extra, logfile=None):
    env = dict(os.environ, PEERWIKI_LOG="debug")
    err = open(logfile, "w") if logfile else subprocess.DEVNULL
    p = subprocess.Popen(pw(repo, "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht", *extra),
                         stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    started.append(p)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit("serve did not start: %r" % line)
    return p, line.split()[-1]

def median(xs):
    return statistics.median(xs)

def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]

def ms(x):
    return "%.0f ms" % (x * 1000) if x >= 0.1 else "%.1f ms" % (x * 1000)

# ---------------------------------------------------------------- data sets
index = [l.rstrip("\n").split("\t") for l in open(os.path.join(GEN, "index.tsv"))]
total = len(index)
rounds = {}
for seq, page, rev, epoch, tc, rel in index:
    rounds.setdefault(int(rev), []).append((page, rel, int(epoch)))

def body_of(rel):
    return open(os.path.join(GEN, rel), encoding="utf-8").read()

def load_peerwiki(repo):
    """One `import` per round: round r holds each page's r-th revision,
    with the page id (learnt from round 0's export) in the front matter."""
    shutil.rmtree(repo, ignore_errors=True)
    run(*pw(repo, "init", "--name", "bench"))
    ids = {}
    for r in sorted(rounds):
        d = os.path.join(WORK, "round%02d" % r)
        shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
        by_body = {}
        for page, rel, _ in rounds[r]:
            body = body_of(rel)
            with open(os.path.join(d, page + ".md"), "w", encoding="utf-8") as f:
                if r > 0:
                    f.write("---\nid: %s\n---\n" % ids[page])
                f.write(body)
            by_body[hashlib.sha256(body.encode()).hexdigest()] = page
        run(*pw(repo, "import", d))
        if r == 0:
            e = os.path.join(WORK, "export0"); shutil.rmtree(e, ignore_errors=True)
            run(*pw(repo, "export", e))
            for name in os.listdir(e):
                text = open(os.path.join(e, name), encoding="utf-8").read()
                fm, body = text[4:].split("\n---\n", 1)
                pid = [l[4:] for l in fm.split("\n") if l.startswith("id: ")][0]
                ids[by_body[hashlib.sha256(body.encode()).hexdigest()]] = pid
    return ids

def load_fossil(path):
    """The same history as Fossil wiki pages: one wiki artifact per
    revision (parent-linked), assembled with `fossil reconstruct`."""
    art = os.path.join(WORK, "fossil-artifacts")
    shutil.rmtree(art, ignore_errors=True); os.makedirs(art)
    last = {}
    for seq, page, rev, epoch, tc, rel in index:
        content = open(os.path.join(GEN, rel), "rb").read()
        s = b"D %s\nL %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime(int(epoch))).encode(), page.encode())
        if page in last:
            s += b"P %s\n" % last[page].encode()
        s += b"U bench\nW %d\n" % len(content) + content + b"\n"
        s += b"Z %s\n" % hashlib.md5(s).hexdigest().encode()
        h = hashlib.sha3_256(s).hexdigest()
        open(os.path.join(art, h), "wb").write(s)
        last[page] = h
    if os.path.exists(path):
        os.remove(path)
    run("fossil", "reconstruct", path, art)
    # Anonymous clone and pull, as a public wiki would allow.
    run("fossil", "user", "capabilities", "nobody", "gjo", "-R", path)

def load_git(path):
    shutil.rmtree(path, ignore_errors=True)
    run("git", "init", "-q", "-b", "main", path)
    with open(os.path.join(GEN, "git.fi"), "rb") as f:
        run("git", "-C", path, "fast-import", "--quiet", stdin=f)
    run("git", "-C", path, "checkout", "-q", "-f", "main")

os.makedirs(WORK, exist_ok=True)
A = os.path.join(WORK, "pw-origin")
# The loaded history is kept as it was imported, and every run starts from
# a copy: a run adds members (each replica, the clone) and sessions to the
# origin, and an origin reused run after run had gathered 525 members,
# whose list every command on a copy of it decoded (6.5 ms of an edit's
# 30 ms of CPU), so that later runs measured a heavier wiki than earlier.
LOADED = os.path.join(WORK, "pw-origin-loaded")
stamp = os.path.join(WORK, "loaded-%d" % total)
if not os.path.exists(stamp + "-peerwiki-kept"):
    log("loading %d revisions into peerwiki (cached for later runs)" % total)
    t = time.perf_counter(); load_peerwiki(LOADED); log("peerwiki import: %.1f s" % (time.perf_counter() - t))
    open(stamp + "-peerwiki-kept", "w").close()
shutil.rmtree(A, ignore_errors=True)
shutil.copytree(LOADED, A)
if ("a" in SECTIONS or "d" in SECTIONS) and not os.path.exists(stamp):
    log("loading %d revisions into fossil and git (cached for later runs)" % total)
    load_fossil(os.path.join(WORK, "origin.fossil"))
    load_git(os.path.join(WORK, "git-origin"))
    open(stamp, "w").close()
FOSSIL = os.path.join(WORK, "origin.fossil")
GIT = os.path.join(WORK, "git-origin")
status = json.loads(out(*pw(A, "status", "--json")))
assert status["revisions"] >= total, status

rows = []
notice_vs_exit = []
B = os.path.join(WORK, "pw-clone")

def clone(code):
    d = os.path.join(WORK, "pw-clone")
    shutil.rmtree(d, ignore_errors=True)
    return run(*pw(d, "join", code, "--name", "clone", "--timeout", "30s"))

def servers():
    """fossil server and git daemon on the loaded histories."""
    fport = free_port()
    fs = subprocess.Popen(["fossil", "server", "--port", str(fport), "--localhost", FOSSIL],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(fs)
    gport = free_port()
    gd = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", "--port=%d" % gport,
                           "--base-path=" + WORK, WORK], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(gd)
    time.sleep(0.5)
    return "http://127.0.0.1:%d/" % fport, "git://127.0.0.1:%d/git-origin" % gport

def full_clone(code, furl, gurl):
    log("(a) full clone, %d rounds of peerwiki, fossil and git in turn" % RUNS)
    # In turn, round by round, so that a slow spell of a shared machine
    # falls on all three alike.
    pw_times, fossil_times, git_times = [], [], []
    for i in range(RUNS):
        pw_times.append(clone(code))
        fc = os.path.join(WORK, "clone.fossil")
        if os.path.exists(fc):
            os.remove(fc)
        fossil_times.append(run("fossil", "clone", furl, fc))
        gc = os.path.join(WORK, "git-clone")
        shutil.rmtree(gc, ignore_errors=True)
        git_times.append(run("git", "clone", "-q", gurl, gc))
    got = json.loads(out(*pw(B, "status", "--json")))["revisions"]
    assert got == status["revisions"], (got, status["revisions"])
    log("(a) peerwiki", " ".join(ms(t) for t in pw_times), "| fossil", " ".join(ms(t) for t in fossil_times),
        "| git", " ".join(ms(t) for t in git_times))
    rows.append(("(a) full clone of %d revisions" % total, ms(median(pw_times)), ms(median(fossil_times)), ms(median(git_times))))

def incremental(addr_a, page_ids):
    log("(d) incremental and no-op sync")
    inc, noop = [], []
    for i in range(5):
        run(*pw(A, "edit", page_ids[i], "--body", "incremental edit %d %f\n" % (i, time.time())))
        inc.append(run(*pw(B, "sync", "--peer", addr_a)))
        noop.append(run(*pw(B, "sync", "--peer", addr_a)))
    f_inc, f_noop = [], []
    fc = os.path.join(WORK, "clone.fossil")
    for i in range(5):
        with open(os.path.join(WORK, "fossil-edit.md"), "w") as f:
            f.write("incremental edit %d %f\n" % (i, time.time()))
        run("fossil", "wiki", "commit", "page-0001", os.path.join(WORK, "fossil-edit.md"), "-R", FOSSIL)
        f_inc.append(run("fossil", "sync", "-R", fc, stderr=subprocess.DEVNULL))
        f_noop.append(run("fossil", "sync", "-R", fc, stderr=subprocess.DEVNULL))
    g_inc, g_noop = [], []
    gc = os.path.join(WORK, "git-clone")
    for i in range(5):
        with open(os.path.join(GIT, "pages", "page-0001.md"), "a") as f:
            f.write("incremental edit %d\n" % i)
        run("git", "-C", GIT, "commit", "-q", "-am", "edit %d" % i)
        g_inc.append(run("git", "-C", gc, "fetch", "-q"))
        g_noop.append(run("git", "-C", gc, "fetch", "-q"))
    rows.append(("(d) sync of one new revision (median of 5)", ms(median(inc)), ms(median(f_inc)), ms(median(g_inc))))
    rows.append(("(d) no-op sync (median of 5)", ms(median(noop)), ms(median(f_noop)), ms(median(g_noop))))

try:
    sa, addr_a = serve(A)
    # One invite for every clone and serve this script makes.
    code = out(*pw(A, "invite", "--uses", "1000")).strip()
    page_ids = [p["id"] for p in json.loads(out(*pw(A, "list", "--json")))]
    if "a" in SECTIONS or "d" in SECTIONS:
        furl, gurl = servers()
    if "a" in SECTIONS:
        full_clone(code, furl, gurl)
    else:
        clone(code)
    if "d" in SECTIONS:
        incremental(addr_a, page_ids)
    stop_all()

    # ------------------------------------------------- (b) edit propagation
    db = os.path.join(B, "peerwiki.db")
    origin_page = [10]  # each edit takes a page none before it edited

    def mesh(n):
        """Start n serves in a full mesh on the loaded history, make EDITS
        edits on the first, and return the arrival latencies from the
        CLI's commit (each replica, and the last replica per edit), the
        same from the origin's announcement, and the serves, still
        running."""
        log("(b) %d edits on one of %d serves" % (EDITS, n))
        logs, serves, addrs, reps = [], [], [], []
        for i in range(n):
            r = os.path.join(WORK, "mesh%02d" % i)
            shutil.rmtree(r, ignore_errors=True)
            run(*pw(r, "join", code, "--no-sync", "--name", "mesh%d" % i))
            # The origin (an admin) adds each replica to the member list
            # directly: none of them redeems the invite at a running node.
            rid = json.loads(out(*pw(r, "id", "--json")))["peer_id"]
            run(*pw(A, "member", "add", rid, "--name", "mesh%d" % i))
            os.remove(os.path.join(r, "invite.pending"))
            reps.append(r)
        for i, r in enumerate(reps):
            # Same history without more full syncs: the database holds no
            # per-replica state (identity lives beside it); the origin's
            # holds the member list that names every replica.
            for ext in ("", "-wal", "-shm"):
                dst = os.path.join(r, "peerwiki.db" + ext)
                if os.path.exists(dst):
                    os.remove(dst)
                src = os.path.join(A, "peerwiki.db") + ext
                if ext != "-shm" and os.path.exists(src):
                    shutil.copy(src, dst)
            os.remove(os.path.join(r, "peers.json"))
            lf = os.path.join(WORK, "mesh%02d-of-%d.log" % (i, n))
            extra = []
            for a in addrs:
                extra += ["--peer", a]
            p, a = serve(r, *extra, logfile=lf)
            serves.append(p); addrs.append(a); logs.append(lf)
        time.sleep(3)  # gossip meshes form at heartbeats (1 s)
        origin = reps[0]
        lat_one, lat_all, ann_one, ann_all = [], [], [], []
        pat = re.compile(r'msg=(?:"local commit"|stored) .*last=(\S+) us=(\d+)')
        # The `edit` process says when its commit returned (the notice it
        # sends the serve on its repo); one notice an edit, in order.
        notice = re.compile(r'msg="commit notice" committed_us=(\d+)')
        notices = []

        # Read the serves' logs incrementally (the timestamps are in the
        # lines, so polling slowly costs no precision, only less CPU taken
        # from them).
        handles = [open(l) for l in logs]
        seen = [dict() for _ in logs]

        def poll():
            for h, evs in zip(handles, seen):
                for line in h.readlines():
                    m = pat.search(line)
                    if m:
                        evs.setdefault(m.group(1), int(m.group(2)))
                    m = notice.search(line)
                    if m and evs is seen[0]:
                        notices.append(int(m.group(1)))

        for i in range(EDITS + 1):
            page = page_ids[origin_page[0]]
            origin_page[0] += 1
            rev = out(*pw(origin, "edit", page, "--body", "mesh edit %d %f\n" % (i, time.time()))).strip()
            exit_us = int(time.time() * 1e6)
            deadline = time.time() + 10
            while True:
                time.sleep(0.05)
                poll()
                if all(rev in e for e in seen) and len(notices) > i:
                    break
                if time.time() > deadline:
                    raise SystemExit("edit %d did not reach every replica within 10 s" % i)
            if i == 0:
                continue  # warm-up
            t0 = seen[0][rev]
            if len(notices) != i + 1:
                raise SystemExit("edit %d: %d commit notices at the origin serve" % (i, len(notices)))
            arrivals = [e[rev] - notices[i] for e in seen[1:]]
            lat_one += [x / 1e6 for x in arrivals]
            lat_all.append(max(arrivals) / 1e6)
            ann = [e[rev] - t0 for e in seen[1:]]
            ann_one += [x / 1e6 for x in ann]
            ann_all.append(max(ann) / 1e6)
            notice_vs_exit.append((notices[i] - exit_us) / 1e6)
        return lat_one, lat_all, ann_one, ann_all, serves, reps

    def confirm_cost(origin):
        """`edit --confirm 1` and a plain `edit` in turn on the origin of a
        running pair: whole-process wall times."""
        n = RUNS * 10
        log("(e) %d plain edits and %d with --confirm 1, in turn" % (n, n))
        plain, confirmed = [], []
        for i in range(n + 1):
            for kind, args in (("plain", []), ("confirm", ["--confirm", "1"])):
                page = page_ids[origin_page[0]]
                origin_page[0] += 1
                t = run(*pw(origin, "edit", page, "--body", "%s edit %d %f\n" % (kind, i, time.time()), *args), stderr=subprocess.DEVNULL)
                if i > 0:  # warm-up
                    (plain if kind == "plain" else confirmed).append(t)
        return plain, confirmed

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]

    def cpu_times():
        """The machine's CPU times (/proc/stat, clock ticks): user, nice,
        system, idle, iowait, irq, softirq, steal."""
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]

    def steal_share(before, after):
        """Of the time the CPUs were busy or stolen, the share the
        hypervisor took (steal: a virtual CPU that had work, not run by
        the host); an edit's trip to a replica is a few milliseconds of
        work on both cores, and a stolen spell lands on it whole."""
        d = [b - a for a, b in zip(before, after)]
        busy = sum(d) - d[3] - d[4]
        return d[7] / busy if busy > 0 else 0.0

    if "b" in SECTIONS or "e" in SECTIONS:
        # RUNS pairs in turn, their trips pooled: a p99 of EDITS trips is
        # their second slowest, and moved with every run.
        lat_pair, ann_pair, pair_steal, pair_p99 = [], [], [], []
        for r in range(RUNS if "b" in SECTIONS else 1):
            if r > 0:
                for p in pair:
                    stop(p)
            before = cpu_times()
            lat, _, ann, _, pair, pair_reps = mesh(2)
            pair_steal.append(steal_share(before, cpu_times()))
            pair_p99.append(p99(lat))
            lat_pair += lat; ann_pair += ann
        if "b" in SECTIONS:
            rows.append(("(b) edit reaches the one running replica (2 serves), from the CLI's commit: median / p99 / max of %d" % len(lat_pair), "%s / %s / %s" % (ms(median(lat_pair)), ms(p99(lat_pair)), ms(max(lat_pair))), "", ""))
            rows.append(("(b) the same, from the origin serve's announcement: median / p99", "%s / %s" % (ms(median(ann_pair)), ms(p99(ann_pair))), "", ""))
            rows.append(("(b) each run: p99 (the hypervisor's steal while it ran: share of the CPUs' busy time)", ", ".join("%s (%.0f%%)" % (ms(q), 100 * x) for q, x in zip(pair_p99, pair_steal)), "", ""))
        if "e" in SECTIONS:
            plain, confirmed = confirm_cost(pair_reps[0])
            rows.append(("(e) plain `edit` next to a running serve: median / p90", "%s / %s" % (ms(median(plain)), ms(pct(plain, 0.9))), "", ""))
            rows.append(("(e) `edit --confirm 1`, the same: median / p90 (median difference)", "%s / %s (+%s)" % (ms(median(confirmed)), ms(pct(confirmed, 0.9)), ms(median(confirmed) - median(plain))), "", ""))
        for p in pair:
            stop(p)

    if "b" in SECTIONS or "c" in SECTIONS:
        lat_one, lat_all, ann_one, ann_all, serves, _ = mesh(REPLICAS)
        if "b" in SECTIONS:
            rows.append(("(b) edit reaches one of %d replicas, from the CLI's commit: median / p99" % (REPLICAS - 1), "%s / %s" % (ms(median(lat_one)), ms(p99(lat_one))), "", ""))
            rows.append(("(b) edit reaches all %d, from the CLI's commit: median / p99 / max" % (REPLICAS - 1), "%s / %s / %s" % (ms(median(lat_all)), ms(p99(lat_all)), ms(max(lat_all))), "", ""))
            rows.append(("(b) the same, from the origin serve's announcement: one / all, p99", "%s / %s" % (ms(p99(ann_one)), ms(p99(ann_all))), "", ""))

    # ------------------------------------------------------------ (c) RSS
    if "c" in SECTIONS:
        time.sleep(2)
        def rss(p):
            for line in open("/proc/%d/status" % p.pid):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        rows.append(("(c) RSS of an idle serve (%d revisions, %d peers)" % (status["revisions"], REPLICAS - 1),
                     "%.0f MB" % max(rss(p) for p in serves), "", ""))
finally:
    stop_all()

print("| %s | peerwiki | fossil | git |" % "measure")
print("|---|---|---|---|")
for r in rows:
    print("| %s |" % " | ".join(r))
print()
print("%d pages x %d revisions (%s, seed 42) on %s, 127.0.0.1; whole-process wall times, medians of %d unless noted." % (
    len(rounds[0]), len(rounds), os.path.basename(GEN), socket.gethostname(), RUNS))
if notice_vs_exit:
    print("(b) is timed from the CLI's commit: the `edit` process, its commit done, tells the serve on its repo "
          "(control socket) when it was; that was a median %s before the process had exited." % ms(-median(notice_vs_exit)))
PY
