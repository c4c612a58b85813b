#!/usr/bin/env python3
"""Local-core benchmark: the synthetic history (1,000 pages x 10 revisions,
seed 42, from shared/bench/gen.py) imported into peerwiki, next to the same
history in git, measured side by side in one run.

Reports: import time, `peerwiki edit` as a whole process vs `git commit` of
one file, repo size on disk vs git after `git gc`, and show/list/log/search
latency. Usage:

    scripts/bench-local.py [--pages 1000] [--revs 10] [--runs 30] [--keep DIR]

Needs python3, git and Go. PEERWIKI_SHARED points at the shared folder if it
is not ../shared beside the repo.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from benchlib import du

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("PEERWIKI_SHARED", os.path.join(ROOT, "..", "shared"))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def timed(cmd, runs, setup=None, **kw):
    """Median and p90 wall time (ms) of a whole process over runs."""
    ts = []
    for i in range(runs):
        if setup:
            setup(i)
        t = time.perf_counter()
        subprocess.run(cmd(i) if callable(cmd) else cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
        ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, int(len(ts) * 0.9))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--revs", type=int, default=10)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--keep")
    a = ap.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="peerwiki-bench-")
    os.makedirs(work, exist_ok=True)
    hist = os.path.join(work, "history")
    if not os.path.exists(os.path.join(hist, "index.tsv")):
        run([sys.executable, os.path.join(SHARED, "bench", "gen.py"), "history", "--pages", str(a.pages),
             "--revs", str(a.revs), "--seed", "42", "--out", hist])
    pw = os.path.join(work, "peerwiki")
    run(["go", "build", "-o", pw, "."], cwd=ROOT)
    repo = os.path.join(work, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    env = dict(os.environ, PEERWIKI_REPO=repo, NO_COLOR="1")
    run([pw, "init", "--name", "bench"], env=env)

    # Import round by round: round r holds every page's r-th revision.
    rounds = {}
    for line in open(os.path.join(hist, "index.tsv")):
        seq, page, rev, epoch, tc, rel = line.rstrip("\n").split("\t")
        rounds.setdefault(int(rev), []).append((page, rel))
    ids, revs, bodies = {}, {}, {}
    import_ms = 0.0
    for r in sorted(rounds):
        d = os.path.join(work, "round-%02d" % r)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for page, rel in rounds[r]:
            body = open(os.path.join(hist, rel), encoding="utf-8").read()
            bodies[page] = body
            title = body.split("\n", 1)[0].lstrip("# ").strip()
            fm = "---\ntitle: %s\n" % json.dumps(title)
            if page in ids:
                fm += "id: %s\nrev: %s\n" % (ids[page], revs[page])
            with open(os.path.join(d, page + ".md"), "w", encoding="utf-8") as f:
                f.write(fm + "---\n" + body)
        t = time.perf_counter()
        out = run([pw, "import", d, "--json"], env=env).stdout
        import_ms += (time.perf_counter() - t) * 1000
        for f in json.loads(out)["files"]:
            page = f["file"][:-3]
            ids.setdefault(page, f["page"])
            revs[page] = f["rev"]
        shutil.rmtree(d)
    st = json.loads(run([pw, "status", "--json"], env=env).stdout)

    # The same history in git.
    gitdir = os.path.join(work, "git")
    shutil.rmtree(gitdir, ignore_errors=True)
    run(["git", "init", "-q", gitdir])
    with open(os.path.join(hist, "git.fi"), "rb") as fi:
        subprocess.run(["git", "fast-import", "--quiet"], cwd=gitdir, stdin=fi, check=True)
    run(["git", "checkout", "-q", "main"], cwd=gitdir)
    run(["git", "gc", "-q"], cwd=gitdir)
    git_size = du(os.path.join(gitdir, ".git"))
    run(["git", "config", "user.name", "Bench"], cwd=gitdir)
    run(["git", "config", "user.email", "bench@localhost"], cwd=gitdir)

    # One-revision edit as a whole process, vs git commit of one file: the
    # same small change on both sides, a line appended to a page.
    some = sorted(ids)[: a.runs]
    # Alternate the two, one of each per round, so that drift in the
    # machine's state (other load, caches, clock) falls on both alike.
    edit_ts, git_ts = [], []
    for i in range(a.runs):
        page = some[i % len(some)]
        bodies[page] += "edit %d\n" % i
        edit_ts.append(timed([pw, "edit", ids[page], "--body", bodies[page], "-m", "bench"], 1, env=env)[0])
        p = os.path.join(gitdir, "pages", "%s.md" % page)
        with open(p, "a") as f:
            f.write("edit %d\n" % i)
        subprocess.run(["git", "add", p], cwd=gitdir, check=True)
        git_ts.append(timed(["git", "commit", "-q", "-m", "bench"], 1, cwd=gitdir)[0])

    def median_p90(ts):
        ts = sorted(ts)
        return statistics.median(ts), ts[min(len(ts) - 1, int(len(ts) * 0.9))]

    edit, gitc = median_p90(edit_ts), median_p90(git_ts)
    # Size after the edits too: there is no compaction step to run.
    pw_size = du(repo)
    some_title = json.loads(run([pw, "show", ids[some[-1]], "--json"], env=env).stdout)["id"]
    lat = {
        "show": timed([pw, "show", some_title], a.runs, env=env),
        "list": timed([pw, "list"], a.runs, env=env),
        "list --json": timed([pw, "list", "--json"], a.runs, env=env),
        "log": timed([pw, "log", some_title], a.runs, env=env),
        "search": timed([pw, "search", "latency", "bandwidth"], a.runs, env=env),
        "status": timed([pw, "status"], a.runs, env=env),
    }
    fsck_ms = timed([pw, "fsck"], 1, env=env)[0]

    print("## Local core (%d pages x %d revisions, seed 42; %s)" % (a.pages, a.revs, time.strftime("%Y-%m-%d")))
    print()
    print("| measure | peerwiki | anchor |")
    print("|---|---|---|")
    print("| import the history (%d revisions, %d `import` runs) | %.0f ms | |" % (st["revisions"], len(rounds), import_ms))
    print("| one-revision `edit`, whole process (median / p90) | %.1f / %.1f ms | `git commit` of one file: %.1f / %.1f ms |" % (edit + gitc))
    print("| repo size on disk | %.1f MB | git after `git gc`: %.1f MB |" % (pw_size / 1e6, git_size / 1e6))
    for k, v in lat.items():
        print("| `%s` (median / p90) | %.1f / %.1f ms | |" % ((k,) + v))
    print("| `fsck` of the whole repo | %.0f ms | |" % fsck_ms)
    if not a.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
