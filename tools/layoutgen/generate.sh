#!/usr/bin/env bash
# Regenerate python-layouts/*.toml from real CPython header sets.
#
#   tools/layoutgen/generate.sh           # (re)write python-layouts/*.toml
#   tools/layoutgen/generate.sh --check   # regenerate into a temp dir, diff against the committed files
#                                         # (exit 1 on any difference)
#
# Needs: gcc, the pyenv interpreters (/root/.pyenv/versions/...) and the Debian chroots made by
# scripts/setup-pythons.sh ($LEAKSPY_CACHE, default /var/cache/leakspy/{sid,bullseye}), plus the
# host's libpython3.11-dev.
#
# Each header set is compiled into tools/layoutgen/layoutgen.c, which names its output file
# (3.X.toml or 3.X-<variant>.toml) and prints the layout. Header sets that land in the same file must
# produce byte-identical layouts; they then share the file and are all listed in [python].provenance.
# If two of them differ, this script stops: the difference needs a named variant (and a run-time
# detection rule) in layoutgen.c.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
CACHE=${LEAKSPY_CACHE:-/var/cache/leakspy}
PYENV_ROOT=${PYENV_ROOT:-/root/.pyenv}
CC=${CC:-gcc}

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# label | include dir | root whose usr/include holds x86_64-linux-gnu/python3.X/pyconfig.h ("" = host)
# | dpkg package to report the version of ("" = pyenv) | extra compiler flags
# Free-threaded (3.Xt.toml): 3.13t from the interpreter scripts/setup-python313t.sh builds in the sid
# chroot (its own pyconfig.h defines Py_GIL_DISABLED); 3.14t/3.15t from Debian's default-build -dev
# headers compiled with -DPy_GIL_DISABLED (no free-threaded 3.14/3.15 can be built here).
sets=(
  "pyenv 3.6.15|$PYENV_ROOT/versions/3.6.15/include/python3.6m||"
  "pyenv 3.7.16|$PYENV_ROOT/versions/3.7.16/include/python3.7m||"
  "pyenv 3.8.18|$PYENV_ROOT/versions/3.8.18/include/python3.8||"
  "pyenv 3.9.18|$PYENV_ROOT/versions/3.9.18/include/python3.9||"
  "Debian bullseye|$CACHE/bullseye/usr/include/python3.9|$CACHE/bullseye|libpython3.9-dev"
  "pyenv 3.10.13|$PYENV_ROOT/versions/3.10.13/include/python3.10||"
  "pyenv 3.11.7|$PYENV_ROOT/versions/3.11.7/include/python3.11||"
  "Debian host|/usr/include/python3.11|/|libpython3.11-dev"
  "pyenv 3.12.1|$PYENV_ROOT/versions/3.12.1/include/python3.12||"
  "pyenv 3.13.0|$PYENV_ROOT/versions/3.13.0/include/python3.13||"
  "Debian sid|$CACHE/sid/usr/include/python3.13|$CACHE/sid|libpython3.13-dev"
  "Debian sid|$CACHE/sid/usr/include/python3.14|$CACHE/sid|libpython3.14-dev"
  "Debian sid|$CACHE/sid/usr/include/python3.15|$CACHE/sid|libpython3.15-dev"
  "Debian python3.13 3.13.15-1 source built --disable-gil (scripts/setup-python313t.sh)|$CACHE/sid/opt/python3.13t/include/python3.13t||"
  "Debian sid|$CACHE/sid/usr/include/python3.14|$CACHE/sid|libpython3.14-dev|-DPy_GIL_DISABLED=1"
  "Debian sid|$CACHE/sid/usr/include/python3.15|$CACHE/sid|libpython3.15-dev|-DPy_GIL_DISABLED=1"
)

names=()   # output file per set, same index as sets
provs=()   # provenance line per set
shorts=()  # short label per set (for drift notes)
i=0
for entry in "${sets[@]}"; do
  IFS='|' read -r label inc root pkg extra <<<"$entry"
  if [ ! -f "$inc/Python.h" ]; then
    echo "generate.sh: missing header set $inc ($label); run scripts/setup-pythons.sh" >&2
    exit 1
  fi
  flags=(-std=gnu11 -O0 -DPy_BUILD_CORE=1 ${extra:+"$extra"} -I"$inc" -I"$inc/internal")
  if [ -n "$root" ] && [ "$root" != / ]; then
    # the Debian pyconfig.h does #include <x86_64-linux-gnu/python3.X/pyconfig.h>; point only that
    # directory into the chroot (not the chroot's glibc headers, which are newer than the host gcc's)
    shim="$work/shim$i/x86_64-linux-gnu"
    mkdir -p "$shim"
    ln -s "$root/usr/include/x86_64-linux-gnu/$(basename "$inc")" "$shim/"
    flags+=(-I"$work/shim$i")
  fi
  bin="$work/layoutgen$i"
  if ! "$CC" "${flags[@]}" -o "$bin" "$here/layoutgen.c" 2>"$work/cc$i.log"; then
    cat "$work/cc$i.log" >&2
    echo "generate.sh: compiling against $inc failed" >&2
    exit 1
  fi
  pyver=$(sed -n 's/^#define PY_VERSION[[:space:]]*"\(.*\)".*/\1/p' "$inc/patchlevel.h")
  if [ -n "$pkg" ]; then
    admin=/var/lib/dpkg
    [ "$root" != / ] && admin="$root/var/lib/dpkg"
    debver=$(dpkg-query --admindir="$admin" -W -f '${Version}' "$pkg" 2>/dev/null || echo unknown)
    shown_inc=$inc
    shorts+=("$label $pkg $debver")
    provs+=("headers: $label $pkg $debver (PY_VERSION $pyver), $shown_inc + $( [ "$root" = / ] && echo "" || echo "$root")/usr/include/x86_64-linux-gnu/$(basename "$inc")/pyconfig.h${extra:+, compiled with $extra}")
  else
    shorts+=("$label")
    provs+=("headers: $label (PY_VERSION $pyver), $inc")
  fi
  names+=("$("$bin" --name)")
  "$bin" >"$work/body$i"
  i=$((i + 1))
done

outdir="$repo/python-layouts"
[ $check = 1 ] && outdir="$work/out" && mkdir -p "$outdir"

# "section.key = value" lines of a generated body, [python] left out
flatten() {
  awk '/^\[/ { sec = substr($0, 2, length($0) - 2); next }
       sec != "python" && /^[a-z_0-9]+ = / { k = $1; sub(/^[a-z_0-9]+ = /, ""); print sec "." k " = " $0 }' "$1"
}
# (3.Xt, free-threaded, is its own kind: no drift notes between it and the default build's files)
minor_of() { sed 's/^\(3\.[0-9]*t\?\).*/\1/' <<<"$1"; }

# Provenance note for header sets of the same minor that went to another file (variants): which
# schema fields differ, with both values. This is how within-minor drift gets recorded.
drift_note() { # drift_note INDEX_HERE INDEX_THERE
  local h=$1 t=$2 keys
  keys=$(diff <(flatten "$work/body$h") <(flatten "$work/body$t") | sed -n 's/^[<>] \([^ ]*\) = .*/\1/p' | awk '!seen[$0]++')
  [ -z "$keys" ] && return 0
  local parts=() k vh vt
  for k in $keys; do
    vh=$(flatten "$work/body$h" | sed -n "s/^$k = //p"); vt=$(flatten "$work/body$t" | sed -n "s/^$k = //p")
    parts+=("$k ${vh:-absent} here vs ${vt:-absent}")
  done
  local IFS=';'
  echo "compared with ${shorts[$t]} (-> ${names[$t]}): ${parts[*]}" | sed 's/;/; /g'
}

tool_line="values: offsetof/sizeof/header macros from tools/layoutgen/layoutgen.c compiled with the host gcc (-DPy_BUILD_CORE=1) against each header set above; str state and tstate._status bits measured on zeroed structs; behaviour constants cited in layoutgen.c"

written=()
for ((a = 0; a < ${#names[@]}; a++)); do
  name=${names[$a]}
  case " ${written[*]-} " in *" $name "*) continue ;; esac
  members=()
  for ((c = 0; c < ${#names[@]}; c++)); do
    [ "${names[$c]}" = "$name" ] && members+=("$c")
  done
  first=${members[0]}
  args=()
  for m in "${members[@]}"; do
    if ! cmp -s "$work/body$first" "$work/body$m"; then
      echo "generate.sh: header sets of $name disagree:" >&2
      echo "  ${provs[$first]}" >&2
      echo "  ${provs[$m]}" >&2
      diff -u "$work/body$first" "$work/body$m" >&2 || true
      echo "generate.sh: give one of them a named variant in layoutgen.c" >&2
      exit 1
    fi
    args+=("${provs[$m]}")
  done
  for ((c = 0; c < ${#names[@]}; c++)); do
    if [ "${names[$c]}" != "$name" ] && [ "$(minor_of "${names[$c]}")" = "$(minor_of "$name")" ]; then
      note=$(drift_note "$first" "$c")
      [ -n "$note" ] && args+=("$note")
    fi
  done
  args+=("$tool_line")
  {
    echo "# generated by tools/layoutgen/generate.sh — do not edit"
    echo "# schema: crates/leakspy-layout/src/schema.rs; regenerate with tools/layoutgen/generate.sh,"
    echo "# verify with tools/layoutgen/generate.sh --check and tools/layoutgen/crosscheck.py"
    "$work/layoutgen$first" "${args[@]}"
  } >"$outdir/$name"
  written+=("$name")
done

if [ $check = 1 ]; then
  status=0
  for name in "${written[@]}"; do
    if ! diff -u "$repo/python-layouts/$name" "$outdir/$name"; then
      status=1
    fi
  done
  for f in "$repo"/python-layouts/*.toml; do
    n=$(basename "$f")
    [ "$n" = numpy.toml ] && continue   # tools/layoutgen/numpy.sh --check owns it
    case " ${written[*]} " in *" $n "*) ;; *) echo "generate.sh: $n is not produced by any header set" >&2; status=1 ;; esac
  done
  [ $status = 0 ] && echo "generate.sh --check: ${#written[@]} layout files up to date"
  exit $status
fi
echo "generate.sh: wrote ${written[*]}" >&2
