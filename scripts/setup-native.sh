#!/usr/bin/env bash
# Host packages tests/native.rs needs (idempotent; run by scripts/test.sh after setup-pythons.sh):
# libc6-dbg, the separate debug file of the host's libc (/usr/lib/debug/.build-id/...), so that gdb
# (the tests' truth) and leakspy both name libc's frames from DWARF the way a user with debug
# packages sees them. gdb and the C compiler come from setup-pythons.sh. The sid chroots already hold
# their interpreters' debug files (python3.X-dbg, installed by setup-pythons.sh).
set -euo pipefail
libc=$(ldconfig -p | awk '/libc\.so\.6 .*x86-64/{print $NF; exit}')
id=$(readelf -n "$libc" | awk '/Build ID/{print $3; exit}')
if [ -n "$id" ] && [ -e "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" ]; then
  exit 0
fi
apt-get -o Acquire::Check-Valid-Until=false update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dbg >/dev/null
