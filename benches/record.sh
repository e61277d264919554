#!/usr/bin/env bash
# `leakspy record`: its cost to the target and the accuracy of its sites against the rate.
# Usage: bash benches/record.sh [overhead|accuracy|both]   (see benches/README.md, "record")
# Env:   LEAKSPY (a leakspy binary; default: a release build of this tree),
#        ROUNDS (overhead: target processes per interpreter, default 3), SECONDS_PER (their work, 45),
#        RATES (accuracy, default 25,50,100,200,400), REPEATS (accuracy runs per cell, default 3),
#        LEAKSPY_CACHE (default /var/cache/leakspy: the sid chroot)
# Bounded: about 2.5 min per interpreter for the overhead, about 3 min per interpreter for the accuracy.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LEAKSPY_CACHE:-/var/cache/leakspy}"
WHAT="${1:-both}"
HOSTPY="${HOSTPY:-/usr/bin/python3}"
cd "$REPO"

if [ -z "${LEAKSPY:-}" ]; then
    echo "== cargo build --release" >&2
    cargo build --release -q
    LEAKSPY="$(mktemp /tmp/leakspy-record-bench.XXXXXX)"
    trap 'rm -f "$LEAKSPY"' EXIT
    cp "${CARGO_TARGET_DIR:-target}/release/leakspy" "$LEAKSPY"
fi

INTERPS=()
add() { # name root python
    local host_path="$2/${3#/}"
    [ "$2" = "/" ] && host_path="$3"
    if [ -x "$host_path" ]; then INTERPS+=(--interp "$1=$2:$3"); else echo "== skipping $1: $host_path missing" >&2; fi
}
add pyenv-3.10.13 / /root/.pyenv/versions/3.10.13/bin/python3.10
add pyenv-3.12.1 / /root/.pyenv/versions/3.12.1/bin/python3.12
add debian-sid-3.14 "$CACHE/sid" /usr/bin/python3.14

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "machine: $(nproc) CPUs, $cpu, kernel $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg); leakspy $(git rev-parse --short HEAD)"
if [ "$WHAT" = overhead ] || [ "$WHAT" = both ]; then
    "$HOSTPY" benches/record_overhead.py --leakspy "$LEAKSPY" --rounds "${ROUNDS:-3}" \
        --seconds "${SECONDS_PER:-45}" "${INTERPS[@]}"
fi
if [ "$WHAT" = accuracy ] || [ "$WHAT" = both ]; then
    "$HOSTPY" benches/record_accuracy.py --leakspy "$LEAKSPY" --rates "${RATES:-25,50,100,200,400}" \
        --repeats "${REPEATS:-3}" "${INTERPS[@]}"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
