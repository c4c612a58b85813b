#!/usr/bin/env python3
"""An edit's trip to a running replica (issue 14), and what it costs the
two nodes, optionally against an older build in turn (A/B).

Two serves on 127.0.0.1 (Ada, who edits through the CLI next to her serve,
and Bob, who joined her), a small wiki; EDITS edits GAP seconds apart.
For each edit: the time from the `edit` process's commit (its notice to
Ada's serve carries it) to Bob's serve having stored it (both serves log
with microsecond stamps: PEERWIKI_LOG=debug). For each serve: CPU time
(utime+stime from /proc) spent during the edits, less what it spends
idle, per edit.

    scripts/bench-edit-path.py [--base REV] [--rounds 3] [--edits 50] [--gap 0.2]

With --base, the build of REV (a git worktree of this repository, made
and removed here) runs each round too, in turn with this tree's build.
Local only: 127.0.0.1.
"""
import argparse, bisect, os, re, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def build(src, out):
    subprocess.run(["go", "build", "-o", out, "."], cwd=src, check=True)


def ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def one_round(pw, work, edits, gap):
    env = dict(os.environ, NO_COLOR="1", PEERWIKI_REPO="", XDG_CONFIG_HOME=os.path.join(work, "cfg"), PEERWIKI_LOG="debug")
    a, b = os.path.join(work, "a"), os.path.join(work, "b")

    def run(repo, *args, out=False):
        r = subprocess.run([pw, "--repo", repo] + list(args), check=True, capture_output=True, text=True, env=env)
        return r.stdout

    def serve(repo, log, *extra):
        p = subprocess.Popen([pw, "--repo", repo, "serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"] + list(extra),
                             stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env)
        line = p.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit("serve did not start: %r" % line)
        return p, line.split()[-1]

    run(a, "init", "--name", "ada")
    for i in range(edits):
        run(a, "new", "page %d" % i, "--body", "body of page %d\n" % i)
    pa, addr = serve(a, os.path.join(work, "a.log"))
    procs = [pa]
    try:
        code = re.search(r"peerwiki\d:\S+", run(a, "invite")).group(0)
        run(b, "join", code, "--name", "bob")
        pb, _ = serve(b, os.path.join(work, "b.log"), "--peer", addr)
        procs.append(pb)
        time.sleep(3)
        t0 = (ticks(pa.pid), ticks(pb.pid))
        time.sleep(5)
        t1 = (ticks(pa.pid), ticks(pb.pid))
        start = time.time()
        for i in range(edits):
            run(a, "edit", "page %d" % i, "--body", "edit %d of page %d, a line or two longer than before\n" % (i, i))
            time.sleep(gap)
        time.sleep(1)
        span = time.time() - start
        t2 = (ticks(pa.pid), ticks(pb.pid))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    idle = [(t1[i] - t0[i]) / 5.0 for i in range(2)]  # ticks a second
    cpu = [((t2[i] - t1[i]) - idle[i] * span) * 1000.0 / TICK / edits for i in range(2)]
    us = lambda l: int(re.search(r" us=(\d+)", l).group(1))
    alog = open(os.path.join(work, "a.log")).read().splitlines()
    blog = open(os.path.join(work, "b.log")).read().splitlines()
    notices = sorted(int(re.search(r"committed_us=(\d+)", l).group(1)) for l in alog if "commit notice" in l)
    local = {re.search(r"last=(\S+)", l).group(1): us(l) for l in alog if 'msg="local commit"' in l}
    stored = {re.search(r"last=(\S+)", l).group(1): us(l) for l in blog if "msg=stored" in l}
    lat = []
    for c, t in local.items():
        i = bisect.bisect_right(notices, t) - 1
        if c in stored and i >= 0 and t - notices[i] < 50000:
            lat.append((stored[c] - notices[i]) / 1000.0)
    return lat, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--gap", type=float, default=0.2)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pw-editpath-")
    builds = {"this tree": os.path.join(work, "pw-new")}
    wt = None
    try:
        build(ROOT, builds["this tree"])
        if a.base:
            wt = os.path.join(work, "base")
            subprocess.run(["git", "worktree", "add", "-q", "--detach", wt, a.base], cwd=ROOT, check=True)
            builds[a.base] = os.path.join(work, "pw-base")
            build(wt, builds[a.base])
        res = {k: ([], [], []) for k in builds}
        for r in range(a.rounds):
            for name, pw in builds.items():
                d = tempfile.mkdtemp(dir=work)
                lat, cpu = one_round(pw, d, a.edits, a.gap)
                res[name][0].extend(lat)
                res[name][1].append(cpu[0])
                res[name][2].append(cpu[1])
                shutil.rmtree(d, ignore_errors=True)
                print("round %d, %s: %d edits timed" % (r + 1, name, len(lat)), file=sys.stderr)
        print("| build | edits | commit to stored: median / p90 / p99 | CPU an edit: origin serve / receiving serve (median of rounds) |")
        print("|---|---:|---|---|")
        for name, (lat, ca, cb) in res.items():
            lat.sort()
            q = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]
            print("| %s | %d | %.1f / %.1f / %.1f ms | %.1f / %.1f ms |" % (
                name, len(lat), statistics.median(lat), q(0.9), q(0.99), statistics.median(ca), statistics.median(cb)))
    finally:
        if wt:
            subprocess.run(["git", "worktree", "remove", "--force", wt], cwd=ROOT)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
