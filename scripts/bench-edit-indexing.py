#!/usr/bin/env python3
"""An edit next to a serve that is indexing a big import for search, and
optionally the same with an older build in turn (A/B).

A wiki of PAGES one-revision pages (bench-bigwiki.py's generated pages,
seeded, cached under bench-out/bigwiki/), imported once by this tree's
build with no node running, so that their search rows wait
(history.IndexPending); each round copies it, starts `serve` on the copy
(127.0.0.1, no mDNS, no DHT), which indexes them in the background as it
starts, and at once runs plain `edit`s of one page, one after another,
each timed as a whole process, until the serve logs that it indexed
them. Prints a Markdown table: the edits made while it indexed (median /
p90 / max) and how long the indexing took.

    scripts/bench-edit-indexing.py [--pages 20000] [--rounds 3] [--base REV]

Local only: 127.0.0.1.
"""
import argparse, importlib.util, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench-out", "edit-indexing")


def bigwiki():
    spec = importlib.util.spec_from_file_location("bigwiki", os.path.join(ROOT, "scripts", "bench-bigwiki.py"))
    m = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    spec.loader.exec_module(m)
    return m


def build(src, out):
    subprocess.run(["go", "build", "-o", out, "."], cwd=src, check=True)


def env_for(work):
    return dict(os.environ, NO_COLOR="1", PEERWIKI_REPO="", XDG_CONFIG_HOME=os.path.join(work, "cfg"), PEERWIKI_LOG="info")


def imported(pw, pages):
    """The imported repo, made once: its search rows still wait."""
    repo = os.path.join(OUT, "imported-%d" % pages)
    if os.path.exists(os.path.join(repo, ".complete")):
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    env = env_for(OUT)
    src = bigwiki().pages_dir(pages, 42)
    subprocess.run([pw, "--repo", repo, "init", "--name", "bench"], check=True, env=env, capture_output=True)
    subprocess.run([pw, "--repo", repo, "new", "Bench", "--body", "the page edited"], check=True, env=env, capture_output=True)
    t = time.perf_counter()
    subprocess.run([pw, "--repo", repo, "import", src], check=True, env=env, capture_output=True)
    print("imported %d pages in %.1f s" % (pages, time.perf_counter() - t), file=sys.stderr)
    open(os.path.join(repo, ".complete"), "w").close()
    return repo


def one_round(pw, base_repo, work):
    repo = os.path.join(work, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(base_repo, repo)
    env = env_for(work)
    log_path = os.path.join(work, "serve.log")
    with open(log_path, "w") as log:
        serve = subprocess.Popen([pw, "--repo", repo, "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht"],
                                 stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        line = serve.stdout.readline()
        if not line.startswith("listening on "):
            sys.exit("serve did not start: %r" % line)
        started = time.perf_counter()
        times = []
        for i in range(2000):  # bounded; the indexing ends long before
            if "indexed pages for search" in open(log_path).read():
                break
            t = time.perf_counter()
            subprocess.run([pw, "--repo", repo, "edit", "Bench", "--body", "edit %d" % i], check=True, env=env, capture_output=True)
            times.append((time.perf_counter() - t) * 1000)
        indexing = time.perf_counter() - started
    finally:
        serve.send_signal(2)
        try:
            serve.wait(10)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    return times, indexing


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description="An edit next to a serve indexing a big import.")
    ap.add_argument("--pages", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--base", help="a git revision to run in turn with this tree")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    builds = [("this tree", os.path.join(OUT, "peerwiki"))]
    build(ROOT, builds[0][1])
    tree = None
    if a.base:
        tree = tempfile.mkdtemp(prefix="pw-base-")
        subprocess.run(["git", "worktree", "add", "--detach", tree, a.base], cwd=ROOT, check=True, capture_output=True)
        builds.append((a.base, os.path.join(OUT, "peerwiki-base")))
        build(tree, builds[1][1])
    try:
        base_repo = imported(builds[0][1], a.pages)
        results = {name: ([], []) for name, _ in builds}
        for r in range(a.rounds):
            for name, pw in builds:
                work = tempfile.mkdtemp(prefix="pw-ei-")
                try:
                    times, indexing = one_round(pw, base_repo, work)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                results[name][0].extend(times)
                results[name][1].append(indexing)
                print("round %d, %s: %d edits while it indexed (%.1f s)" % (r + 1, name, len(times), indexing), file=sys.stderr)
        print("| build | edits while the serve indexed %d pages: median / p90 / max | indexing (median of rounds) |" % a.pages)
        print("|---|---|---|")
        for name, _ in builds:
            ts, ix = results[name]
            if ts:
                print("| %s | %.1f / %.1f / %.1f ms (%d edits) | %.1f s |" % (name, statistics.median(ts), pct(ts, 0.9), max(ts), len(ts), statistics.median(ix)))
    finally:
        if tree:
            subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)


if __name__ == "__main__":
    main()
