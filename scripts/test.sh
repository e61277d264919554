#!/usr/bin/env bash
# The project's test command (README "Try it, and run the tests"; what each test checks: docs/testing.md;
# .ci/run calls it).
#
# 1. sets up every interpreter of the matrix (scripts/setup-pythons.sh: idempotent, cached outside the
#    clone in $LEAKSPY_CACHE, default /var/cache/leakspy);
# 2. checks that python-layouts/ is exactly what tools/layoutgen produces from the real headers;
# 3. rustfmt --check, then clippy with warnings as errors;
# 4. all tests: unit tests of the decoders and readers, then the live tests that dump a real target on
#    every interpreter of the matrix (a missing interpreter fails; LEAKSPY_SKIP_MISSING_PYTHONS=1 is an
#    explicit local opt-out, ignored when CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== setting up interpreters" >&2
bash scripts/setup-pythons.sh >/dev/null
bash scripts/setup-formats.sh >/dev/null  # npm packages and chromium for tests/formats.rs
bash scripts/setup-native.sh >/dev/null

echo "== checking python-layouts against the headers" >&2
bash tools/layoutgen/generate.sh --check
bash tools/layoutgen/numpy.sh --check

echo "== rustfmt" >&2
cargo fmt --all -- --check

echo "== clippy" >&2
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== tests" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --profile ci --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (cargo prints one "test result" per binary; the last ones
# are doc-test binaries with nothing in them).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
