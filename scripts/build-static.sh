#!/usr/bin/env bash
# Builds hostmatch-entrypoint as a static binary (no dynamic libraries, runs in
# Debian, busybox and shell-less images) and prints its path.
#
#   scripts/build-static.sh      # -> target/x86_64-unknown-linux-gnu/release-small/hostmatch-entrypoint
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile release-small \
  --target x86_64-unknown-linux-gnu -p hostmatch-entrypoint >&2
bin="$PWD/target/x86_64-unknown-linux-gnu/release-small/hostmatch-entrypoint"
test -x "$bin"
echo "$bin"
