#!/bin/bash
# leakspy's peak RSS against its target's RSS (issue 13: at most 1.2 x), one fresh target per row.
#
# Usage: bash benches/memory.sh                     # 125000 and 300000 units, pyenv 3.12.1
#        UNITS="50000 125000" PYTHON=/usr/bin/python3.11 LEAKSPY=path/to/leakspy bash benches/memory.sh
# Env:   UNITS (target sizes, benches/target.py units: ~12 objects each), PYTHON (the target's
#        interpreter), LEAKSPY (the binary; default: target/release/leakspy, built if missing),
#        MODES (default "--gc-only whole refs"; "bounded" is the whole heap with --max-memory
#        $MAX_MEMORY, default 256M: bounded mode, no copy, see README "A heap that does not fit").
# Peak RSS is GNU time's "Maximum resident set size" (VmHWM) of the leakspy process; the target's is
# its VmRSS once its heap is built. Prints one markdown row per (units, mode). Needs root (ptrace).
set -euo pipefail
cd "$(dirname "$0")/.."
UNITS="${UNITS:-125000 300000}"
PYTHON="${PYTHON:-/root/.pyenv/versions/3.12.1/bin/python3.12}"
MODES="${MODES:---gc-only whole refs}"
LEAKSPY="${LEAKSPY:-${CARGO_TARGET_DIR:-target}/release/leakspy}"
[ -x "$LEAKSPY" ] || cargo build --release >&2
[ -x /usr/bin/time ] || apt-get install -y time >&2

echo "| units | objects | mode | target RSS (MB) | leakspy peak RSS (MB) | ratio | copied (MB) | wall (ms) |"
echo "|---|---|---|---|---|---|---|---|"
for u in $UNITS; do
    for mode in $MODES; do
        coproc T { exec "$PYTHON" benches/target.py "$u"; }
        read -r line <&"${T[0]}"
        pid=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pid"])' "$line")
        trss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
        case "$mode" in
            whole) cmd=(dump --pid "$pid" --json -q) ;;
            refs) cmd=(refs --pid "$pid" --type __main__.Node --json -q) ;;
            bounded) cmd=(dump --pid "$pid" --json -q --max-memory "${MAX_MEMORY:-256M}") ;;
            *) cmd=(dump --pid "$pid" --json -q "$mode") ;;
        esac
        tmp=$(mktemp)
        out=$(/usr/bin/time -v "$LEAKSPY" "${cmd[@]}" 2>"$tmp" | python3 -c '
import json, sys
r = json.load(sys.stdin)
objects = (r.get("heap") or {}).get("objects") or ((r.get("refs") or {}).get("cost") or {}).get("objects", "-")
copied = (r.get("read_stats") or {}).get("bytes_copied")
print(objects, "-" if copied is None else copied >> 20, round(r.get("total_ms", 0)))' 2>/dev/null || echo "- - -")
        lrss=$(awk '/Maximum resident/ {print $6}' "$tmp")
        rm -f "$tmp"
        kill "$pid" 2>/dev/null || true
        wait "$T_PID" 2>/dev/null || true
        read -r objects copied wall <<<"$out"
        echo "| $u | $objects | $mode | $((trss / 1024)) | $((lrss / 1024)) | $(python3 -c "print(round($lrss / $trss, 2))") | $copied | $wall |"
    done
done
