#!/usr/bin/env bash
# Set up every interpreter the test matrix runs against. Idempotent; cached outside the clone.
#
#   scripts/setup-pythons.sh            # install what is missing, then print the matrix file path
#                                       # (the venv list is venvs.tsv next to it)
#
# Cache: $LEAKSPY_CACHE (default /var/cache/leakspy). Creates:
#   $LEAKSPY_CACHE/sid        debootstrap chroot: Debian python3.13, 3.14, 3.15 (+ -dev headers, -dbg builds)
#   $LEAKSPY_CACHE/bullseye   debootstrap chroot: Debian python3.9 (+ -dev headers)
#   $LEAKSPY_CACHE/sid/opt/python3.13t  free-threaded 3.13 (--disable-gil) built from Debian's python3.13
#                             source package in the sid chroot (scripts/setup-python313t.sh)
#   $LEAKSPY_CACHE/matrix.tsv one line per interpreter: name <TAB> root (/ or chroot dir) <TAB> python path in that root
#   $LEAKSPY_CACHE/venv-numpy-3.X.Y    venv of pyenv 3.X.Y with numpy 2.x (every pyenv 3.9-3.13)
#   $LEAKSPY_CACHE/venv-numpy1-3.11.7  venv of pyenv 3.11.7 with numpy 1.26 (the numpy 1.x ndarray/descr ABI)
#   $LEAKSPY_CACHE/venv-service-3.X.Y  venv of pyenv 3.11.7 / 3.12.1 with numpy, pandas, pydantic 2,
#                                      SQLAlchemy 2, Jinja2, requests and all their dependencies
#   $LEAKSPY_CACHE/venv-ship-tools-3.12.1  venv of pyenv 3.12.1 with maturin and auditwheel (the wheel:
#                                      scripts/build-wheel.sh, tests/ship.rs)
#   $LEAKSPY_CACHE/venv-fleet-3.12.1   venv of pyenv 3.12.1 with gunicorn and uWSGI (built from its
#                                      sdist: the one source build; tests/fleet.rs)
#   $LEAKSPY_CACHE/venvs.tsv  one line per venv: name (venv dir without "venv-") <TAB> python path
# The venvs' packages are exact pins (below), installed from PyPI as wheels only (no source builds
# but those named in SOURCE_BUILDS: uWSGI),
# --no-deps, then `pip check` proves the pinned set is complete. A venv is re-created when its
# interpreter or pin list changes; its install log is $LEAKSPY_CACHE/venv-NAME.log.
# Host packages: debootstrap, gdb (gcore), libpython3.11-dev (headers of the host's Debian 3.11), file
# and binutils (readelf). debootstrap uses the Debian archive this machine's apt sources name (deb822
# /etc/apt/sources.list.d/*.sources or one-line sources.list/*.list; not -security), else
# $LEAKSPY_DEBIAN_MIRROR.
# pyenv interpreters (3.6.15 … 3.13.0): `pyenv install -s` under $PYENV_ROOT (skips what is installed;
# a missing one is built from source, with CPython's build dependencies installed first; pyenv itself
# is cloned into $PYENV_ROOT when absent). Building needs python.org (and cloning GitHub), which this
# project's machines cannot reach: there the image's pyenv builds are used as they are, and a missing
# one fails the run with pyenv's download error.
set -euo pipefail

CACHE=${LEAKSPY_CACHE:-/var/cache/leakspy}
PYENV_ROOT=${PYENV_ROOT:-/root/.pyenv}
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

log() { printf 'setup-pythons: %s\n' "$*" >&2; }

# debian_mirror: print the Debian archive URI the machine's apt sources use (deb822 *.sources or
# one-line sources.list / *.list), or nothing. The main archive only: not -security, -updates,
# -backports, nor third-party repositories (their suites are not Debian's, e.g. "nodistro").
debian_mirror() {
  local files=() f
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk '
    function debian_suite(s) {
      return s ~ /^(buster|bullseye|bookworm|trixie|forky|duke|sid|unstable|testing|stable|oldstable|oldoldstable)$/
    }
    function consider(types, uris, suites,   n, i, u, m, j, k, su) {
      if (types !~ /(^|[ \t])deb([ \t]|$)/) return
      m = split(suites, su, /[ \t]+/)
      for (j = 1; j <= m; j++) if (debian_suite(su[j])) break
      if (j > m) return
      n = split(uris, u, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (u[i] !~ /^(https?|file):/ || u[i] ~ /debian-security/) continue
        sub(/\/+$/, "", u[i])
        # a URI ending in /debian is the archive itself: take it at once
        if (u[i] ~ /\/debian$/) { print u[i]; found = 1; exit }
        if (first == "") first = u[i]
      }
    }
    FNR == 1 { if (in_stanza) consider(t, us, s); in_stanza = 0; t = us = s = ""; deb822 = (FILENAME ~ /\.sources$/) }
    /^[ \t]*#/ { next }
    deb822 {
      if ($0 ~ /^[ \t]*$/) { if (in_stanza) consider(t, us, s); in_stanza = 0; t = us = s = ""; next }
      in_stanza = 1
      line = $0; key = tolower(line); sub(/:.*/, "", key); sub(/^[^:]*:[ \t]*/, "", line)
      if (key == "types") t = line; else if (key == "uris") us = line; else if (key == "suites") s = line
      next
    }
    $1 == "deb" {
      i = 2
      if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      consider("deb", $i, $(i + 1))
    }
    END { if (!found && in_stanza) consider(t, us, s); if (!found && first != "") print first }
  ' "${files[@]}" | head -1
}

# debootstrap's mirror: the Debian archive this machine's apt sources name; else
# $LEAKSPY_DEBIAN_MIRROR. Looked up only when a chroot has to be (re)made.
MIRROR=
resolve_mirror() {
  [ -n "$MIRROR" ] && return 0
  MIRROR=$(debian_mirror)
  MIRROR=${MIRROR:-${LEAKSPY_DEBIAN_MIRROR:-}}
  if [ -z "$MIRROR" ]; then
    log "no Debian archive found in /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources}; set LEAKSPY_DEBIAN_MIRROR=URL"
    exit 1
  fi
  log "Debian mirror: $MIRROR"
}

need_host_pkgs=()
command -v debootstrap >/dev/null || need_host_pkgs+=(debootstrap)
command -v gdb >/dev/null || need_host_pkgs+=(gdb)
[ -e /usr/include/python3.11/Python.h ] || need_host_pkgs+=(libpython3.11-dev)
# tests/ship.rs: `file` and `readelf` say the binary is static; unshare/chroot/mount run it alone.
command -v file >/dev/null || need_host_pkgs+=(file)
command -v readelf >/dev/null || need_host_pkgs+=(binutils)
command -v unshare >/dev/null || need_host_pkgs+=(util-linux)
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
  resolve_mirror
  log "debootstrap $suite into $dir: $*"
  rm -rf "$dir" "$dir.tmp"
  local inc; inc=$(IFS=,; echo "$*")
  debootstrap --variant=minbase --include="$inc" "$suite" "$dir.tmp" "$MIRROR" >"$CACHE/$name.log" 2>&1 || {
    tail -20 "$CACHE/$name.log" >&2; log "debootstrap of $suite failed (log: $CACHE/$name.log)"; exit 1; }
  mv "$dir.tmp" "$dir"
  echo "$want" >"$dir/.leakspy-ok"
}

PYENV_VERSIONS=(3.6.15 3.7.16 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0)
missing_pyenv=()
for v in "${PYENV_VERSIONS[@]}"; do
  [ -d "$PYENV_ROOT/versions/$v" ] || missing_pyenv+=("$v")
done
if [ ${#missing_pyenv[@]} -gt 0 ]; then
  if [ ! -x "$PYENV_ROOT/bin/pyenv" ]; then
    log "cloning pyenv into $PYENV_ROOT"
    command -v git >/dev/null || { apt-get update -qq; apt-get install -y -qq git >/dev/null; }
    git clone -q --depth 1 https://github.com/pyenv/pyenv.git "$PYENV_ROOT"
  fi
  log "building pyenv interpreters (takes a while): ${missing_pyenv[*]}"
  # CPython's build dependencies (pyenv's wiki, "Suggested build environment", Debian).
  apt-get update -qq
  apt-get install -y -qq build-essential libssl-dev zlib1g-dev libbz2-dev libreadline-dev \
    libsqlite3-dev curl libncurses-dev xz-utils tk-dev libxml2-dev libxmlsec1-dev libffi-dev \
    liblzma-dev >/dev/null
fi
# Always run: `install -s` is a no-op for an installed version (idempotent), builds a missing one.
# --enable-shared: the matrix's pyenv builds are the libpython*.so kind (docs/testing.md, Supported versions).
for v in "${PYENV_VERSIONS[@]}"; do
  PYENV_ROOT=$PYENV_ROOT PYTHON_CONFIGURE_OPTS="--enable-shared" \
    "$PYENV_ROOT/bin/pyenv" install -s "$v" >&2 || {
    log "pyenv install $v failed"; exit 1; }
done

make_chroot sid sid python3.13 python3.14 python3.15 libpython3.13-dev libpython3.14-dev libpython3.15-dev \
  python3.13-dbg python3.14-dbg python3.15-dbg
make_chroot bullseye bullseye python3.9 libpython3.9-dev
bash "$(dirname "$0")/setup-python313t.sh"  # free-threaded 3.13t built in the sid chroot (cached)

matrix="$CACHE/matrix.tsv.tmp"
: >"$matrix"
add() { # name root python
  local name=$1 root=$2 py=$3
  if [ ! -x "$root${py}" ] && [ ! -x "$(readlink -f "$root$py" 2>/dev/null)" ]; then
    log "missing interpreter $name at $root$py"; exit 1
  fi
  printf '%s\t%s\t%s\n' "$name" "$root" "$py" >>"$matrix"
}
for v in "${PYENV_VERSIONS[@]}"; do
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
# Free-threaded (--disable-gil) 3.13, built from Debian's source package by setup-python313t.sh.
add debian-sid-3.13t "$CACHE/sid" /opt/python3.13t/bin/python3.13t
mv "$matrix" "$CACHE/matrix.tsv"

# make_venv NAME PYTHON PINS...   (re-created when the interpreter or the pin list changes)
make_venv() {
  local name=$1 base=$2; shift 2
  local dir="$CACHE/venv-$name" want="$base $*${SOURCE_BUILDS:+ (from source: $SOURCE_BUILDS)}" py
  py="$dir/bin/$(basename "$base")"
  if [ -f "$dir/.leakspy-ok" ] && [ "$(cat "$dir/.leakspy-ok")" = "$want" ] && [ -x "$py" ]; then
    printf '%s\t%s\n' "$name" "$py" >>"$venvs"
    return 0
  fi
  log "venv $dir: $*"
  rm -rf "$dir"
  # built in place (a venv's scripts and pyvenv.cfg name its directory); the marker is written last
  if ! { "$base" -m venv "$dir" &&
         PIP_DISABLE_PIP_VERSION_CHECK=1 "$py" -m pip install --no-input --no-deps --only-binary=:all: \
           ${SOURCE_BUILDS:+--no-binary="$SOURCE_BUILDS"} "$@" &&
         PIP_DISABLE_PIP_VERSION_CHECK=1 "$py" -m pip check; } >"$CACHE/venv-$name.log" 2>&1; then
    tail -20 "$CACHE/venv-$name.log" >&2; log "venv $name failed (log: $CACHE/venv-$name.log)"
    rm -rf "$dir"; exit 1
  fi
  echo "$want" >"$dir/.leakspy-ok"
  printf '%s\t%s\n' "$name" "$py" >>"$venvs"
}

# numpy 2.x: the newest release with a cp3X manylinux x86_64 wheel for each interpreter.
declare -A NUMPY_PIN=([3.9.18]=2.0.2 [3.10.13]=2.2.6 [3.11.7]=2.4.6 [3.12.1]=2.5.5 [3.13.0]=2.5.5)
# The service venvs: the direct packages, then everything they pull in (pip check enforces it).
SERVICE_PINS=(pandas==3.1.1 pydantic==2.14.4 SQLAlchemy==2.1.9 Jinja2==3.1.6 requests==2.34.2
  pydantic_core==2.50.5 annotated-types==0.8.0 typing_extensions==4.16.0 typing-inspection==0.4.5
  python-dateutil==4.0.0 tzdata==2026.6 MarkupSafe==3.0.4
  certifi==2026.10.19.post1 charset-normalizer==3.5.3 idna==3.20 urllib3==2.8.0)
venvs="$CACHE/venvs.tsv.tmp"
: >"$venvs"
for v in 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0; do
  make_venv "numpy-$v" "$PYENV_ROOT/versions/$v/bin/python${v%.*}" "numpy==${NUMPY_PIN[$v]}"
done
make_venv numpy1-3.11.7 "$PYENV_ROOT/versions/3.11.7/bin/python3.11" numpy==1.26.4
for v in 3.11.7 3.12.1; do
  make_venv "service-$v" "$PYENV_ROOT/versions/$v/bin/python${v%.*}" "numpy==${NUMPY_PIN[$v]}" "${SERVICE_PINS[@]}"
done
# Packaging tools (scripts/build-wheel.sh, tests/ship.rs): maturin builds the wheel, auditwheel
# checks its platform tag.
make_venv ship-tools-3.12.1 "$PYENV_ROOT/versions/3.12.1/bin/python3.12" \
  maturin==1.16.0 auditwheel==6.8.2 pyelftools==0.33 packaging==26.4
# Master/worker servers (tests/fleet.rs, `--subprocesses`): gunicorn (a wheel) and uWSGI, which PyPI
# ships only as an sdist: SOURCE_BUILDS lets pip build it here with the machine's C compiler
# (it links the venv's libpython; needs gcc and the interpreter's headers, which pyenv installs).
SOURCE_BUILDS=uwsgi make_venv fleet-3.12.1 "$PYENV_ROOT/versions/3.12.1/bin/python3.12" \
  gunicorn==27.0.1 uwsgi==2.0.31
mv "$venvs" "$CACHE/venvs.tsv"

log "matrix: $CACHE/matrix.tsv"
echo "$CACHE/matrix.tsv"
