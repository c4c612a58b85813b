#!/usr/bin/env bash
# bench-merge.sh — time `peerwiki merge-file` against `git merge-file -p` as
# whole processes on the shared merge case behind the performance target
# (gen.py merge --seed 42 --size 1000000 --edits 200: a ~1 MB Markdown page,
# 200 edits per side), report their peak memory, and check that peerwiki's
# output is the expected merge.
#
# Usage: scripts/bench-merge.sh [RUNS]        (RUNS defaults to 20)
# Environment:
#   PEERWIKI_SHARED  the shared/ folder (default: ../../shared from here)
#   PEERWIKI_BIN     a peerwiki binary to time instead of building one
# Uses hyperfine when installed, else a loop of timed runs.
# The target: peerwiki no slower than git, under 100 MB of memory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
shared=${PEERWIKI_SHARED:-$here/../../shared}
gen=$shared/bench/gen.py
runs=${1:-20}

die() { echo "bench-merge: $*" >&2; exit 1; }

[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, not '$runs'"
[ -f "$gen" ] || die "no generator at $gen (set PEERWIKI_SHARED)"
command -v python3 >/dev/null || die "python3 is needed to generate the inputs"
command -v git >/dev/null || die "git is needed for the comparison"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$gen" merge --seed 42 --size 1000000 --edits 200 --out "$tmp/case"

if [ -n "${PEERWIKI_BIN:-}" ]; then
	bin=$PEERWIKI_BIN
else
	echo "building peerwiki..."
	(cd "$repo" && go build -o "$tmp/peerwiki" .) || die "go build failed"
	bin=$tmp/peerwiki
fi

cd "$tmp/case"
pw=("$bin" merge-file ours.md base.md theirs.md)
gitmf=(git merge-file -p ours.md base.md theirs.md)

# The command must exist and merge this case cleanly to the expected text.
status=0
"${pw[@]}" >"$tmp/pw.out" 2>"$tmp/pw.err" || status=$?
if [ "$status" -ne 0 ]; then
	cat "$tmp/pw.err" >&2
	die "'peerwiki merge-file' failed with status $status (is the command wired up?)"
fi
cmp -s "$tmp/pw.out" expected.md || die "peerwiki merge-file output differs from expected.md"
"${gitmf[@]}" >"$tmp/git.out" || die "git merge-file failed"
cmp -s "$tmp/git.out" expected.md || echo "note: git's output differs from expected.md"
echo "output: peerwiki merge-file = expected.md ($(wc -c <expected.md) bytes)"
echo

# times_ms RUNS CMD...: runs CMD RUNS times, prints "min median mean" in ms.
times_ms() {
	local n=$1 i t0 t1
	shift
	"$@" >/dev/null # warm the page cache
	for ((i = 0; i < n; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null
		t1=$(date +%s%N)
		echo $((t1 - t0))
	done | sort -n | awk '{ t[NR] = $1; s += $1 }
		END { printf "%.2f %.2f %.2f\n", t[1] / 1e6, t[int((NR + 1) / 2)] / 1e6, s / NR / 1e6 }'
}

if command -v hyperfine >/dev/null; then
	hyperfine --warmup 3 --runs "$runs" -N \
		-n "peerwiki merge-file" "${pw[*]}" \
		-n "git merge-file -p" "${gitmf[*]}"
else
	echo "wall time over $runs runs (ms; hyperfine not installed):"
	printf '  %-22s %8s %8s %8s\n' "" min median mean
	read -r a b c < <(times_ms "$runs" "${pw[@]}")
	printf '  %-22s %8s %8s %8s\n' "peerwiki merge-file" "$a" "$b" "$c"
	read -r a b c < <(times_ms "$runs" "${gitmf[@]}")
	printf '  %-22s %8s %8s %8s\n' "git merge-file -p" "$a" "$b" "$c"
fi
echo

if [ -x /usr/bin/time ]; then
	rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ { print $2 }'; }
	echo "max RSS: peerwiki $(($(rss "${pw[@]}") / 1024)) MB, git $(($(rss "${gitmf[@]}") / 1024)) MB"
else
	echo "max RSS: /usr/bin/time not installed, skipped"
fi
