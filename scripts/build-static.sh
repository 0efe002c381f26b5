#!/usr/bin/env bash
# Builds hostmatch-entrypoint as a static binary (no dynamic libraries, runs in
# Debian, busybox and shell-less images) and prints its path.
#
#   scripts/build-static.sh      # -> target/x86_64-unknown-linux-gnu/release-small/hostmatch-entrypoint
#
# With --fault-injection: the test-only build whose account change can be killed
# or failed at named points (root tests of a cut-short start), in its own target
# directory (target/fault-injection/...) so that it never replaces the real one.
# That build refuses to run setuid; never ship it (docs/threat-model.md).
set -euo pipefail
cd "$(dirname "$0")/.."
features=() target_dir="${CARGO_TARGET_DIR:-target}"
if [ "${1:-}" = --fault-injection ]; then
  features=(--features fault-injection)
  target_dir="$target_dir/fault-injection"
fi
RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$target_dir" cargo build \
  --profile release-small --target x86_64-unknown-linux-gnu -p hostmatch-entrypoint \
  "${features[@]}" >&2
bin="$PWD/$target_dir/x86_64-unknown-linux-gnu/release-small/hostmatch-entrypoint"
case "$target_dir" in /*) bin="$target_dir/x86_64-unknown-linux-gnu/release-small/hostmatch-entrypoint" ;; esac
test -x "$bin"
echo "$bin"
