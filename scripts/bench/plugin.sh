#!/usr/bin/env bash
# Benchmark: the volume plugin under load on its unix socket. For each build,
# a fresh `hostmatch volume-plugin` per scenario, then scripts/bench/pluginload.rs
# (built here with rustc -O) opens the slow and idle clients and fires the
# concurrent VolumeDriver.List requests at once, each on its own connection:
#
#   plain   200 requests
#   slow    200 requests + 10 clients that announce a 4 KiB body and send 1 byte
#           + 100 idle connections
#   idle    200 requests + 10 slow clients + 1000 idle connections
#
# A request not answered within TIMEOUT seconds counts as stalled. Latencies are
# those of the answered requests; threads and VmRSS are read from
# /proc/PID/status once the slow and idle clients are connected (held) and as
# the peak while the requests run.
#
#   scripts/bench/plugin.sh                          # this tree's release build
#   BASELINE_REV=main scripts/bench/plugin.sh        # and the build of a git revision
#   BASELINE=/path/to/hostmatch scripts/bench/plugin.sh   # or of a given binary
#   ROUNDS=5 TIMEOUT=20 scripts/bench/plugin.sh
#
# The builds take turns, round after round, so that drift of a shared machine
# hits both alike. Prints one line per run and the medians per scenario.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-5}
TIMEOUT=${TIMEOUT:-20}
out=target/bench
mkdir -p "$out"
for c in rustc cargo; do
  command -v "$c" >/dev/null || { echo "plugin.sh: needs $c" >&2; exit 2; }
done
# 1000 idle + 200 + 10 connections on both sides of the socket.
ulimit -n 8192 || { echo "plugin.sh: cannot raise the open-file limit to 8192" >&2; exit 2; }

rustc -O -o "$out/pluginload" scripts/bench/pluginload.rs
cargo build -q --release -p hostmatch-cli
builds=("new=target/release/hostmatch")
if [ -n "${BASELINE_REV:-}" ]; then
  src=$(mktemp -d /var/tmp/hm-bench-plugin-src-XXXXXX)
  git archive "$BASELINE_REV" | tar -x -C "$src"
  (cd "$src" && CARGO_TARGET_DIR="$PWD/../$(basename "$src")-target" cargo build -q --release -p hostmatch-cli)
  cp "$src-target/release/hostmatch" "$out/hostmatch-baseline"
  rm -rf "$src" "$src-target"
  BASELINE="$out/hostmatch-baseline"
fi
[ -n "${BASELINE:-}" ] && builds=("baseline=$BASELINE" "${builds[@]}")

work=$(mktemp -d /var/tmp/hm-bench-plugin-XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# run BIN SCENARIO CONCURRENT SLOW IDLE: one fresh plugin, one load.
run() {
  local bin=$1 sock="$work/p.sock"
  rm -rf "$work/state" "$sock"; mkdir -p "$work/allowed"
  "$bin" volume-plugin --socket "$sock" --state "$work/state" --allow "$work/allowed" \
    2>>"$work/plugin.log" &
  pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
  "$out/pluginload" "$sock" "$pid" "$3" "$4" "$5" "$TIMEOUT"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results"
for round in $(seq "$ROUNDS"); do
  for b in "${builds[@]}"; do
    name=${b%%=*} bin=${b#*=}
    for s in "plain 200 0 0" "slow 200 10 100" "idle 200 10 1000"; do
      set -- $s
      run "$bin" "$1" "$2" "$3" "$4" >"$work/line"
      echo "$name $1 round=$round $(cat "$work/line")" | tee -a "$results"
    done
  done
done
echo "# done $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"

# Medians per build and scenario.
echo
printf '%-9s %-6s %8s %8s %8s %8s %9s %9s %12s\n' build scenario answered stalled \
  p50_ms p99_ms threads rss_kib threads_peak
for b in "${builds[@]}"; do
  name=${b%%=*}
  for s in plain slow idle; do
    grep "^$name $s " "$results" | awk -v b="$name" -v s="$s" '
      function med(a, n,   i, j, t) {
        if (a[1] == "-") return "-"
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      { n++; for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1], n] = kv[2] } }
      END {
        split("answered stalled p50_ms p99_ms threads_held rss_held_kib threads_peak", keys, " ")
        printf "%-9s %-6s", b, s
        for (k = 1; k <= 7; k++) { for (i = 1; i <= n; i++) x[i] = v[keys[k], i]; printf " %8s", med(x, n) }
        printf "\n"
      }'
  done
done
