#!/usr/bin/env python3
"""bench-bundles.py — issue 20's figures on the shared 1,000 pages x 10 revisions.

  python3 scripts/bench-bundles.py [--runs 5] [--views 300] [--only web,git,car]
      (env: BENCH_OUT=<repo>/bench-out/bundles, PEERWIKI_SHARED=<repo>/../shared)

Measures, on 127.0.0.1 only:
  web   page views of `peerwiki web`: the server's time (its Server-Timing
        header) and the client's wall time, for page views, the list, a
        page's history and a diff;
  git   `peerwiki export --git` of the whole history into a new repository,
        next to `fossil git export` of the same history (Fossil check-ins made
        by `fossil import --git` from gen.py's git.fi), and a re-export
        after 10 edits;
  car   `export --car` then `import --car` into a fresh replica, next to a
        fresh replica's full sync (`join` against a `serve`).
Prints Markdown tables. The loaded repositories are cached under BENCH_OUT.
Needs python3, git, fossil (apt-get install fossil), go.
"""
import argparse, hashlib, http.client, json, os, random, shutil, signal, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("PEERWIKI_SHARED", os.path.join(ROOT, "..", "shared"))
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench-out", "bundles"))
PW = os.path.join(OUT, "peerwiki")
started = []  # processes this script started; stopped by pid at exit
os.environ.setdefault("USER", "bench")  # fossil wants one
os.environ["NO_COLOR"] = "1"


def log(*a):
    print("bench-bundles:", *a, file=sys.stderr, flush=True)


def run(*cmd, **kw):
    t = time.perf_counter()
    subprocess.run(list(cmd), check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def out(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw).stdout


def pw(repo, *a):
    return [PW, "--repo", repo] + list(a)


def ms(x):
    return "%.0f ms" % (x * 1000) if x >= 0.1 else "%.1f ms" % (x * 1000)


def start(cmd, prefix):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    started.append(p)
    line = p.stdout.readline()
    if not line.startswith(prefix):
        raise SystemExit("%s did not start: %r" % (cmd[3], line))
    return p, line[len(prefix):].strip()


def stop_all():
    for p in started:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def load(gen, work):
    """The history into peerwiki (one import a round, page ids from round
    0's export, as scripts/bench-sync.sh loads it)."""
    index = [l.rstrip("\n").split("\t") for l in open(os.path.join(gen, "index.tsv"))]
    rounds = {}
    for seq, page, rev, epoch, tc, rel in index:
        rounds.setdefault(int(rev), []).append((page, rel))
    repo = os.path.join(work, "pw")
    shutil.rmtree(repo, ignore_errors=True)
    run(*pw(repo, "init", "--name", "bench"))
    ids = {}
    for r in sorted(rounds):
        d = os.path.join(work, "round")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        by_body = {}
        for page, rel in rounds[r]:
            body = open(os.path.join(gen, rel), encoding="utf-8").read()
            with open(os.path.join(d, page + ".md"), "w", encoding="utf-8") as f:
                if r > 0:
                    f.write("---\nid: %s\n---\n" % ids[page])
                f.write(body)
            by_body[hashlib.sha256(body.encode()).hexdigest()] = page
        run(*pw(repo, "import", d))
        if r == 0:
            e = os.path.join(work, "export0")
            shutil.rmtree(e, ignore_errors=True)
            run(*pw(repo, "export", e))
            for name in os.listdir(e):
                fm, body = open(os.path.join(e, name), encoding="utf-8").read()[4:].split("\n---\n", 1)
                pid = [l[4:] for l in fm.split("\n") if l.startswith("id: ")][0]
                ids[by_body[hashlib.sha256(body.encode()).hexdigest()]] = pid
    return repo


def load_fossil(gen, work):
    """The history into Fossil check-ins."""
    fossil = os.path.join(work, "history.fossil")
    if os.path.exists(fossil):
        os.remove(fossil)
    stream = open(os.path.join(gen, "git.fi"), "rb").read()
    if stream.endswith(b"done\n"):  # fossil's importer does not know the command
        stream = stream[:-len(b"done\n")]
    t = time.perf_counter()
    subprocess.run(["fossil", "import", "--git", fossil], input=stream, check=True, stdout=subprocess.DEVNULL)
    log("fossil import --git: %.1f s" % (time.perf_counter() - t))
    return fossil


def bench_web(repo, views, rng):
    """Page views against one `peerwiki web` over a kept-alive connection."""
    p, url = start(pw(repo, "web", "--listen", "127.0.0.1:0"), "listening on ")
    host = url.split("//")[1].rstrip("/")
    conn = http.client.HTTPConnection(host)
    pages = json.loads(out(*pw(repo, "list", "--json")))

    def get(path):
        t = time.perf_counter()
        conn.request("GET", path)
        res = conn.getresponse()
        res.read()
        wall = time.perf_counter() - t
        assert res.status == 200, (path, res.status)
        server = float(res.getheader("Server-Timing").split("dur=")[1]) / 1000
        return server, wall

    for pg in pages[:20]:  # warm-up: templates, the first queries
        get("/page/" + pg["id"])
    rows = []
    kinds = [
        ("page view (a random page of 1,000)", lambda: "/page/" + rng.choice(pages)["id"], views),
        ("page list (1,000 pages)", lambda: "/", max(20, views // 10)),
        ("history graph of a page (10 revisions)", lambda: "/page/" + rng.choice(pages)["id"] + "/history", max(50, views // 3)),
        ("diff of a page's last edit", lambda: "/page/" + rng.choice(pages)["id"] + "/diff", max(50, views // 3)),
    ]
    for name, path, n in kinds:
        got = [get(path()) for _ in range(n)]
        server = [s for s, _ in got]
        wall = [w for _, w in got]
        rows.append((name, n, statistics.median(server), sorted(server)[int(0.99 * (n - 1))], statistics.median(wall)))
    conn.close()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--views", type=int, default=300)
    ap.add_argument("--only", default="web,git,car", help="comma-separated sections to run (web, git, car)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    for tool in ("git", "fossil", "go") if "git" in only else ("go",):
        if not shutil.which(tool):
            raise SystemExit("bench-bundles: %s is missing (fossil: apt-get install fossil)" % tool)
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["go", "build", "-o", PW, "."], cwd=ROOT, check=True)
    gen = os.path.join(OUT, "gen-1000-10")
    if not os.path.exists(os.path.join(gen, "index.tsv")):
        subprocess.run([sys.executable, os.path.join(SHARED, "bench", "gen.py"), "history", "--pages", "1000",
                        "--revs", "10", "--seed", "42", "--out", gen], check=True)
    work = os.path.join(OUT, "work")
    os.makedirs(work, exist_ok=True)
    repo, fossil = os.path.join(work, "pw"), os.path.join(work, "history.fossil")
    if not os.path.exists(os.path.join(work, "loaded")):
        log("loading the history into peerwiki (cached for later runs)")
        load(gen, work)
        open(os.path.join(work, "loaded"), "w").close()
    if "git" in only and not os.path.exists(os.path.join(work, "loaded-fossil")):
        log("loading the history into fossil (cached for later runs)")
        load_fossil(gen, work)
        open(os.path.join(work, "loaded-fossil"), "w").close()
    revisions = json.loads(out(*pw(repo, "status", "--json")))["revisions"]
    rng = random.Random(42)
    web, pw_git, exp = [], [], []
    try:
        if "web" in only:
            log("web: %d page views" % args.views)
            web = bench_web(repo, args.views, rng)
        if "git" in only:
            pw_git, fossil_git, fn, again = bench_git(repo, fossil, work, revisions, args.runs)
        if "car" in only:
            exp, imp, join, size = bench_car(repo, work, revisions, args.runs)
    finally:
        stop_all()

    med = statistics.median
    if web:
        print("| `peerwiki web`, 1,000-page wiki | requests | server time, median | p99 | client wall time, median |")
        print("|---|---|---|---|---|")
        for name, n, s, p, w in web:
            print("| %s | %d | %s | %s | %s |" % (name, n, ms(s), ms(p), ms(w)))
        print()
    print("| %d revisions | peerwiki (median of %d) | anchor, same run |" % (revisions, args.runs))
    print("|---|---|---|")
    if pw_git:
        print("| git export of the whole history | `export --git` %s (%s) | `fossil git export` %s (%s; %d commits) |" % (
            ms(med(pw_git)), ", ".join(ms(x) for x in pw_git), ms(med(fossil_git)), ", ".join(ms(x) for x in fossil_git), fn))
        print("| re-export after 10 edits | %s | |" % ms(again))
    if exp:
        print("| bundle: `export --car` + `import --car` into a fresh replica | %s + %s = %s (%.1f MB; import %s) | full sync (`join` from a `serve`): %s (%s) |" % (
            ms(med(exp)), ms(med(imp)), ms(med([e + i for e, i in zip(exp, imp)])), size / 1e6, ", ".join(ms(x) for x in imp),
            ms(med(join)), ", ".join(ms(x) for x in join)))


def bench_git(repo, fossil, work, revisions, runs):
    """export --git and fossil git export in turn, then a re-export after 10 edits."""
    log("git: %d rounds of export --git and fossil git export, in turn" % runs)
    pw_git, fossil_git = [], []
    for i in range(runs):
        d = os.path.join(work, "git-pw")
        shutil.rmtree(d, ignore_errors=True)
        pw_git.append(run(*pw(repo, "export", "--git", d)))
        n = int(out("git", "-C", d, "rev-list", "--all", "--count"))
        assert n == revisions, (n, revisions)
        f = os.path.join(work, "git-fossil")
        shutil.rmtree(f, ignore_errors=True)
        fossil_git.append(run("fossil", "git", "export", f, "-R", fossil))
    fn = int(out("git", "-C", os.path.join(work, "git-fossil"), "rev-list", "--all", "--count"))
    # Ten new edits, then a re-export: only they are added.
    clone = os.path.join(work, "pw-edits")
    shutil.rmtree(clone, ignore_errors=True)
    shutil.copytree(repo, clone)
    ids = [p["id"] for p in json.loads(out(*pw(clone, "list", "--json")))][:10]
    d = os.path.join(work, "git-pw")
    shutil.rmtree(d, ignore_errors=True)
    run(*pw(clone, "export", "--git", d))
    for i, pid in enumerate(ids):
        run(*pw(clone, "edit", pid, "--body", "edit %d\n" % i))
    again = run(*pw(clone, "export", "--git", d))
    return pw_git, fossil_git, fn, again


def bench_car(repo, work, revisions, runs):
    """export --car + import --car, and a join from a serve, in turn."""
    log("car: %d rounds of export --car + import --car, and of join from a serve, in turn" % runs)
    code = out(*pw(repo, "invite", "--addr", "/ip4/127.0.0.1/tcp/9")).strip()
    sp, _ = start(pw(repo, "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht"), "listening on ")
    serve_code = out(*pw(repo, "invite", "--uses", str(runs))).strip()
    car = os.path.join(work, "wiki.car")
    exp, imp, join = [], [], []
    for i in range(runs):
        if os.path.exists(car):
            os.remove(car)
        exp.append(run(*pw(repo, "export", "--car", car)))
        b = os.path.join(work, "pw-car")
        shutil.rmtree(b, ignore_errors=True)
        run(*pw(b, "join", code, "--no-sync", "--name", "car"))
        imp.append(run(*pw(b, "import", "--car", car)))
        got = json.loads(out(*pw(b, "status", "--json")))["revisions"]
        assert got == revisions, (got, revisions)
        c = os.path.join(work, "pw-join")
        shutil.rmtree(c, ignore_errors=True)
        join.append(run(*pw(c, "join", serve_code, "--name", "sync", "--timeout", "60s")))
    size = os.path.getsize(car)
    return exp, imp, join, size


if __name__ == "__main__":
    main()
