#!/usr/bin/env bash
# crash.sh — the crash-safety test of local commits, run long: kill -9 of
# `new`, `edit` and `import` at random moments, fsck after every kill, and
# every commit that reported success must be present at the end.
#
#   scripts/crash.sh [ITERATIONS] [SEED]     (defaults: 500, a fresh seed)
#
# The seed is printed; pass it back to replay a run exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
export PEERWIKI_CRASH_ITERS=${1:-500}
[ -n "${2:-}" ] && export PEERWIKI_CRASH_SEED=$2
exec go test ./test -run TestCrashSafetyOfLocalCommits -count=1 -v -timeout 60m
