#!/usr/bin/env bash
# soak-bigwiki.sh — two replicas of a wiki with more heads than one sync
# frame holds (about 110,000), synced with the real binary over 127.0.0.1.
#
#   scripts/soak-bigwiki.sh          (env: PAGES=150000 SOAK_OUT=<repo>/bench-out/soak)
#
# Measures, as whole-process wall times: importing PAGES one-revision pages;
# a fresh replica's `join`; a no-op `sync` (each side's head set in several
# HELLO/HEADS frames); a `sync` after both sides edited a page (the
# answerer's END carries its whole head set). Checks that every sync
# succeeds and that serve rejected nobody. Prints a Markdown table.
# Talks only to 127.0.0.1; stops only the serve it started, by pid.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${SOAK_OUT:-$ROOT/bench-out/soak}
PAGES=${PAGES:-150000}
command -v go >/dev/null || { echo "soak-bigwiki: go is missing" >&2; exit 1; }
mkdir -p "$OUT"
(cd "$ROOT" && go build -o "$OUT/peerwiki" .)
PW="$OUT/peerwiki"
WORK=$(mktemp -d "$OUT/work.XXXXXX")
SERVE_PID=
cleanup() {
	if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
		kill -TERM "$SERVE_PID"
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
export NO_COLOR=1 USER=${USER:-soak}

log() { echo "soak-bigwiki: $*" >&2; }
# timed SECONDS_VAR CMD...: runs CMD, stores its wall time in seconds.
timed() {
	local var=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	printf -v "$var" '%.1f' "$(echo "$t1 - $t0" | bc)"
}

A="$WORK/a" B="$WORK/b" PAGESDIR="$WORK/pages"
mkdir -p "$PAGESDIR"
log "writing $PAGES pages"
awk -v n="$PAGES" -v dir="$PAGESDIR" 'BEGIN {
	for (i = 0; i < n; i++) {
		f = dir "/p" i ".md"
		printf "---\ntitle: \"Page %d\"\n---\n# Page %d\n\nA page of the soak.\n", i, i > f
		close(f)
	}
}'
"$PW" --repo "$A" init --name alice >/dev/null
log "importing"
timed t_import "$PW" --repo "$A" import "$PAGESDIR"

start_serve() {
	"$PW" --repo "$A" serve --listen /ip4/127.0.0.1/tcp/0 --no-mdns --no-dht >"$WORK/serve.out" 2>>"$WORK/serve.log" &
	SERVE_PID=$!
	for _ in $(seq 100); do
		ADDR=$(sed -n 's/^listening on //p' "$WORK/serve.out" | head -1)
		[ -n "$ADDR" ] && return
		sleep 0.1
	done
	log "serve did not start"; cat "$WORK/serve.log" >&2; exit 1
}
stop_serve() { kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=; }

start_serve
log "joining"
CODE=$("$PW" --repo "$A" invite)
timed t_join "$PW" --repo "$B" join "$CODE" --name bob
log "no-op sync"
timed t_noop "$PW" --repo "$B" sync --peer "$ADDR" --timeout 60s
stop_serve

# Both edit while apart: B's sync pulls A's edit and A's END asks for B's,
# with A's whole head set.
"$PW" --repo "$A" new "Only on A" --body "a" >/dev/null
"$PW" --repo "$B" new "Only on B" --body "b" >/dev/null
start_serve
log "sync both ways"
timed t_both "$PW" --repo "$B" sync --peer "$ADDR" --timeout 60s
stop_serve
if grep -q 'rejected a peer' "$WORK/serve.log"; then
	log "serve rejected a peer:"; grep 'rejected a peer' "$WORK/serve.log" >&2; exit 1
fi
na=$("$PW" --repo "$A" list --json | grep -c '"id"' || true)
nb=$("$PW" --repo "$B" list --json | grep -c '"id"' || true)
[ "$na" = "$nb" ] && [ "$na" -ge "$PAGES" ] || { log "replicas differ: $na and $nb pages"; exit 1; }

cat <<TABLE
| $PAGES pages, one revision each (127.0.0.1) | seconds |
|---|---|
| import | $t_import |
| join (full sync) | $t_join |
| no-op sync (the asker's head set in HELLO + HEADS frames) | $t_noop |
| sync after an edit on each side (END + HEADS back) | $t_both |
TABLE
