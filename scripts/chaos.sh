#!/usr/bin/env bash
# chaos.sh — the seeded chaos harness run long: N replicas as real
# `peerwiki serve` processes on 127.0.0.1, a random workload on all of them,
# nodes killed and restarted, then convergence checks (same revisions and
# heads, nothing reported missing, identical pages and conflicts, no
# automatic merge made twice, fsck clean).
#
#   scripts/chaos.sh [--seeds N] [--seed S] [--replicas R] [--ops K]
#
# Seeds are 1..N (default 20); a failure names its seed and prints the
# schedule, and --seed S replays it exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
export PEERWIKI_CHAOS_SEEDS=20
while [ $# -gt 0 ]; do
	case "$1" in
	--seeds) export PEERWIKI_CHAOS_SEEDS=$2; shift 2 ;;
	--seed) export PEERWIKI_CHAOS_SEED=$2; shift 2 ;;
	--replicas) export PEERWIKI_CHAOS_REPLICAS=$2; shift 2 ;;
	--ops) export PEERWIKI_CHAOS_OPS=$2; shift 2 ;;
	*) echo "chaos.sh: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
	esac
done
exec go test ./test -run 'TestChaos$' -count=1 -v -timeout 4h
