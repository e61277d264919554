#!/usr/bin/env bash
# Build the free-threaded CPython 3.13 (PEP 703, `--disable-gil`, "3.13t") the test matrix runs
# against as `debian-sid-3.13t`. Idempotent and cached: a no-op once built (stamp file).
#
#   scripts/setup-python313t.sh        # called by scripts/setup-pythons.sh after the sid chroot exists
#
# Debian ships no free-threaded 3.13, but its archive serves the python3.13 source package, so the
# interpreter is built from that (Debian's patches applied by `apt-get source`) inside the sid chroot
# ($LEAKSPY_CACHE/sid, made by setup-pythons.sh):
#   - a deb-src line for the chroot's own archive (/etc/apt/sources.list.d/leakspy-src.list);
#   - the few build dependencies the interpreter and the modules the tests import need (gcc, make,
#     libc6-dev, zlib, libffi for ctypes) — installed from the same archive the chroot was made from,
#     so nothing already installed changes;
#   - `./configure --disable-gil --enable-shared` (no PGO/LTO), `make -j2` under `nice`, installed
#     into /opt/python3.13t of the chroot (python: /opt/python3.13t/bin/python3.13t, headers:
#     /opt/python3.13t/include/python3.13t, libpython3.13t.so.1.0 next to it via rpath).
# Stamp: /opt/python3.13t/.leakspy-ok holds the source version; the build log is
# $LEAKSPY_CACHE/python3.13t-build.log. Takes ~15-25 minutes on 2 cores.
set -euo pipefail

CACHE=${LEAKSPY_CACHE:-/var/cache/leakspy}
ROOT="$CACHE/sid"
VERSION=3.13.15-1
PREFIX=/opt/python3.13t
LOG="$CACHE/python3.13t-build.log"

log() { printf 'setup-python313t: %s\n' "$*" >&2; }

if [ -f "$ROOT$PREFIX/.leakspy-ok" ] && [ "$(cat "$ROOT$PREFIX/.leakspy-ok")" = "$VERSION" ] &&
  [ -x "$ROOT$PREFIX/bin/python3.13t" ]; then
  exit 0
fi
[ -d "$ROOT/etc/apt" ] || { log "no sid chroot at $ROOT (run scripts/setup-pythons.sh)"; exit 1; }

log "building free-threaded python3.13 $VERSION in $ROOT$PREFIX (log: $LOG; takes a while)"
# The archive the chroot was debootstrapped from (its own sources.list), as a source archive too.
mirror=$(awk '$1 == "deb" { print $2; exit }' "$ROOT/etc/apt/sources.list")
[ -n "$mirror" ] || { log "no deb line in $ROOT/etc/apt/sources.list"; exit 1; }
echo "deb-src $mirror sid main" >"$ROOT/etc/apt/sources.list.d/leakspy-src.list"

# The build runs as one script inside the chroot; a fresh work dir each time (a failed build leaves
# no stamp and is redone from scratch).
cat >"$ROOT/tmp/leakspy-build-313t.sh" <<EOF
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
apt-get -o Acquire::Check-Valid-Until=false update -qq
apt-get install -y -qq --no-install-recommends dpkg-dev gcc make libc6-dev pkg-config \
  zlib1g-dev libffi-dev libbz2-dev liblzma-dev xz-utils patch >/dev/null
rm -rf /usr/src/python313t
mkdir -p /usr/src/python313t
cd /usr/src/python313t
apt-get source -qq python3.13=$VERSION
cd python3.13-*/
# LDFLAGS in the environment: Debian's Makefile.pre.in reads it from there at make time (it has
# no LDFLAGS= line of its own), so a configure argument alone would not reach the link.
export LDFLAGS="-Wl,-rpath,$PREFIX/lib"
./configure --prefix=$PREFIX --disable-gil --enable-shared --with-ensurepip=no
nice make -j2
rm -rf $PREFIX
make install
$PREFIX/bin/python3.13t -c 'import sys, sysconfig, ctypes, json, threading; assert not sys._is_gil_enabled(); assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1'
cd /
rm -rf /usr/src/python313t
echo $VERSION >$PREFIX/.leakspy-ok
EOF
start=$(date +%s)
if ! nice chroot "$ROOT" /bin/bash /tmp/leakspy-build-313t.sh >"$LOG" 2>&1; then
  tail -20 "$LOG" >&2
  log "build of python3.13t failed (log: $LOG)"
  exit 1
fi
rm -f "$ROOT/tmp/leakspy-build-313t.sh"
log "built $ROOT$PREFIX/bin/python3.13t in $(($(date +%s) - start)) s"
