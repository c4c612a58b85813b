#!/usr/bin/env bash
# bench-nat.sh — issue 18's targets measured on the NAT rig (scripts/nat-rig.sh:
# homes behind real kernel NAT in network namespaces, `peerwiki relay` on the
# only public host as DHT bootstrap node and relay):
#   (a) two members behind different MASQUERADE NATs, Bob given only Ada's
#       invite: time from `join CODE` to his first sync complete (p95 over
#       --rounds fresh starts), and how many end hole-punched or direct;
#   (b) behind MASQUERADE --random-fully NATs: a 10 MB history (gen.py,
#       --pages 330 --revs 10 --seed 42) synced through the relay, and the
#       latency of --edits edits going back and forth over it;
#   (c) a member whose home network changes (his link moved to another
#       router, given a fresh address first, or his router renumbered) is
#       found again: time from the change until a page Ada wrote just after
#       it is stored at Bob and Ada's node holds a connection to Bob made
#       after it (not the old one, which lingers until a probe closes it).
# Ada's wiki in (a) and (c) is gen.py --pages 100 --revs 10 --seed 42.
# Members are arranged as users arrange them: Ada runs `serve --relay
# RELAY-TCP-ADDR --public-net 10.213.0.0/24`; Bob runs only `join CODE` and
# `serve --public-net 10.213.0.0/24` (default listen, relays from the code,
# no user configuration).
#
#   scripts/bench-nat.sh [--sections abc] [--rounds 20] [--edits 20] [--moves 5]
#
# Prints a Markdown table, also written to bench-out/nat/table.md with the
# date and the machine's load before and after; the test's log goes to
# bench-out/nat/log.txt. Needs root, iproute2, iptables and python3; talks
# only to addresses inside the namespaces it makes (10.213.0.0/16) and
# removes them, also after a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
prog=$(basename "$0")
number() { [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "$prog: $1 needs a number, not '${2:-}'" >&2; exit 2; }; }
export PEERWIKI_NAT_SECTIONS=abc
while [ $# -gt 0 ]; do
	case "$1" in
	--sections) [[ ${2:-} =~ ^[abc]+$ ]] || { echo "$prog: --sections takes letters among abc" >&2; exit 2; }
		PEERWIKI_NAT_SECTIONS=$2; shift 2 ;;
	--rounds) number "$1" "${2:-}"; export PEERWIKI_NAT_ROUNDS=$2; shift 2 ;;
	--edits) number "$1" "${2:-}"; export PEERWIKI_NAT_EDITS=$2; shift 2 ;;
	--moves) number "$1" "${2:-}"; export PEERWIKI_NAT_MOVES=$2; shift 2 ;;
	*) echo "$prog: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "$prog: needs root (network namespaces)" >&2; exit 1; }
for tool in ip iptables python3 go; do
	command -v "$tool" >/dev/null || { echo "$prog: $tool is missing" >&2; exit 1; }
done
SHARED=${PEERWIKI_SHARED:-$PWD/../shared}
OUT=$PWD/bench-out/nat
mkdir -p "$OUT"
gen() { # gen PAGES REVS: a gen.py history, cached between runs
	local dir="$OUT/gen-$1-$2"
	[ -f "$dir/index.tsv" ] || python3 "$SHARED/bench/gen.py" history --pages "$1" --revs "$2" --seed 42 --out "$dir" >/dev/null
	echo "$dir"
}
export PEERWIKI_NAT_BENCH=1 PEERWIKI_NAT_OUT=$OUT/results.md
export PEERWIKI_NAT_GEN_SMALL=$(gen 100 10) PEERWIKI_NAT_GEN_10MB=$(gen 330 10)
before="$(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
rm -f "$PEERWIKI_NAT_OUT"
status=0
go test ./test -run '^TestNATBench$' -count=1 -v -timeout 120m >"$OUT/log.txt" 2>&1 || status=$?
after="$(date -u '+%H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)"
{
	echo "Run $before; ended $after; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
	echo
	[ -f "$PEERWIKI_NAT_OUT" ] && cat "$PEERWIKI_NAT_OUT"
	[ $status = 0 ] || echo "The benchmark test failed (exit $status); see $OUT/log.txt."
} >"$OUT/table.md"
cat "$OUT/table.md"
exit $status
