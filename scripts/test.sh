#!/usr/bin/env bash
# Runs every test of hostmatch: unit, property, root and end-to-end (real dockerd).
# Installs what it needs when missing (as root), builds the test images once
# (cached under target/), starts private dockerd instances and always stops them.
#
#   sudo scripts/test.sh            # everything
#   sudo scripts/test.sh -E 'test(map)'   # extra arguments go to cargo nextest
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

# --- prerequisites -------------------------------------------------------
need_pkgs=()
for pair in dockerd:docker.io debootstrap:debootstrap busybox:busybox-static \
            setfacl:acl bindfs:bindfs newuidmap:uidmap hyperfine:hyperfine; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${need_pkgs[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
  else
    log "WARNING: missing ${need_pkgs[*]} (not root or no apt-get): tests needing them will skip"
  fi
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# --- build ---------------------------------------------------------------
log "building"
cargo build --workspace --all-targets

# --- run -----------------------------------------------------------------
log "running tests"
cargo nextest run --workspace --profile "${NEXTEST_PROFILE:-default}" "$@"
