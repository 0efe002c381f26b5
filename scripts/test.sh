#!/usr/bin/env bash
# Runs every test of hostmatch: unit, property, root and end-to-end (real dockerd).
# Installs what it needs when missing (as root), builds the test images once
# (cached under target/), starts private dockerd instances and always stops them.
#
#   sudo scripts/test.sh            # everything
#   sudo scripts/test.sh -E 'test(map)'   # extra arguments go to cargo nextest
#
# See docs/testing.md (what skips locally, what fails with CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

# --- stage timing ---------------------------------------------------------
stage_names=() stage_secs=()
stage_t0=0 stage_cur=""
now() { date +%s.%N; }
stage() { # stage NAME: ends the current stage, starts NAME
  local t; t=$(now)
  if [ -n "$stage_cur" ]; then
    stage_names+=("$stage_cur"); stage_secs+=("$(awk -v a="$t" -v b="$stage_t0" 'BEGIN { printf "%.1f", a - b }')")
  fi
  stage_cur=$1 stage_t0=$t
  [ -n "$1" ] && log "$1"
  return 0
}

testkit_bin="${CARGO_TARGET_DIR:-target}/debug/hostmatch-testkit"

# Always: stop and remove what test processes left (private dockerds and their
# containerd, Podman fixtures and their containers, mounts, test users, subid lines).
# Only leftovers whose test process is gone are touched: daemons and fixtures of other
# live runs on this machine are left alone.
finish() {
  local rc=$?
  set +e
  stage "cleanup"
  if [ -n "${images_pid:-}" ]; then kill -- "-$images_pid" 2>/dev/null; wait "$images_pid" 2>/dev/null; fi
  if [ -x "$testkit_bin" ] && [ "$(id -u)" = 0 ]; then
    "$testkit_bin" cleanup
    left=$(for d in /tmp/hostmatch-testkit/d/*/ /tmp/hostmatch-testkit/p/*/; do [ -d "$d" ] && echo "$d"; done)
    [ -n "$left" ] && log "daemon and Podman directories of other live runs remain: $left"
  fi
  stage ""
  log "stage wall times:"
  for i in "${!stage_names[@]}"; do
    printf '   %-14s %7.1fs\n' "${stage_names[$i]}" "${stage_secs[$i]}" >&2
  done
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

# --- prerequisites -------------------------------------------------------
stage "prerequisites"
need_pkgs=()
# Podman (rootful and rootless fixtures, docs/testing.md): podman with runc (Debian's
# podman prefers crun, which refuses cgroup v1 hybrid machines), catatonit (`--init`, and
# the pause image `podman kube play` builds locally), uidmap (newuidmap/newgidmap for
# rootless), nsenter (util-linux) to enter a rootful fixture's namespaces; Debian's
# docker-compose for the Compose recipe; sudo for the README recipes that use it;
# systemd-socket-activate (systemd) to start a dockerd as docker.socket does (`-H fd://`).
for pair in dockerd:docker.io debootstrap:debootstrap busybox:busybox-static \
            setfacl:acl bindfs:bindfs newuidmap:uidmap hyperfine:hyperfine \
            setpriv:util-linux nsenter:util-linux setcap:libcap2-bin getfacl:acl \
            podman:podman runc:runc catatonit:catatonit docker-compose:docker-compose \
            sudo:sudo systemd-socket-activate:systemd; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# The test images need the static busybox (the dynamic one cannot run in a scratch image).
if command -v busybox >/dev/null 2>&1 && ! dpkg -s busybox-static >/dev/null 2>&1 \
   && command -v dpkg >/dev/null; then
  need_pkgs+=(busybox-static)
fi
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

# --- build, and the test images (once; cached in target/hostmatch-images) ---
# The images (debootstrap: mostly network and disk) are built in the background while
# cargo builds (CPU), before any test starts, so that parallel tests never wait on a build.
stage "build"
cargo build -p hostmatch-testkit --bin hostmatch-testkit
images_pid=""
images_log="${CARGO_TARGET_DIR:-target}/hostmatch-images.log"
if [ "$(id -u)" = 0 ]; then
  # Leftovers of killed earlier runs first (a stale daemon, a half-built image).
  "$testkit_bin" cleanup
  # Own session, so that the trap can stop it with its children (debootstrap).
  setsid "$testkit_bin" images >"$images_log" 2>&1 &
  images_pid=$!
else
  log "WARNING: not root: no Debian image; tests needing root or dockerd will skip"
  "$testkit_bin" images --no-debian || true
fi
cargo build --workspace --all-targets
# The static entrypoint the image tests put into their images (built once here, so
# that no test pays for it inside its timeout).
scripts/build-static.sh >/dev/null
scripts/build-static.sh --fault-injection >/dev/null

stage "images (wait)"
if [ -n "$images_pid" ]; then
  images_rc=0
  wait "$images_pid" || images_rc=$?
  images_pid=""
  cat "$images_log" >&2
  if [ "$images_rc" != 0 ]; then
    log "building the test images failed"
    exit 1
  fi
fi

# --- run -----------------------------------------------------------------
stage "tests"
cargo nextest run --workspace --profile "${NEXTEST_PROFILE:-default}" "$@"
