#!/usr/bin/env bash
# Benchmark `leakspy dump --native` against `py-spy dump --native` and `pystack remote --native` on
# the same target: wall time, leakspy's pause, and the stop as the target itself saw it.
# Usage: bash benches/native.sh            (see benches/README.md, "Native stacks")
# Env:   RUNS (default 3), THREADS (blocked threads in the target, default 48),
#        LEAKSPY (a leakspy binary to measure; default: cargo build --release),
#        LEAKSPY_CACHE (default /var/cache/leakspy: the bench venv with py-spy and pystack, the sid chroot)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LEAKSPY_CACHE:-/var/cache/leakspy}"
RUNS="${RUNS:-3}"
THREADS="${THREADS:-48}"
HOSTPY="${HOSTPY:-/usr/bin/python3}"
OUT_MD="$REPO/benches/RESULTS-native.md"
cd "$REPO"

BUILD_KIND="${LEAKSPY:+the binary $LEAKSPY}"
if [ -z "${LEAKSPY:-}" ]; then
    echo "== cargo build --release" >&2
    cargo build --release -q
    LEAKSPY="$(mktemp /tmp/leakspy-bench-bin.XXXXXX)"
    trap 'rm -f "$LEAKSPY"' EXIT
    cp "${CARGO_TARGET_DIR:-target}/release/leakspy" "$LEAKSPY" && chmod 755 "$LEAKSPY"
    BUILD_KIND="release build"
fi

# py-spy and pystack in the bench venv (idempotent; benches/bench.sh uses the same one).
VENV="$CACHE/bench-venv"
if [ ! -x "$VENV/bin/py-spy" ] || [ ! -x "$VENV/bin/pystack" ]; then
    echo "== installing py-spy and pystack into $VENV" >&2
    [ -x "$VENV/bin/pip" ] || "$HOSTPY" -m venv "$VENV"
    "$VENV/bin/pip" install -q py-spy pystack
fi
PYSPY_VERSION="$("$VENV/bin/py-spy" --version)"
PYSTACK_VERSION="pystack $("$VENV/bin/pip" show pystack 2>/dev/null | awk '/^Version/ {print $2}')"

INTERPS=()
add() { # name root python
    local host_path="$2/${3#/}"
    [ "$2" = "/" ] && host_path="$3"
    if [ -x "$host_path" ]; then INTERPS+=("$1=$2:$3"); else echo "== skipping $1: $host_path missing" >&2; fi
}
add pyenv-3.11.7 / /root/.pyenv/versions/3.11.7/bin/python3.11
add pyenv-3.12.1 / /root/.pyenv/versions/3.12.1/bin/python3.12
add debian-sid-3.14 "$CACHE/sid" /usr/bin/python3.14

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== running ($RUNS runs each, $THREADS blocked threads)" >&2
TABLE="$("$HOSTPY" "$REPO/benches/native.py" --leakspy "$LEAKSPY" \
    --pyspy "$VENV/bin/py-spy" --pystack "$VENV/bin/pystack" \
    --runs "$RUNS" --threads "$THREADS" "${INTERPS[@]}")"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
REV="$(git rev-parse --short HEAD)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
{
    echo "# Native stacks: leakspy vs py-spy vs pystack"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, $cpu, $mem RAM, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before / after: $LOAD_BEFORE / $LOAD_AFTER"
    echo "- leakspy: $REV, $BUILD_KIND (\`leakspy dump --pid PID --native --no-heap --json -q\`)"
    echo "- $PYSPY_VERSION (\`py-spy dump --native --pid PID\`); $PYSTACK_VERSION (\`pystack remote --native PID\`)"
    echo "- $RUNS runs per interpreter, a fresh target (benches/native_target.py) each run, the three tools"
    echo "  in a rotating order; cells are median (min–max)"
    echo
    echo "$TABLE"
    echo
    echo "*wall*: the whole command, spawn to exit. *pause_ms*: leakspy's own report of how long the"
    echo "target was stopped. *stall seen*: the longest gap between two wakeups of the target's ticker"
    echo "thread (time.sleep(0.001) in a loop) while the tool ran: the stop as the target felt it, plus"
    echo "up to a tick and the scheduler's latency; *ticker baseline* is the same measure over a window as"
    echo "long as the slowest tool with no tool running. A run whose output lacked a thread counts as failed."
} > "$OUT_MD"
cat "$OUT_MD"
