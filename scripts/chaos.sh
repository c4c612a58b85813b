#!/usr/bin/env bash
# chaos.sh — the seeded chaos harness run long: N replicas as real
# `peerwiki serve` processes on 127.0.0.1, a random workload on all of them,
# nodes killed and restarted, then convergence checks (same revisions and
# heads, nothing reported missing, identical pages and conflicts, no
# automatic merge made twice, fsck clean).
#
#   scripts/chaos.sh [--seeds N] [--seed S] [--replicas R] [--ops K] [--logs DIR]
#
# Seeds are 1..N (default 20); defaults are 5 replicas and 60 operations.
# A failure names its seed and prints the schedule, and --seed S replays the
# same operations on the same replicas with the same faults at the same
# steps (a head picked at random is picked among those the replica holds
# then, which replication timing decides). A seed that does not
# converge leaves every node's log and repo under DIR/seedN (default
# bench-out/chaos-logs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PEERWIKI_CHAOS_SEEDS=20
export PEERWIKI_CHAOS_LOGS=$PWD/bench-out/chaos-logs
number() { [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "$(basename "$0"): $1 needs a number, not '${2:-}'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seeds) number "$1" "${2:-}"; export PEERWIKI_CHAOS_SEEDS=$2; shift 2 ;;
	--seed) number "$1" "${2:-}"; export PEERWIKI_CHAOS_SEED=$2; shift 2 ;;
	--replicas) number "$1" "${2:-}"; export PEERWIKI_CHAOS_REPLICAS=$2; shift 2 ;;
	--ops) number "$1" "${2:-}"; export PEERWIKI_CHAOS_OPS=$2; shift 2 ;;
	--logs) export PEERWIKI_CHAOS_LOGS=$(realpath -m "$2"); shift 2 ;;
	*) echo "chaos.sh: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
	esac
done
exec go test ./test -run 'TestChaos$' -count=1 -v -timeout 4h
