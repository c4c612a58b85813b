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

and prints a Markdown table. Usage:

    scripts/bench-bigwiki.py [--pages 100000] [--seed 42] [--pw BINARY]
                             [--batch 1000] [--runs 3] [--keep]

--batch N imports with `import --batch N` (0: one transaction, the
default of `import`, which holds every new block in memory; a binary
from before --batch needs 0).
--pw times a binary built elsewhere (a baseline); without it the script
builds this tree. The repo goes to a fresh folder under bench-out/bigwiki/
(removed at the end unless --keep). Nothing talks to the network.
"""
import argparse, json, os, random, shutil, subprocess, sys, tempfile, time

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


def run_measured(cmd, env, stdout=subprocess.DEVNULL):
    """Runs cmd to its end: (seconds, peak resident MB)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        sys.exit("bench-bigwiki: %s failed (%d): %s" % (" ".join(cmd), p.returncode, err))
    return secs, ru.ru_maxrss / 1024.0


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


def du(path):
    total = 0
    for dp, _, fs in os.walk(path):
        for f in fs:
            total += os.path.getsize(os.path.join(dp, f))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pw", help="a peerwiki binary to time (default: build this tree)")
    ap.add_argument("--batch", type=int, default=1000, help="import --batch N (0: one transaction)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each list and UI measure (the median is shown)")
    ap.add_argument("--keep", action="store_true", help="keep the repo")
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
        repo = os.path.join(work, "repo")
        env = dict(os.environ, NO_COLOR="1", PEERWIKI_REPO="", PAGER="cat")
        subprocess.run([pw, "--repo", repo, "init", "--name", "bench"], env=env, check=True, stdout=subprocess.DEVNULL)
        print("bench-bigwiki: importing", file=sys.stderr)
        batch = ["--batch", str(a.batch)] if a.batch > 0 else []
        imp_s, imp_mb = run_measured([pw, "--repo", repo, "import", src] + batch, env)

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

        print("| %s pages, one revision each (about 4 KB) | figure |" % format(a.pages, ","))
        print("|---|---|")
        print("| `import%s` of the files (one command) | %.1f s, %.0f MB resident |"
              % (" --batch %d" % a.batch if a.batch > 0 else "", imp_s, imp_mb))
        print("| `list --json` (median of %d) | %.2f s, %.0f MB resident |" % (a.runs, median(js), max(jm)))
        print("| `list` (median of %d) | %.2f s |" % (a.runs, median(ts)))
        print("| UI start, to the first screen with a title (median of %d) | %s |"
              % (a.runs, "%.0f ms" % (median(ui) * 1000) if ui else "not measured (no tmux)"))
        print("| repo size | %.0f MB (%.0f MB of text) |" % (size / 1e6, text / 1e6))
    finally:
        if a.keep:
            print("bench-bigwiki: kept %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
