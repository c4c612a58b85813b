#!/usr/bin/env bash
# crash.sh — the crash-safety tests run long: kill -9 of `new`, `edit` and
# `import` at random moments, and of `sync` at random points of a transfer
# (a quarter as many rounds); fsck after every kill, every commit that
# reported success present at the end, and a receiver that never loses what
# it had stored and completes at the next sync.
#
#   scripts/crash.sh [ITERATIONS] [SEED]     (defaults: 500, a fresh seed)
#
# The seed is printed; pass it back to replay a run exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do
	[[ $a =~ ^[0-9]+$ ]] || { echo "crash.sh: $a is not a number (usage: scripts/crash.sh [ITERATIONS] [SEED])" >&2; exit 2; }
done
export PEERWIKI_CRASH_ITERS=${1:-500}
[ -n "${2:-}" ] && export PEERWIKI_CRASH_SEED=$2
exec go test ./test -run 'TestCrashSafetyOf(LocalCommits|Syncs)$' -count=1 -v -timeout 60m
