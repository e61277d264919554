#!/usr/bin/env bash
# `dump --subprocesses` on a service against one `dump --pid` per process (issue 17): a
# multiprocessing pool of WORKERS workers (default 8), each holding OBJECTS (default 500000) small
# objects of its own; wall time and peak RSS (GNU time -v) of one `leakspy dump --pid PARENT
# --subprocesses --json -q` against WORKERS+1 separate `leakspy dump --pid P --json -q` run one
# after the other (the parent too, so both read the same processes). Writes benches/FLEET.md.
# Usage: bash benches/fleet.sh      Env: WORKERS, OBJECTS, RUNS (default 3), PY, LEAKSPY (a built
# binary; default: cargo build --release, into $CARGO_TARGET_DIR when set).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKERS="${WORKERS:-8}"
OBJECTS="${OBJECTS:-500000}"
RUNS="${RUNS:-3}"
PY="${PY:-/root/.pyenv/versions/3.12.1/bin/python3.12}"
OUT_MD="$REPO/benches/FLEET.md"
WORK="$(mktemp -d /tmp/leakspy-fleet-bench.XXXXXX)"
TARGET_PID=""
cleanup() {
    [ -n "$TARGET_PID" ] && kill "$TARGET_PID" 2>/dev/null || true
    exec 3>&- 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$REPO"

if [ -z "${LEAKSPY:-}" ]; then
    echo "== cargo build --release" >&2
    cargo build --release -q
    cp "${CARGO_TARGET_DIR:-$REPO/target}/release/leakspy" "$WORK/leakspy"
    LEAKSPY="$WORK/leakspy"
    PROFILE=release
else
    PROFILE="given binary $LEAKSPY"
fi
"$LEAKSPY" --version >/dev/null
REV="$(git rev-parse --short HEAD)"
DIRTY="$(git status --porcelain -- src crates Cargo.toml Cargo.lock | awk '{print $2}' | paste -sd, - | sed 's/,/, /g')"
[ -n "$DIRTY" ] && REV="$REV plus uncommitted changes in $DIRTY"

# GNU time for peak RSS (installed only when missing, as benches/bench.sh does).
TIME_BIN=/usr/bin/time
if ! "$TIME_BIN" -v true >/dev/null 2>&1; then
    echo "== /usr/bin/time missing: apt-get install -y time" >&2
    apt-get install -y -q time >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }
fi

# The service: a fork pool whose workers each build OBJECTS objects, report their pids, then wait
# until stdin closes.
cat > "$WORK/pool.py" <<'PY'
import json, multiprocessing, os, sys

HELD = []

class Item:
    __slots__ = ("n", "s")
    def __init__(self, n):
        self.n = n
        self.s = None

BARRIER = None

def fill(n):
    HELD.extend(Item(i) for i in range(n))
    # Every worker takes exactly one fill: none returns before all have started theirs.
    BARRIER.wait(timeout=120)
    return os.getpid()

if __name__ == "__main__":
    workers, objects = int(sys.argv[1]), int(sys.argv[2])
    ctx = multiprocessing.get_context("fork")
    BARRIER = ctx.Barrier(workers)  # inherited by the forked workers
    with ctx.Pool(workers) as pool:
        pids = pool.map(fill, [objects] * workers, chunksize=1)
        print(json.dumps({"pid": os.getpid(), "workers": sorted(p.pid for p in pool._pool), "filled": sorted(set(pids))}), flush=True)
        os.read(0, 1)
PY
mkfifo "$WORK/stdin"
"$PY" "$WORK/pool.py" "$WORKERS" "$OBJECTS" < "$WORK/stdin" > "$WORK/ready" &
TARGET_PID=$!
exec 3> "$WORK/stdin"
for _ in $(seq 600); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
[ -s "$WORK/ready" ] || { echo "the pool did not start" >&2; exit 1; }
READY="$(cat "$WORK/ready")"
PIDS="$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(" ".join(map(str,[d["pid"]]+d["workers"])))' "$READY")"
FILLED="$("$PY" -c 'import json,sys; print(len(json.loads(sys.argv[1])["filled"]))' "$READY")"
echo "== pool $TARGET_PID: processes $PIDS ($FILLED workers filled)" >&2

# timed CMD... -> "wall_s rss_kib" (GNU time's elapsed and maximum resident set size)
timed() {
    "$TIME_BIN" -v -o "$WORK/time" "$@" > "$WORK/out.json" 2>/dev/null || { echo "failed: $*" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; w=s}
                /Maximum resident set size/ {r=$2} END {printf "%.3f %d\n", w, r}' "$WORK/time"
}
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
FLEET=(); SEP=(); SEPMAX=(); OBJ_FLEET=""; OBJ_SEP=""
for run in $(seq "$RUNS"); do
    read -r w r < <(timed "$LEAKSPY" dump --pid "$TARGET_PID" --subprocesses --json -q)
    FLEET+=("$w $r")
    OBJ_FLEET="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["processes"]), d["aggregate"]["objects"], d["jobs"])' "$WORK/out.json")"
    total_w=0; max_r=0; objs=0
    for p in $PIDS; do
        read -r w r < <(timed "$LEAKSPY" dump --pid "$p" --json -q)
        total_w="$(awk -v a="$total_w" -v b="$w" 'BEGIN {printf "%.3f", a+b}')"
        [ "$r" -gt "$max_r" ] && max_r=$r
        objs=$((objs + $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["heap"]["objects"])' "$WORK/out.json")))
    done
    SEP+=("$total_w $max_r")
    OBJ_SEP="$objs"
    echo "== run $run: fleet ${FLEET[-1]}, separate $total_w s (max RSS $max_r KiB)" >&2
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# median (min–max) of column $1 over the lines on stdin; $2 = scale divisor, $3 = format
stat() {
    sort -n -k"$1" | awk -v c="$1" -v d="$2" -v f="$3" '{v[NR]=$c/d} END {m=v[int((NR+1)/2)]; printf f " (" f "–" f ")", m, v[1], v[NR]}'
}
fw="$(printf '%s\n' "${FLEET[@]}" | stat 1 1 '%.2f s')"
fr="$(printf '%s\n' "${FLEET[@]}" | stat 2 1024 '%.0f MiB')"
sw="$(printf '%s\n' "${SEP[@]}" | stat 1 1 '%.2f s')"
sr="$(printf '%s\n' "${SEP[@]}" | stat 2 1024 '%.0f MiB')"
read -r NPROC OBJS JOBS <<< "$OBJ_FLEET"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
{
    echo "# \`dump --subprocesses\` against separate dumps"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, $cpu, $mem RAM, kernel $(uname -r)"
    echo "- load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- leakspy: $REV ($PROFILE)"
    echo "- target: \`multiprocessing\` fork pool (\`$("$PY" -V 2>&1)\`), $WORKERS workers × $OBJECTS objects each (\`__slots__\` instances) plus the parent: $NPROC processes"
    echo "- peak RSS: GNU time -v (maximum resident set size of the leakspy process); $RUNS runs, cells are median (min–max)"
    echo
    echo "| | processes | objects read | wall | peak RSS of leakspy |"
    echo "|---|---:|---:|---:|---:|"
    echo "| one \`dump --pid PARENT --subprocesses --json -q\` ($JOBS at a time) | $NPROC | $OBJS | $fw | $fr |"
    echo "| $NPROC × \`dump --pid P --json -q\`, one after the other (wall: the sum; RSS: the largest) | $NPROC | $OBJ_SEP | $sw | $sr |"
    echo
    echo "\`--subprocesses\` reads up to one process per core at a time (never all of them paused at once), so its"
    echo "wall time is bounded by the cores and its peak RSS holds the reports of every process until the"
    echo "aggregate is printed; separate runs hold one process's report at a time. Run: \`bash benches/fleet.sh\`."
} > "$OUT_MD"
cat "$OUT_MD"
