#!/usr/bin/env bash
# multisite.sh — the multi-site simulation measured in full: three sites as
# network namespaces, two `peerwiki serve` replicas each, Toxiproxy proxies
# (in the test process, as a library) on every path between sites adding
# one-way delay and modelled packet loss. Prints, as a Markdown table:
# `edit` wall time at each site, replication lag within a site, across
# sites and to all replicas (median, p99) at 0, 50 and 150 ms one-way delay
# each also with 1% loss; and convergence after one site is cut off
# (its link to the wan down) for 60 s while every site keeps writing.
#
#   scripts/multisite.sh [--edits N] [--partition DURATION]
#
# Needs root and iproute2 (it makes and removes its own namespaces on a
# private 10.78.x.0/24 test subnet; nothing touches the machine's own
# interfaces). The table is also written to bench-out/multisite-table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PEERWIKI_MULTISITE_FULL=1
number() { [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "$(basename "$0"): $1 needs a number, not '${2:-}'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
	case "$1" in
	--edits) number "$1" "${2:-}"; export PEERWIKI_MULTISITE_EDITS=$2; shift 2 ;;
	--partition) [[ ${2:-} =~ ^[0-9]+(ms|s|m)$ ]] || { echo "multisite.sh: --partition needs a duration such as 60s, not '${2:-}'" >&2; exit 2; }
		export PEERWIKI_MULTISITE_PARTITION=$2; shift 2 ;;
	*) echo "multisite.sh: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
	esac
done
mkdir -p bench-out
export PEERWIKI_MULTISITE_OUT=${PEERWIKI_MULTISITE_OUT:-$PWD/bench-out/multisite-table.md}
exec go test ./test -run 'TestMultisite$' -count=1 -v -timeout 30m
