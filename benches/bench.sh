#!/usr/bin/env bash
# Benchmark leakspy against in-process gc.get_objects() and py-spy on ~1M tracked objects.
# Usage: bash benches/bench.sh            (see benches/README.md)
# Env:   RUNS (default 5), UNITS (target size, default 110000 ≈ 1M tracked objects),
#        LEAKSPY_CACHE (default /var/cache/leakspy: py-spy venv and the sid chroot live there),
#        BIG_UNITS (default 0: skipped; 660000 ≈ 8M objects: one more run, the linearity row)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LEAKSPY_CACHE:-/var/cache/leakspy}"
RUNS="${RUNS:-5}"
UNITS="${UNITS:-110000}"
BIG_UNITS="${BIG_UNITS:-0}"
HOSTPY="${HOSTPY:-/usr/bin/python3}"
OUT_MD="$REPO/benches/RESULTS.md"
OUT_JSON="$(mktemp /tmp/leakspy-bench.XXXXXX.json)"
BIN_COPY="$(mktemp /tmp/leakspy-bench-bin.XXXXXX)"
trap 'rm -f "$OUT_JSON" "$BIN_COPY"' EXIT

cd "$REPO"

# 1. Release build.
echo "== cargo build --release" >&2
cargo build --release -q
# Others may rebuild target/release while we run: measure a private copy of this build.
BUILD="cd '$REPO' && cargo build --release -q && cp target/release/leakspy '$BIN_COPY'"
cp target/release/leakspy "$BIN_COPY" && chmod 755 "$BIN_COPY"
LEAKSPY="$BIN_COPY"
"$LEAKSPY" --version >/dev/null   # page the binary in before the first timed run
REV="$(git rev-parse --short HEAD)"
DIRTY="$(git status --porcelain -- src crates python-layouts Cargo.toml Cargo.lock | awk '{print $2}' | paste -sd, - | sed 's/,/, /g')"
[ -n "$DIRTY" ] && REV="$REV plus uncommitted changes in $DIRTY"

# 2. GNU time for leakspy's peak RSS (installed only when missing).
TIME_BIN=/usr/bin/time
RSS_SOURCE="GNU time -v (Maximum resident set size = VmHWM of the leakspy process)"
if ! "$TIME_BIN" -v true >/dev/null 2>&1; then
    echo "== /usr/bin/time missing: apt-get install -y time" >&2
    if ! { apt-get install -y -q time >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }; }; then
        TIME_BIN=""
        RSS_SOURCE="not measured (GNU time unavailable)"
    fi
fi

# 3. py-spy in a venv outside the repo (idempotent).
VENV="$CACHE/bench-venv"
if [ ! -x "$VENV/bin/py-spy" ]; then
    echo "== installing py-spy into $VENV" >&2
    mkdir -p "$CACHE"
    "$HOSTPY" -m venv "$VENV"
    "$VENV/bin/pip" install -q py-spy
fi
PYSPY_VERSION="$("$VENV/bin/py-spy" --version)"
# pystack for the stacks-only row (a failure to install leaves that column "not installed").
if [ ! -x "$VENV/bin/pystack" ]; then
    echo "== installing pystack into $VENV" >&2
    "$VENV/bin/pip" install -q pystack || true
fi
PYSTACK=""
PYSTACK_VERSION="not installed"
if [ -x "$VENV/bin/pystack" ]; then
    PYSTACK="$VENV/bin/pystack"
    PYSTACK_VERSION="pystack $("$VENV/bin/pip" show pystack 2>/dev/null | awk '/^Version/ {print $2}')"
fi

# 4. Interpreters: name=ROOT:PYTHON (ROOT "/" = run directly, else chroot).
INTERPS=()
add() { # name root python [interpreter options...]
    local name=$1 root=$2 py=$3; shift 3
    local host_path="$root/${py#/}"
    [ "$root" = "/" ] && host_path="$py"
    local spec="$name=$root:$py"
    [ $# -gt 0 ] && spec="$spec $*"
    if [ -x "$host_path" ]; then INTERPS+=(--interp "$spec"); else echo "== skipping $name: $host_path missing" >&2; fi
}
add pyenv-3.11.7 / /root/.pyenv/versions/3.11.7/bin/python3.11
add pyenv-3.12.1 / /root/.pyenv/versions/3.12.1/bin/python3.12
add debian-sid-3.14 "$CACHE/sid" /usr/bin/python3.14
# The same heap traced by tracemalloc: the extra cost of reading allocation sites.
add pyenv-3.12.1-traced / /root/.pyenv/versions/3.12.1/bin/python3.12 -X tracemalloc=1

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== running ($RUNS runs each, $UNITS units)" >&2
TABLE="$("$HOSTPY" "$REPO/benches/driver.py" \
    --leakspy "$LEAKSPY" --rebuild "$BUILD" \
    --pyspy "$VENV/bin/py-spy" --time-bin "$TIME_BIN" \
    --runs "$RUNS" --units "$UNITS" --json-out "$OUT_JSON" --refs \
    --pystack "$PYSTACK" --big-units "$BIG_UNITS" "${INTERPS[@]}")"

# 5. Report.
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
{
    echo "# leakspy benchmark results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, $cpu, $mem RAM, kernel $(uname -r)"
    echo "- load average (1/5/15 min) before the runs: $LOAD_BEFORE"
    echo "- leakspy: $REV, release build (\`leakspy dump --pid PID --json -q\`, with and without \`--gc-only\`; \`leakspy refs --pid PID --type __main__.Node --json -q\`)"
    echo "- py-spy: $PYSPY_VERSION (\`py-spy dump --pid PID\`, stacks only); $PYSTACK_VERSION (\`pystack remote PID\`)"
    echo "- peak RSS: $RSS_SOURCE"
    echo "- $RUNS runs per interpreter, $UNITS target units, a fresh target each run; cells are median (min–max)"
    echo
    echo "$TABLE"
    echo
    echo "Columns: *tracked objects* = \`len(gc.get_objects())\` in the target;"
    echo "*in-process* = the target's own \`gc.get_objects()\` + \`sys.getsizeof\` histogram by"
    echo "\`module.qualname\`, timed inside it on the same heap just before it signals readiness;"
    echo "*leakspy wall* = whole \`leakspy dump\` process (spawn to exit, under GNU time);"
    echo "*pause* = \`pause_ms\` (target stopped by ptrace); *copied* = \`read_stats.bytes_copied\`;"
    echo "*pause per 100 MB* = pause_ms / (bytes_copied / 100 MB);"
    echo "*leakspy objects / in-process* = heap.objects from \`--gc-only\` over the target's own count."
    echo
    echo "Second table (the whole heap, leakspy's default): *all objects* = the target's own closure over"
    echo "\`gc.get_referents\` from every tracked object; *in-process closure* = the time it takes to build"
    echo "that set and its \`sys.getsizeof\` histogram inside the target (what an in-process tool must do to"
    echo "count untracked objects); *leakspy objects / closure* = heap.objects over that count (above 1:"
    echo "objects no tracked object reaches, e.g. interned strings and code objects' private fields)."
    echo
    echo "Third table: \`leakspy refs\` on the same heap: the reference graph (*graph objects*, *references*,"
    echo "its memory), the wall time of the whole command, and the two analysis steps it reports: shortest"
    echo "paths from the roots and the dominator tree (retained sizes)."
    echo
    echo "Fourth table: leakspy's peak RSS over the target's own (VmRSS once its heap is built), per mode;"
    echo "and stacks only: \`leakspy dump --no-heap --json -q\` (wall, pause, bytes copied, peak RSS)"
    echo "against \`py-spy dump\` and \`pystack remote\` on the same target."
    if [ "$BIG_UNITS" != 0 ]; then
        echo
        echo "Last table (BIG_UNITS=$BIG_UNITS): one run of the first interpreter on the big heap; its wall"
        echo "time over the median of that interpreter's rows above (linear would be the object ratio)."
    fi
} > "$OUT_MD"
cat "$OUT_MD"
