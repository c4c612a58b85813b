#!/usr/bin/env python3
"""100,000-page benchmark of local work (issue 19): import, list, the UI.

Builds a wiki of PAGES one-revision pages of about 4 KB each (seeded, so
every run imports the same bytes; the files are cached under
bench-out/bigwiki/pages-PAGES-seedSEED/), imports them with one
`peerwiki import`, then measures as whole processes:

  import          wall time and peak resident memory (the child's rusage)
  list --json     wall time and peak resident memory (and checks the count)
  list            wall time (text, to a file: no pager)
  UI start        from exec to the first screen that shows a page title,
                  in a tmux session of its own (tmux -L), 100x30
  repo size       every file under the repo folder

and prints a Markdown table; then (unless --no-sync) the sync protocol
at that size, over 127.0.0.1 (see sync_bench):

  fresh replica   `join` of a second repo from a `serve` of the first
  readable        `join --shallow` (every page's current version, no
                  history), then `sync --unshallow` (the history)
  no-op sync      `sync --peer` from the replica: as a one-shot process
                  (it reads its heads from the store first) and through
                  the replica's own running serve (which keeps them)
  k new revisions k pages edited on the serving side (one `import` of k
                  files naming their pages), then a one-shot `sync`
  payload         what the sync protocol moved, both ways, as the serving
                  side counts it (its debug log, "sync answered"): every
                  frame of the sync stream with its length prefix, not
                  libp2p's own framing (multistream, yamux, noise, TCP);
                  "beyond the revisions" leaves out the BLOCK and PACKED
                  frames
  memory          peak resident (VmHWM) of each serve

next to git (unless --no-git): the same files as one commit each,
fast-imported once (cached under bench-out/bigwiki/), served by
`git daemon` on 127.0.0.1: `clone --mirror`, `fetch` with nothing new,
and `fetch` after k commits of one edited file each. Usage:

    scripts/bench-bigwiki.py [--pages 100000] [--seed 42] [--pw BINARY]
                             [--batch 1000] [--runs 3] [--keep]
                             [--repo DIR] [--no-sync] [--no-git]
                             [--sync-runs 5] [--revisions 1]
                             [--no-shallow]

--revisions R gives every page R revisions: the pages imported, then
R-1 rounds of one `import` that revises every page (a paragraph of its
own added), and git the same history as one commit a file a round.

--repo DIR skips the import and the local measures and runs the sync
section on DIR, a repo this script imported before (kept with --keep);
the edits of the k rows stay in it.

--batch N imports with `import --batch N` (0: one transaction, the
default of `import`, which holds every new block in memory; a binary
from before --batch needs 0).
--pw times a binary built elsewhere (a baseline); without it the script
builds this tree. The repo goes to a fresh folder under bench-out/bigwiki/
(removed at the end unless --keep). Nothing talks to any address but
127.0.0.1: every serve has --no-mdns (and --no-dht, when the build has
it), and peers only by the addresses the script gives.
"""
import argparse, json, os, random, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
from benchlib import du

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench-out", "bigwiki")

WORDS = ("replica peer sync merge page note wiki graph node edge hash commit revision "
         "history branch conflict offline online laptop phone server cache index query "
         "schema table column value record stream packet window buffer latency bandwidth "
         "storage disk memory thread worker queue event clock vector lamport causal order "
         "the a of to and in is for on with as by that this it from be are at or an "
         "meeting agenda project roadmap release design review decision action owner "
         "deadline budget customer feedback feature bug fix test build deploy rollback").split()


def page_text(seed, i):
    """Page i: a front-matter title (unique: it ends with i) and about 4 KB
    of Markdown (paragraphs, lists, a heading now and then)."""
    rng = random.Random("%d-%d" % (seed, i))
    title = " ".join(w.capitalize() for w in rng.choices(WORDS, k=rng.randint(2, 4))) + " %d" % i
    target = rng.randint(3500, 4500)
    out = ['---\ntitle: "%s"\n---\n# %s\n' % (title, title)]
    size = len(out[0])
    while size < target:
        k = rng.random()
        if k < 0.2:
            s = "\n## " + " ".join(rng.choices(WORDS, k=3)).capitalize() + "\n"
        elif k < 0.5:
            s = "\n" + "".join("- " + " ".join(rng.choices(WORDS, k=rng.randint(3, 9))) + "\n"
                               for _ in range(rng.randint(2, 5)))
        else:
            s = "\n" + " ".join(rng.choices(WORDS, k=rng.randint(30, 80))).capitalize() + ".\n"
        out.append(s)
        size += len(s)
    return "".join(out)


def pages_dir(pages, seed):
    """The cached folder of generated pages, written once."""
    d = os.path.join(OUT, "pages-%d-seed%d" % (pages, seed))
    done = os.path.join(d, ".complete")
    if os.path.exists(done):
        return d
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for i in range(pages):
        sub = os.path.join(d, "%03d" % (i // 1000))  # 1,000 files a folder
        if i % 1000 == 0:
            os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "p%06d.md" % i), "w") as f:
            f.write(page_text(seed, i))
    open(done, "w").close()
    return d


def revised_text(seed, i, round_, page_id):
    """Round round_ (1, 2, ...) of page i: the same title and text with a
    paragraph of its own added, naming its page by id for `import`."""
    text = page_text(seed, i)
    body = text.split("\n---\n", 1)[1]
    title = text.split("\n", 2)[1][len("title: "):]
    rng = random.Random("%d-%d-r%d" % (seed, i, round_))
    para = " ".join(rng.choices(WORDS, k=rng.randint(20, 40))).capitalize()
    return "---\nid: %s\ntitle: %s\n---\n%s\n%s (round %d).\n" % (page_id, title, body, para, round_)


def import_revisions(pw, repo, env, work, a):
    """Rounds 1 .. a.revisions-1: every page revised once a round, one
    `import` a round. Returns (seconds, peak MB) of each."""
    listing = subprocess.run([pw, "--repo", repo, "list", "--json"], env=env, check=True, capture_output=True, text=True).stdout
    ids = {}
    for p in json.loads(listing):
        ids[int(p["title"].rsplit(" ", 1)[1])] = p["id"]
    took = []
    for r in range(1, a.revisions):
        d = os.path.join(work, "round%d" % r)
        for i in range(a.pages):
            sub = os.path.join(d, "%03d" % (i // 1000))
            if i % 1000 == 0:
                os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "p%06d.md" % i), "w") as f:
                f.write(revised_text(a.seed, i, r, ids[i]))
        print("bench-bigwiki: importing round %d" % r, file=sys.stderr)
        batch = ["--batch", str(a.batch)] if a.batch > 0 else []
        took.append(run_measured([pw, "--repo", repo, "import", d] + batch, env))
        shutil.rmtree(d)
    return took


TIME = "/usr/bin/time"


def run_measured(cmd, env, stdout=subprocess.DEVNULL):
    """Runs cmd to its end: (seconds, peak resident MB).

    The peak is the command's own: a child forked from this script starts
    with the script's resident pages mapped, and Linux keeps that high-water
    mark across exec, so rusage of a direct child counted the script's own
    memory too (417 MB for a 41 MB `list --json` once the script held a
    parsed listing of 100,000 pages). GNU time forks the command from its
    own small process and reports that child's peak."""
    out = tempfile.NamedTemporaryFile(mode="r", suffix=".rss")
    wrapped = os.path.exists(TIME)
    full = [TIME, "-q", "-f", "%M", "-o", out.name] + cmd if wrapped else cmd
    t = time.perf_counter()
    p = subprocess.Popen(full, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        sys.exit("bench-bigwiki: %s failed (%d): %s" % (" ".join(cmd), p.returncode, err))
    if not wrapped:
        print("bench-bigwiki: no %s: memory figures include this script's own" % TIME, file=sys.stderr)
        return secs, ru.ru_maxrss / 1024.0
    kb = int(out.read().split()[-1])
    out.close()
    return secs, kb / 1024.0


def ui_start(pw, repo, work, expect):
    """Seconds from exec of `peerwiki tui --offline` to the first screen
    that shows expect, read with tmux capture-pane (polled: the figure is
    late by at most one poll, about 5 ms)."""
    if shutil.which("tmux") is None:
        return None
    ui_start.runs = getattr(ui_start, "runs", 0) + 1
    sock = "pwbench-%d-%d" % (os.getpid(), ui_start.runs)  # a server of its own each time
    stamp = os.path.join(work, "ui-start")
    shell = ("env NO_COLOR=1 TERM=xterm-256color EDITOR=false sh -c 'date +%%s.%%N > %s; exec %s --repo %s tui --offline'; sleep 600"
             % (stamp, pw, repo))
    tmux = ["tmux", "-L", sock]
    subprocess.run(tmux + ["new-session", "-d", "-x", "100", "-y", "30", shell], check=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", "0"], stdout=subprocess.PIPE, text=True).stdout
            if expect in screen:
                seen = time.time()
                with open(stamp) as f:
                    return seen - float(f.read())
            time.sleep(0.005)
        return None
    finally:
        socket = subprocess.run(tmux + ["display-message", "-p", "#{socket_path}"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True).stdout.strip()
        subprocess.run(tmux + ["kill-server"], stderr=subprocess.DEVNULL)
        if socket.endswith("/" + sock):
            try:
                os.remove(socket)
            except OSError:
                pass


# ------------------------------------------------------------------ sync

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Serve:
    """A `serve` of repo on 127.0.0.1, logging at debug level to log."""

    def __init__(self, pw, repo, env, log):
        args = [pw, "--repo", repo, "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"]
        helptext = subprocess.run([pw, "serve", "--help"], env=env, capture_output=True, text=True).stdout
        if "--no-dht" in helptext:
            args.append("--no-dht")
        self.log = log
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                                  env=dict(env, PEERWIKI_LOG="debug"))
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            sys.exit("bench-bigwiki: serve did not start: %r (see %s)" % (line, log))
        self.addr = line.split()[-1]

    def peak_mb(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def offset(self):
        return os.path.getsize(self.log)

    def settle(self, wait=120.0):
        """Waits (wait seconds at most) until the serve has used under 5%
        of a core for a whole second: what it does once after it starts on
        a freshly imported repo (the search index, the whole copies, the
        checkpoints of what they wrote) is then done. Returns the seconds
        waited."""
        tick = os.sysconf("SC_CLK_TCK")

        def cpu():
            with open("/proc/%d/stat" % self.p.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        t0 = time.perf_counter()
        last = cpu()
        while time.perf_counter() - t0 < wait:
            time.sleep(1.0)
            now = cpu()
            if now - last < 0.05:
                break
            last = now
        return time.perf_counter() - t0

    def lines(self, msg, since, want=1, wait=10.0):
        """The log's lines of msg after byte offset since, as dicts, once
        there are want of them (or wait seconds have passed)."""
        deadline = time.time() + wait
        while True:
            with open(self.log, errors="replace") as f:
                f.seek(since)
                text = f.read()
            got = [e for e in (dict((k, v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', l))
                               for l in text.splitlines()) if e.get("msg") == msg]
            if len(got) >= want or time.time() > deadline:
                return got
            time.sleep(0.05)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def payload(entry):
    """(bytes both ways, of which not blocks) of a "sync answered" line."""
    total = int(entry["bytes_in"]) + int(entry["bytes_out"])
    return total, total - int(entry["block_bytes_in"]) - int(entry["block_bytes_out"])


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit("bench-bigwiki: %s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr))
    return secs, r.stdout


def edit_pages(pw, repo, env, work, ids, k, round_):
    """Edits k of the pages (spread over the wiki) with one import."""
    d = os.path.join(work, "edits-%d-%d" % (k, round_))
    os.makedirs(d)
    step = max(1, len(ids) // k)
    for j in range(k):
        with open(os.path.join(d, "e%05d.md" % j), "w") as f:
            f.write("---\nid: %s\n---\n# Edited %d\n\nEdit %d of round %d (k=%d).\n" % (ids[j * step], j, j, round_, k))
    subprocess.run([pw, "--repo", repo, "import", d], env=env, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(d)


def git_origin(src, pages, seed, revisions=1):
    """The pages as a git history of one commit a file (and a commit a
    file for each later round), fast-imported once and cached
    (bench-out/bigwiki/git-PAGES-seedSEED[-rREVISIONS])."""
    d = os.path.join(OUT, "git-%d-seed%d%s" % (pages, seed, "" if revisions == 1 else "-r%d" % revisions))
    done = os.path.join(d, ".complete")
    if os.path.exists(done):
        return d
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "--bare", d], check=True)
    fi = subprocess.Popen(["git", "-C", d, "fast-import", "--quiet"], stdin=subprocess.PIPE)
    for i in range(pages):
        rel = "%03d/p%06d.md" % (i // 1000, i)
        data = open(os.path.join(src, rel), "rb").read()
        msg = b"page %d" % i
        out = [b"commit refs/heads/main\n", b"committer bench <bench@example.org> %d +0000\n" % (1700000000 + i),
               b"data %d\n" % len(msg), msg, b"\n"]
        out += [b"M 100644 inline pages/%s\n" % rel.encode(), b"data %d\n" % len(data), data, b"\n"]
        fi.stdin.write(b"".join(out))
    for r in range(1, revisions):
        for i in range(pages):
            rel = "%03d/p%06d.md" % (i // 1000, i)
            data = revised_text(seed, i, r, "-").encode()
            msg = b"page %d, round %d" % (i, r)
            out = [b"commit refs/heads/main\n", b"committer bench <bench@example.org> %d +0000\n" % (1700000000 + r * pages + i),
                   b"data %d\n" % len(msg), msg, b"\n"]
            out += [b"M 100644 inline pages/%s\n" % rel.encode(), b"data %d\n" % len(data), data, b"\n"]
            fi.stdin.write(b"".join(out))
    fi.stdin.close()
    if fi.wait() != 0:
        sys.exit("bench-bigwiki: git fast-import failed")
    subprocess.run(["git", "-C", d, "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    subprocess.run(["git", "-C", d, "gc", "-q"], check=True)
    open(done, "w").close()
    return d


def git_commit_edits(origin, k, round_):
    """k commits on the origin, one edited file each."""
    fi = subprocess.Popen(["git", "-C", origin, "fast-import", "--quiet"], stdin=subprocess.PIPE)
    out = []
    for j in range(k):
        msg = b"edit %d" % j
        data = b"Edit %d of round %d (k=%d).\n" % (j, round_, k)
        out += [b"commit refs/heads/main\n", b"committer bench <bench@example.org> %d +0000\n" % (1800000000 + j),
                b"data %d\n" % len(msg), msg, b"\n"]
        if j == 0:
            out.append(b"from refs/heads/main^0\n")
        out += [b"M 100644 inline edits/e%05d.md\n" % j, b"data %d\n" % len(data), data, b"\n"]
    fi.stdin.write(b"".join(out))
    fi.stdin.close()
    if fi.wait() != 0:
        sys.exit("bench-bigwiki: git fast-import of the edits failed")


def sync_bench(a, pw, repo, work, env, src):
    """The sync rows: replica B joins repo A (served), then no-op and
    k-revision syncs. Returns the table's rows."""
    rows = []
    median = statistics.median
    serve_a = Serve(pw, repo, env, os.path.join(work, "serve-a.log"))
    serve_b = None
    git = []
    try:
        # A wiki's serve has long kept its whole copies of the current
        # versions (what a shallow join is sent) when a member joins: wait
        # for its first pass (two minutes at most; builds before the
        # copies have none)...
        print("bench-bigwiki: waiting for the serve's whole copies", file=sys.stderr)
        t = time.perf_counter()
        if serve_a.lines("whole copies of current versions", 0, wait=120.0):
            print("bench-bigwiki: whole copies made in %.1f s" % (time.perf_counter() - t), file=sys.stderr)
        # ... and settled: a serve started on a freshly imported repo
        # indexes it for search, makes the copies and checkpoints what
        # they wrote, once; a join in the middle of that shares the cores
        # with it.
        print("bench-bigwiki: the serve settled after %.1f s more" % serve_a.settle(), file=sys.stderr)
        code = subprocess.run([pw, "--repo", repo, "invite", "--uses", "50"], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()
        shallow = None
        if a.shallow:
            # Readable: `join --shallow` ends when every page's current
            # version is here; `sync --unshallow` then fetches the rest.
            bs = os.path.join(work, "replica-shallow")
            print("bench-bigwiki: join --shallow", file=sys.stderr)
            sh_s, sh_mb = run_measured([pw, "--repo", bs, "join", code, "--name", "shallow", "--shallow", "--timeout", "1800s"], env)
            print("bench-bigwiki: sync --unshallow", file=sys.stderr)
            un_s, un_mb = run_measured([pw, "--repo", bs, "sync", "--unshallow", "--peer", serve_a.addr, "--no-mdns",
                                        "--timeout", "1800s"], env)
            shallow = (sh_s, sh_mb, un_s, un_mb)
            print("bench-bigwiki: join --shallow %.1f s, %.0f MB; sync --unshallow %.1f s, %.0f MB" % shallow, file=sys.stderr)
            shutil.rmtree(bs)
        b = os.path.join(work, "replica")
        print("bench-bigwiki: join", file=sys.stderr)
        join_s, join_mb = run_measured([pw, "--repo", b, "join", code, "--name", "clone", "--timeout", "1800s"], env)
        print("bench-bigwiki: join %.1f s, %.0f MB" % (join_s, join_mb), file=sys.stderr)
        peak_join = serve_a.peak_mb()
        ids = [p["id"] for p in json.loads(subprocess.run([pw, "--repo", repo, "list", "--json"], env=env, check=True,
                                                          capture_output=True, text=True).stdout)]
        one_shot = [pw, "--repo", b, "sync", "--peer", serve_a.addr]
        # The serve read its heads as keys at its first sync (the join's).
        timed(one_shot, env)
        built = [e for e in serve_a.lines("read the heads for reconciliation", 0) if e.get("whole") == "true"]
        build_ms = float(built[0]["ms"]) if built else None

        noop_t, noop_p = [], []
        for _ in range(a.sync_runs):
            off = serve_a.offset()
            secs, _ = timed(one_shot, env)
            ans = serve_a.lines("sync answered", off)
            noop_t.append(secs)
            noop_p.append(payload(ans[-1])[0] if ans else -1)
        print("bench-bigwiki: no-op one-shot %s s, %s B" % (["%.3f" % x for x in noop_t], noop_p), file=sys.stderr)

        ks = []
        for k in (1, 10, 1000):
            ts, ps, beyond, ins = [], [], [], []
            for r in range(a.sync_runs if k < 1000 else 1):
                edit_pages(pw, repo, env, work, ids, k, r)
                off = serve_a.offset()
                secs, out = timed(one_shot + ["--json"], env)
                got = json.loads(out)["peers"][0]["received"]
                if got != k:
                    sys.exit("bench-bigwiki: the replica received %d revisions, not %d" % (got, k))
                ans = serve_a.lines("sync answered", off)
                total, over = payload(ans[-1]) if ans else (-1, -1)
                ts.append(secs)
                ps.append(total)
                beyond.append(over)
                ins.append(float(ans[-1]["ms"]) if ans else float("nan"))
            ks.append((k, median(ts), median(ps), median(beyond), median(ins), len(ts)))
            print("bench-bigwiki: %d new: %s s, %s B, %s B beyond the blocks" % (k, ["%.3f" % x for x in ts], ps, beyond),
                  file=sys.stderr)

        # The replica's own serve keeps its key set: `sync` goes through it.
        serve_b = Serve(pw, b, env, os.path.join(work, "serve-b.log"))
        serve_b.lines("synced", 0, wait=60)  # its sync on connecting
        timed(one_shot, env)
        warm_t, warm_p, warm_in = [], [], []
        for _ in range(a.sync_runs):
            off, offb = serve_a.offset(), serve_b.offset()
            secs, _ = timed(one_shot, env)
            ans = serve_a.lines("sync answered", off)
            mine = serve_b.lines("synced", offb)
            warm_t.append(secs)
            warm_p.append(payload(ans[-1])[0] if ans else -1)
            warm_in.append(float(mine[-1]["ms"]) if mine else float("nan"))
        print("bench-bigwiki: no-op through the serve %s s, %s B, in the node %s ms"
              % (["%.3f" % x for x in warm_t], warm_p, warm_in), file=sys.stderr)
        peak_a, peak_b = serve_a.peak_mb(), serve_b.peak_mb()
    finally:
        serve_a.stop()
        if serve_b:
            serve_b.stop()

    if a.git and shutil.which("git"):
        print("bench-bigwiki: git", file=sys.stderr)
        origin = git_origin(src, a.pages, a.seed, a.revisions)
        # The edits go to a copy: the cached origin stays as built.
        gorigin = os.path.join(work, "git-origin")
        shutil.copytree(origin, gorigin)
        port = free_port()
        gd = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", "--port=%d" % port,
                               "--base-path=" + work, work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            url = "git://127.0.0.1:%d/git-origin" % port
            mirror = os.path.join(work, "git-mirror")
            clone_s, _ = timed(["git", "clone", "-q", "--mirror", url, mirror], env)
            fetch = ["git", "-C", mirror, "fetch", "-q"]
            git.append(("clone", clone_s))
            git.append(("noop", median([timed(fetch, env)[0] for _ in range(a.sync_runs)])))
            for k in (1, 10, 1000):
                ts = []
                for r in range(a.sync_runs if k < 1000 else 1):
                    git_commit_edits(gorigin, k, r)
                    ts.append(timed(fetch, env)[0])
                git.append((k, median(ts)))
        finally:
            gd.send_signal(signal.SIGTERM)
            gd.wait()
    g = dict(git)

    def gcol(key):
        return "%.3f s" % g[key] if key in g else ""

    rows.append(("fresh replica (`join` / `clone --mirror`)", "%.1f s, %.0f MB resident" % (join_s, join_mb),
                 "%.1f s" % g["clone"] if "clone" in g else ""))
    if shallow:
        rows.append(("readable: `join --shallow` (every page's current version)", "%.1f s, %.0f MB resident" % shallow[:2], ""))
        rows.append(("then its history: `sync --unshallow`", "%.1f s, %.0f MB resident" % shallow[2:], ""))
    rows.append(("no-op sync, one-shot `sync` (median of %d)" % a.sync_runs,
                 "%.3f s, %s B payload" % (median(noop_t), format(int(median(noop_p)), ",")), gcol("noop")))
    rows.append(("no-op sync through the replica's running serve (median of %d)" % a.sync_runs,
                 "%.3f s (%.1f ms in the node), %s B payload" % (median(warm_t), median(warm_in), format(int(median(warm_p)), ",")),
                 gcol("noop")))
    for k, t, p, over, ms, n in ks:
        rows.append(("sync after %d new revision%s on the other side, one-shot%s" % (k, "" if k == 1 else "s",
                                                                               " (median of %d)" % n if n > 1 else ""),
                     "%.3f s (%.0f ms answering), %s B payload, %s B beyond the revisions" % (t, ms, format(int(p), ","), format(int(over), ",")),
                     gcol(k)))
    rows.append(("serve's peak resident memory: the one that answered the join, when it had; at the end; the replica's",
                 "%.0f MB; %.0f MB; %.0f MB" % (peak_join, peak_a, peak_b), ""))
    if build_ms is not None:
        rows.append(("the serve reading its %s heads as reconciliation keys (once; then only what changed)"
                     % format(a.pages, ","), "%.0f ms" % build_ms, ""))
    return rows


def local(a, pw, repo, work, env, src):
    """The import, list and UI measures on a fresh repo."""
    subprocess.run([pw, "--repo", repo, "init", "--name", "bench"], env=env, check=True, stdout=subprocess.DEVNULL)
    print("bench-bigwiki: importing", file=sys.stderr)
    batch = ["--batch", str(a.batch)] if a.batch > 0 else []
    imp_s, imp_mb = run_measured([pw, "--repo", repo, "import", src] + batch, env)
    rounds = import_revisions(pw, repo, env, work, a) if a.revisions > 1 else []

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    js, jm, ts = [], [], []
    listing = os.path.join(work, "list.json")
    for _ in range(a.runs):
        with open(listing, "w") as f:
            s, mb = run_measured([pw, "--repo", repo, "list", "--json"], env, stdout=f)
        js.append(s)
        jm.append(mb)
        with open(os.path.join(work, "list.txt"), "w") as f:
            s, _ = run_measured([pw, "--repo", repo, "list"], env, stdout=f)
        ts.append(s)
    with open(listing) as f:
        got = json.load(f)
    if len(got) != a.pages:
        sys.exit("bench-bigwiki: list --json printed %d pages, not %d" % (len(got), a.pages))
    first = got[0]["title"]
    ui = [ui_start(pw, repo, work, first[:40]) for _ in range(a.runs)]
    ui = [u for u in ui if u is not None]
    size = du(repo)
    text = du(src)

    print("| %s pages, %s (about 4 KB) | figure |" % (format(a.pages, ","),
          "one revision each" if a.revisions == 1 else "%d revisions each" % a.revisions))
    print("|---|---|")
    print("| `import%s` of the files (one command) | %.1f s, %.0f MB resident |"
          % (" --batch %d" % a.batch if a.batch > 0 else "", imp_s, imp_mb))
    for r, (secs, mb) in enumerate(rounds, 1):
        print("| `import` of round %d (every page revised) | %.1f s, %.0f MB resident |" % (r, secs, mb))
    print("| `list --json` (median of %d) | %.2f s, %.0f MB resident |" % (a.runs, median(js), max(jm)))
    print("| `list` (median of %d) | %.2f s |" % (a.runs, median(ts)))
    print("| UI start, to the first screen with a title (median of %d) | %s |"
          % (a.runs, "%.0f ms" % (median(ui) * 1000) if ui else "not measured (no tmux)"))
    print("| repo size | %.0f MB (%.0f MB of text) |" % (size / 1e6, text / 1e6))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pw", help="a peerwiki binary to time (default: build this tree)")
    ap.add_argument("--batch", type=int, default=1000, help="import --batch N (0: one transaction)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each list and UI measure (the median is shown)")
    ap.add_argument("--keep", action="store_true", help="keep the repo")
    ap.add_argument("--repo", help="an imported repo of this wiki: skip the import and the local measures")
    ap.add_argument("--no-sync", dest="sync", action="store_false", help="skip the sync section")
    ap.add_argument("--no-git", dest="git", action="store_false", help="skip git in the sync section")
    ap.add_argument("--sync-runs", type=int, default=5, help="runs of each sync measure (the median is shown)")
    ap.add_argument("--revisions", type=int, default=1, help="revisions a page (every page revised once a round)")
    ap.add_argument("--no-shallow", dest="shallow", action="store_false", help="skip join --shallow")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    t = time.perf_counter()
    src = pages_dir(a.pages, a.seed)
    print("bench-bigwiki: pages in %s (%.0f s)" % (src, time.perf_counter() - t), file=sys.stderr)
    work = tempfile.mkdtemp(prefix="run.", dir=OUT)
    try:
        pw = a.pw
        if not pw:
            pw = os.path.join(work, "peerwiki")
            subprocess.run(["go", "build", "-o", pw, "."], cwd=ROOT, check=True)
        pw = os.path.abspath(pw)
        env = dict(os.environ, NO_COLOR="1", PEERWIKI_REPO="", PAGER="cat")
        if a.repo:
            repo = os.path.abspath(a.repo)
        else:
            repo = os.path.join(work, "repo")
            local(a, pw, repo, work, env, src)
        if a.sync:
            rows = sync_bench(a, pw, repo, work, env, src)
            print()
            print("| %s pages: sync | peerwiki | git |" % format(a.pages, ","))
            print("|---|---|---|")
            for r in rows:
                print("| %s | %s | %s |" % r)
    finally:
        if a.keep:
            print("bench-bigwiki: kept %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
