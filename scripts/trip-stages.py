#!/usr/bin/env python3
"""An edit's trip to a running replica (issue 14), stage by stage, from
the debug logs (PEERWIKI_LOG=debug) of the serve next to the `edit`
process (the origin) and of the replica's serve:

    scripts/trip-stages.py ORIGIN.log REPLICA.log [--slowest N]

e.g. after `SECTIONS=b REPLICAS=3 scripts/bench-sync.sh`, the pair's logs
bench-out/sync/work/mesh00-of-2.log and mesh01-of-2.log. Prints a
Markdown table of each stage's median / p90 / p99 / max in microseconds,
and the N slowest trips (default 8) with their stages:

    notice     the edit's commit to the origin having its notice
    publish    the notice to the announcement published (GossipSub's
               signature, the event loop)
    network    published to the replica's validator starting (GossipSub,
               yamux, noise, TCP on both sides, the two event loops)
    validate   the replica's validator (the store's checks: hashes,
               decoding, the author's signature)
    queue      validated to the gossip worker taking it
    look       the worker's "is it here" query
    write      the store's write transaction, to its commit
    observe    the member list's look at what was stored
    trip       the commit to stored

Local files only.
"""
import argparse
import re
import signal
import statistics
import sys

STAGES = ["notice", "publish", "network", "validate", "queue", "look", "write", "observe", "trip"]


def fields(line):
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))


def origin_events(path):
    """The origin's edits: (rev, commit, notice heard, published), µs."""
    out, notices, pending = [], [], None
    for line in open(path, errors="replace"):
        if 'msg="commit notice"' in line:
            f = fields(line)
            notices.append((int(f["committed_us"]), int(f["us"])))
        elif 'msg="local commit"' in line:
            f = fields(line)
            at = int(f["us"])
            # The notice that announced it: the latest before it, at most
            # 50 ms before (a commit the watcher found has none).
            heard = [n for n in notices if n[1] <= at and at - n[1] < 50_000]
            pending = (f["last"], heard[-1] if heard else None)
        elif "msg=published" in line and pending:
            rev, notice = pending
            pending = None
            if notice:
                out.append((rev, notice[0], notice[1], int(fields(line)["us"])))
    return out


def replica_events(path):
    out = {}
    for line in open(path, errors="replace"):
        if 'msg="stored from gossip"' in line and "validating_us=" in line:
            f = fields(line)
            out[f["last"]] = f
        elif "msg=stored " in line and "committed_us=" in line:
            f = fields(line)
            out.setdefault("stored:" + f["last"], (int(f["committed_us"]), int(f["us"])))
    return out


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends it quietly
    ap = argparse.ArgumentParser(description="An edit's trip to a replica, stage by stage, from two serves' debug logs.")
    ap.add_argument("origin")
    ap.add_argument("replica")
    ap.add_argument("--slowest", type=int, default=8)
    a = ap.parse_args()
    try:
        rep = replica_events(a.replica)
        edits = origin_events(a.origin)
    except OSError as e:
        sys.exit("trip-stages: %s" % e)
    trips = []
    for rev, committed, heard, published in edits:
        g, stored = rep.get(rev), rep.get("stored:" + rev)
        if not g or stored is None:
            continue
        v0, v1 = int(g["validating_us"]), int(g["validated_us"])
        taken, looked = int(g["taken_us"]), int(g["looked_us"])
        trips.append({"rev": rev, "notice": heard - committed, "publish": published - heard, "network": v0 - published,
                      "validate": v1 - v0, "queue": taken - v1, "look": looked - taken, "write": stored[0] - looked,
                      "observe": stored[1] - stored[0], "trip": stored[1] - committed})
    if not trips:
        sys.exit("trip-stages: no edit found in both logs (are they debug logs of this build's serves?)")
    trips = trips[1:] if len(trips) > 1 else trips  # the first is a warm-up
    print("%d edits (the first left out as a warm-up), µs:\n" % len(trips))
    print("| stage | median | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    for s in STAGES:
        xs = [t[s] for t in trips]
        print("| %s | %d | %d | %d | %d |" % (s, statistics.median(xs), pct(xs, 0.9), pct(xs, 0.99), max(xs)))
    print("\nThe slowest %d:\n" % a.slowest)
    print("| " + " | ".join(STAGES) + " | revision |")
    print("|" + "---:|" * len(STAGES) + "---|")
    for t in sorted(trips, key=lambda t: t["trip"])[-a.slowest:]:
        print("| " + " | ".join(str(t[s]) for s in STAGES) + " | %s |" % t["rev"][-8:])


if __name__ == "__main__":
    main()
