#!/bin/bash
# The pause on a growing target (issue 13: at most 20 ms per 100 MB copied, also while it grows):
# examples/leaky_service.py (~40 MB/s of new sessions), DUMPS whole-heap dumps in a row while it runs.
#
# Usage: bash benches/growing.sh                    # pyenv 3.11.7, 8 dumps
#        DUMPS=12 PYTHON=... LEAKSPY=path/to/leakspy bash benches/growing.sh
# Prints one markdown row per dump: target RSS, copied, pause, pause per 100 MB, the copy's share of the
# pause. Needs root (ptrace).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/root/.pyenv/versions/3.11.7/bin/python3.11}"
DUMPS="${DUMPS:-8}"
LEAKSPY="${LEAKSPY:-${CARGO_TARGET_DIR:-target}/release/leakspy}"
[ -x "$LEAKSPY" ] || cargo build --release >&2

"$PYTHON" examples/leaky_service.py >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
# The demo's first second builds its threads; dump once it holds some heap.
until [ "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)" -gt 60000 ]; do sleep 0.1; done

echo "| dump | target RSS (MB) | copied (MB) | pause (ms) | pause per 100 MB (ms) | copy (ms) | load (1 min) |"
echo "|---|---|---|---|---|---|---|"
for i in $(seq 1 "$DUMPS"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    "$LEAKSPY" dump --pid "$pid" --json -q | python3 -c '
import json, sys
r = json.load(sys.stdin)
s = r["read_stats"]
mb = s["bytes_copied"] / 1e6
rss = r["memory"]["rss"] / 1e6
pause, copy = r["pause_ms"], s["copy_ms"]
print(f"| {sys.argv[1]} | {rss:.0f} | {mb:.0f} | {pause:.1f} | {pause / mb * 100:.1f} | {copy:.1f} | {sys.argv[2]} |")' "$i" "$load"
done
