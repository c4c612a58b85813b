#!/usr/bin/env bash
# bench-members.sh — what removing a prolific member costs.
#
#   scripts/bench-members.sh [PAGES]        (default 20000; 127.0.0.1 only)
#
# Ada serves; Dave joins, imports PAGES one-revision pages and syncs them to
# her; Bob joins and syncs. Then it times, on Ada's repo: a `show` before
# the removal, `member remove dave` (frontier of PAGES revisions), a `show`
# after it (every command reads the member list), and Bob's `sync` that
# brings him the removal. Prints one Markdown table row per figure.
set -euo pipefail
cd "$(dirname "$0")/.."
pages=${1:-20000}
[[ $pages =~ ^[0-9]+$ ]] || { echo "bench-members.sh: PAGES must be a number, not '$pages'" >&2; exit 2; }
out=$(mktemp -d)
serve=""
cleanup() { [ -n "$serve" ] && kill "$serve" 2>/dev/null; wait 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT
go build -o "$out/pw" .
pw() { local repo=$1; shift; PEERWIKI_REPO="$out/$repo" NO_COLOR=1 "$out/pw" "$@"; }
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000000)); }

mkdir -p "$out/files"
python3 - "$out/files" "$pages" <<'EOF'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(f"{d}/page{i:06d}.md", "w").write(f"# Page {i}\n\nbody {i}\n")
EOF
pw ada init --name ada >/dev/null
PEERWIKI_REPO="$out/ada" "$out/pw" serve --listen /ip4/127.0.0.1/tcp/0 --no-mdns --no-dht >"$out/serve.log" 2>&1 &
serve=$!
for _ in $(seq 50); do grep -q "listening on" "$out/serve.log" && break; sleep 0.1; done
code=$(pw ada invite --uses 2)
pw dave join "$code" --name dave >/dev/null
pw dave import "$out/files" >/dev/null
pw dave sync >/dev/null
pw bob join "$code" --name bob >/dev/null

echo "| $pages pages by the removed member | ms |"
echo "|---|---:|"
echo "| \`show\` on Ada's repo, before | $(ms pw ada show 'Page 5') |"
echo "| \`member remove dave\` | $(ms pw ada member remove dave) |"
echo "| \`show\` on Ada's repo, right after (her serve re-reads the list) | $(ms pw ada show 'Page 5') |"
sleep 3
echo "| \`show\` on Ada's repo, 3 s later | $(ms pw ada show 'Page 5') |"
echo "| Bob's \`sync\` bringing the removal | $(ms pw bob sync) |"
echo "| \`show\` on Bob's repo, after | $(ms pw bob show 'Page 5') |"
