#!/usr/bin/env bash
# The static leakspy binary: one file that runs on any x86_64 Linux (old glibc, musl, distroless,
# FROM scratch, a `kubectl debug` container it is copied into).
#
#   scripts/build-static.sh [OUTDIR]     # default dist/
#
# Writes OUTDIR/leakspy (glibc static-pie, stripped) and
# OUTDIR/leakspy-VERSION-x86_64-linux.tar.gz (the binary, its man page, bash/zsh/fish completions),
# with OUTDIR/SHA256SUMS. Respects CARGO_TARGET_DIR.
#
# How it links statically: `cargo rustc ... -- -C target-feature=+crt-static` gives the flag to the
# leakspy crate alone, exactly as the wheel's build does (pyproject.toml: rustc-args, strip), so this
# binary and the wheel's are the same build (one compile serves both). The flag in RUSTFLAGS or
# .cargo/config.toml without --target would also reach the proc-macro crates (clap_derive, serde's),
# which fails ("cannot produce proc-macro ... does not support these crate types") when the host is
# the target. The equivalent for `cargo install` is
#   RUSTFLAGS="-C target-feature=+crt-static" cargo install --path . --target x86_64-unknown-linux-gnu
# (with --target, RUSTFLAGS skips build scripts and proc-macros).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist}
# Keep in step with pyproject.toml's [tool.maturin] rustc-args + strip (same order: same build).
STATIC_ARGS=(-C target-feature=+crt-static -C strip=symbols)

[ "$(uname -m)" = x86_64 ] || { echo "build-static: x86_64 Linux only" >&2; exit 1; }
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
version=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"name":"leakspy","version":"\([^"]*\)".*/\1/p')
[ -n "$target_dir" ] && [ -n "$version" ] || { echo "build-static: cargo metadata failed" >&2; exit 1; }

start=$(date +%s)
cargo rustc --locked --release --bin leakspy -- "${STATIC_ARGS[@]}"
bin="$target_dir/release/leakspy"

# It must really be static: no program interpreter, no shared library.
if readelf -lW "$bin" | grep -q 'Requesting program interpreter' ||
   readelf -dW "$bin" | grep -q '(NEEDED)'; then
  echo "build-static: $bin is not static:" >&2
  readelf -dW "$bin" | grep NEEDED >&2 || true
  exit 1
fi

mkdir -p "$out"
cp "$bin" "$out/leakspy.tmp" && mv "$out/leakspy.tmp" "$out/leakspy"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
name="leakspy-$version-x86_64-linux"
mkdir -p "$stage/$name/share/man/man1" "$stage/$name/share/bash-completion/completions" \
  "$stage/$name/share/zsh/site-functions" "$stage/$name/share/fish/vendor_completions.d"
cp "$bin" "$stage/$name/leakspy"
"$bin" man >"$stage/$name/share/man/man1/leakspy.1"
"$bin" completions bash >"$stage/$name/share/bash-completion/completions/leakspy"
"$bin" completions zsh >"$stage/$name/share/zsh/site-functions/_leakspy"
"$bin" completions fish >"$stage/$name/share/fish/vendor_completions.d/leakspy.fish"
tar -C "$stage" --owner=0 --group=0 --sort=name -czf "$out/$name.tar.gz" "$name"
(cd "$out" && sha256sum leakspy "$name.tar.gz" >SHA256SUMS)

echo "build-static: $out/leakspy ($(stat -c %s "$out/leakspy") bytes), $out/$name.tar.gz, in $(( $(date +%s) - start )) s" >&2
"$out/leakspy" --version >&2
