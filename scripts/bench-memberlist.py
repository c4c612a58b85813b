#!/usr/bin/env python3
"""Cost of a long member list to every command (issue 17's hardening).

An admin adds N members (N membership operations; a rogue admin could
write many more), then `list` is timed on a 3-page wiki: with the member
list's snapshot (members.snap, what every command reads) and with the
snapshot deleted before each run (each `list` replays every operation, as
every command did before the snapshot). Local only: no network.

    scripts/bench-memberlist.py [--members 2000] [--runs 7]
"""
import argparse, hashlib, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + out


def peer_id(i):
    # An Ed25519 peer id: the identity multihash of the protobuf-encoded key.
    key = hashlib.sha256(b"bench-memberlist %d" % i).digest()
    return b58(bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + key)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pw-memberlist-")
    pw = os.path.join(work, "peerwiki")
    subprocess.run(["go", "build", "-o", pw, "."], cwd=ROOT, check=True)
    repo = os.path.join(work, "repo")
    env = dict(os.environ, NO_COLOR="1", PEERWIKI_REPO="")

    def run(*args):
        subprocess.run([pw, "--repo", repo] + list(args), check=True, stdout=subprocess.DEVNULL, env=env)

    def timed(before=None):
        ts = []
        for _ in range(a.runs):
            if before:
                before()
            t = time.perf_counter()
            run("list")
            ts.append((time.perf_counter() - t) * 1000)
        return statistics.median(ts)

    snap = os.path.join(repo, "members.snap")
    drop = lambda: os.path.exists(snap) and os.remove(snap)
    try:
        run("init", "--name", "ada")
        for i in range(3):
            run("new", "page %d" % i, "--body", "text %d" % i)
        base = timed()
        t = time.perf_counter()
        for i in range(a.members):
            run("member", "add", peer_id(i), "--name", "m%d" % i)
        add = (time.perf_counter() - t) * 1000 / a.members
        with_snap = timed()
        replay = timed(drop)
        print("| measure (median of %d) | ms |" % a.runs)
        print("|---|---:|")
        print("| `list`, 1 member | %.0f |" % base)
        print("| `member add`, on average over the %d | %.0f |" % (a.members, add))
        print("| `list`, %d members, reading the snapshot | %.0f |" % (a.members + 1, with_snap))
        print("| `list`, %d members, replaying every operation (snapshot deleted) | %.0f |" % (a.members + 1, replay))
        print("| snapshot size | %d KB |" % (os.path.getsize(snap) // 1024))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
