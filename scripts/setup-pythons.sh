#!/usr/bin/env bash
# Set up every interpreter the test matrix runs against. Idempotent; cached outside the clone.
#
#   scripts/setup-pythons.sh            # install what is missing, then print the matrix file path
#
# Cache: $LEAKSPY_CACHE (default /var/cache/leakspy). Creates:
#   $LEAKSPY_CACHE/sid        debootstrap chroot: Debian python3.13, 3.14, 3.15 (+ -dev headers, -dbg builds)
#   $LEAKSPY_CACHE/bullseye   debootstrap chroot: Debian python3.9 (+ -dev headers)
#   $LEAKSPY_CACHE/matrix.tsv one line per interpreter: name <TAB> root (/ or chroot dir) <TAB> python path in that root
# Host packages: debootstrap, gdb (gcore), libpython3.11-dev (headers of the host's Debian 3.11).
# pyenv interpreters (3.8.18 … 3.13.0) come with the machine image; a missing one is an error.
set -euo pipefail

CACHE=${LEAKSPY_CACHE:-/var/cache/leakspy}
PYENV_ROOT=${PYENV_ROOT:-/root/.pyenv}
MIRROR=${LEAKSPY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

log() { printf 'setup-pythons: %s\n' "$*" >&2; }

need_host_pkgs=()
command -v debootstrap >/dev/null || need_host_pkgs+=(debootstrap)
command -v gdb >/dev/null || need_host_pkgs+=(gdb)
[ -e /usr/include/python3.11/Python.h ] || need_host_pkgs+=(libpython3.11-dev)
if [ ${#need_host_pkgs[@]} -gt 0 ]; then
  log "installing host packages: ${need_host_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need_host_pkgs[@]}" >/dev/null
fi

# make_chroot NAME SUITE PACKAGES...   (re-created when the package list changes)
make_chroot() {
  local name=$1 suite=$2; shift 2
  local dir="$CACHE/$name" want="$suite $*"
  if [ -f "$dir/.leakspy-ok" ] && [ "$(cat "$dir/.leakspy-ok")" = "$want" ]; then
    return 0
  fi
  log "debootstrap $suite into $dir: $*"
  rm -rf "$dir" "$dir.tmp"
  local inc; inc=$(IFS=,; echo "$*")
  debootstrap --variant=minbase --include="$inc" "$suite" "$dir.tmp" "$MIRROR" >"$CACHE/$name.log" 2>&1 || {
    tail -20 "$CACHE/$name.log" >&2; log "debootstrap of $suite failed (log: $CACHE/$name.log)"; exit 1; }
  mv "$dir.tmp" "$dir"
  echo "$want" >"$dir/.leakspy-ok"
}

make_chroot sid sid python3.13 python3.14 python3.15 libpython3.13-dev libpython3.14-dev libpython3.15-dev \
  python3.13-dbg python3.14-dbg python3.15-dbg
make_chroot bullseye bullseye python3.9 libpython3.9-dev

matrix="$CACHE/matrix.tsv.tmp"
: >"$matrix"
add() { # name root python
  local name=$1 root=$2 py=$3
  if [ ! -x "$root${py}" ] && [ ! -x "$(readlink -f "$root$py" 2>/dev/null)" ]; then
    log "missing interpreter $name at $root$py"; exit 1
  fi
  printf '%s\t%s\t%s\n' "$name" "$root" "$py" >>"$matrix"
}
for v in 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
  add "pyenv-$v" / "$PYENV_ROOT/versions/$v/bin/python${v%.*}"
done
add debian-3.11 / /usr/bin/python3.11
add debian-bullseye-3.9 "$CACHE/bullseye" /usr/bin/python3.9
add debian-sid-3.13 "$CACHE/sid" /usr/bin/python3.13
add debian-sid-3.14 "$CACHE/sid" /usr/bin/python3.14
add debian-sid-3.15 "$CACHE/sid" /usr/bin/python3.15
# Debian's debug builds (Py_DEBUG, debug allocator hooks on by default).
add debian-sid-3.13d "$CACHE/sid" /usr/bin/python3.13d
add debian-sid-3.14d "$CACHE/sid" /usr/bin/python3.14d
add debian-sid-3.15d "$CACHE/sid" /usr/bin/python3.15d
mv "$matrix" "$CACHE/matrix.tsv"
log "matrix: $CACHE/matrix.tsv"
echo "$CACHE/matrix.tsv"
