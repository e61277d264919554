#!/usr/bin/env bash
# What tests/formats.rs needs to check leakspy's exports with the consumers people use (idempotent,
# cached in $LEAKSPY_CACHE, default /var/cache/leakspy):
# - npm packages in $LEAKSPY_CACHE/npm-formats: @memlab/core and @memlab/heap-analysis (read
#   .heapsnapshot files; Puppeteer's browser download disabled), pprof-format (decodes pprof),
#   speedscope (its file-format schema) and ajv (to validate against it);
# - Debian's chromium (headless, for the --html report).
set -euo pipefail
cache=${LEAKSPY_CACHE:-/var/cache/leakspy}
dir=$cache/npm-formats
stamp=$dir/.installed-v2
if [ ! -e "$stamp" ]; then
    mkdir -p "$dir"
    [ -e "$dir/package.json" ] || echo '{"name":"leakspy-formats-tests","private":true}' >"$dir/package.json"
    PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 npm install --prefix "$dir" \
        --no-audit --no-fund --loglevel=error \
        @memlab/core@1 @memlab/heap-analysis@1 pprof-format@2 speedscope@1 ajv@8 >&2
    touch "$stamp"
fi
if ! command -v chromium >/dev/null 2>&1; then
    apt-get -o Acquire::Check-Valid-Until=false update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
fi
