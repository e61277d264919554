#!/usr/bin/env bash
# The Python wheel: dist/leakspy-VERSION-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl.
#
#   scripts/build-wheel.sh [OUTDIR]      # default dist/
#
# `pip install dist/leakspy-*.whl` (any Python 3, any venv) puts the static `leakspy` binary on
# PATH, its man page in share/man/man1 (`man leakspy` finds it from the venv's bin/ on PATH) and the
# bash, zsh and fish completions in share/bash-completion/completions, share/zsh/site-functions and
# share/fish/vendor_completions.d.
#
# maturin comes from $MATURIN, else PATH, else the venv scripts/setup-pythons.sh makes
# ($LEAKSPY_CACHE/venv-ship-tools-3.12.1); `pip install maturin` is enough. Respects CARGO_TARGET_DIR.
#
# Steps: maturin builds the wheel (pyproject.toml: static binary, manylinux_2_17); the binary in it
# writes its man page and completions into leakspy.data/ (maturin's data directory, next to
# pyproject.toml; removed again); maturin packs the wheel again with them (no recompile); the
# wheel's tag is checked with auditwheel when it is installed next to maturin.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

cache=${LEAKSPY_CACHE:-/var/cache/leakspy}
maturin=${MATURIN:-}
if [ -z "$maturin" ]; then
  if command -v maturin >/dev/null; then
    maturin=$(command -v maturin)
  elif [ -x "$cache/venv-ship-tools-3.12.1/bin/maturin" ]; then
    maturin=$cache/venv-ship-tools-3.12.1/bin/maturin
  else
    echo "build-wheel: no maturin: pip install maturin, or run scripts/setup-pythons.sh" >&2
    exit 1
  fi
fi
auditwheel=$(dirname "$maturin")/auditwheel

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
mkdir -p "$target_dir"
# One build at a time per target directory (leakspy.data/ is shared).
exec 8>"$target_dir/.leakspy-build-wheel.lock"
flock 8

data="$root/leakspy.data"
stage=$(mktemp -d)
cleanup() { rm -rf "$data" "$stage"; }
trap cleanup EXIT
rm -rf "$data"

start=$(date +%s)
"$maturin" build --locked --release --out "$stage/first" >&2
first=$(ls "$stage"/first/leakspy-*.whl)

# The man page and completions, written by the binary the wheel carries.
mkdir -p "$stage/bin"
python3 - "$first" "$stage/bin/leakspy" <<'PY'
import sys, zipfile, os
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith(".data/scripts/leakspy"))
    with z.open(name) as src, open(dest, "wb") as dst:
        dst.write(src.read())
os.chmod(dest, 0o755)
PY
bin="$stage/bin/leakspy"
share="$data/data/share"
mkdir -p "$share/man/man1" "$share/bash-completion/completions" "$share/zsh/site-functions" \
  "$share/fish/vendor_completions.d"
"$bin" man >"$share/man/man1/leakspy.1"
"$bin" completions bash >"$share/bash-completion/completions/leakspy"
"$bin" completions zsh >"$share/zsh/site-functions/_leakspy"
"$bin" completions fish >"$share/fish/vendor_completions.d/leakspy.fish"

"$maturin" build --locked --release --out "$stage/final" >&2
wheel=$(ls "$stage"/final/leakspy-*.whl)
case "$(basename "$wheel")" in
  *-py3-none-*manylinux_2_17_x86_64*.whl) ;;
  *) echo "build-wheel: unexpected wheel tag: $(basename "$wheel")" >&2; exit 1 ;;
esac
if [ -x "$auditwheel" ]; then
  "$auditwheel" show "$wheel" >&2
  "$auditwheel" show "$wheel" 2>&1 | grep -q 'requires no external shared libraries' || {
    echo "build-wheel: auditwheel finds shared libraries in $wheel" >&2; exit 1; }
fi
mv "$wheel" "$out/"
echo "build-wheel: $out/$(basename "$wheel") ($(stat -c %s "$out/$(basename "$wheel")") bytes) in $(( $(date +%s) - start )) s" >&2
echo "$out/$(basename "$wheel")"
