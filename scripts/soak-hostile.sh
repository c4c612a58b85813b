#!/usr/bin/env bash
# The long versions of issue 13's attack tests, with the figures recorded
# in BENCHMARKS.md ("Hardening"). Everything runs in-process on 127.0.0.1
# (libp2p hosts of the test binary) or as the built binary on 127.0.0.1;
# every loop is bounded. Usage: scripts/soak-hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== a rogue member's forged merge of two 35 MB parents, and 20,000 heads on one page"
PEERWIKI_SOAK=1 go test ./p2p -run 'TestSoak' -count=1 -v -timeout 20m | grep -E 'soak_test|^(---|ok|FAIL)'
echo "== serve receiving three 35 MB bodies: resident memory"
go test ./test -run 'TestServeMemoryBoundedByLargeBodies' -count=1 -v -timeout 20m | grep -E 'resident|^(---|ok|FAIL)'
echo "== storing three 35 MB bodies: resident memory of the store alone"
go test ./history -run 'TestLargeBodiesKeepMemoryBounded' -count=1 -v | grep -E 'resident|^(---|ok|FAIL)'
