#!/usr/bin/env bash
# Benchmarks `hostmatch reclaim` against `podman unshare chown -R 0:0 DIR` (what
# rootless Podman users run today) on a 200k-entry tree that a rootless Podman
# container wrote as its uid 1000, on a disk filesystem (ext4 here), warm cache:
#   1. everything changes: --prepare gives the whole tree back to the
#      container's uid/gid (100999-style subordinate ids) before each run;
#   2. nothing changes: the tree already belongs to the user.
# Both commands run as the same unprivileged user, in the same hyperfine run.
#
#   sudo scripts/bench/reclaim.sh [DIR]     (default: /var/tmp/hm-bench-reclaim)
#
# Creates the user hm-bench-reclaim (home DIR/home) with subordinate ranges at
# 2600000000 (far from any a host gives out), and removes it at the end.
# Needs root, hyperfine, podman, uidmap, and the busybox test image
# (target/hostmatch-images, built by scripts/test.sh or `hostmatch-testkit images`).
# ROUNDS (default 3) rounds of RUNS (default 5) runs of each command in each case.
# Results: target/bench/reclaim-*.json, and a markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${1:-/var/tmp/hm-bench-reclaim}
runs=${RUNS:-5}
out=target/bench
user=hm-bench-reclaim
sub=2600000000
mkdir -p "$out"
[ "$(id -u)" = 0 ] || { echo "run as root (creates a user, resets owners)" >&2; exit 1; }
for c in hyperfine podman newuidmap setpriv python3; do
  command -v "$c" >/dev/null || { echo "$c is missing" >&2; exit 1; }
done
busybox_tar=target/hostmatch-images/busybox.tar
[ -f "$busybox_tar" ] || cargo run -q -p hostmatch-testkit --bin hostmatch-testkit -- images --no-debian
cargo build --release -p hostmatch-cli -q
hm=$PWD/target/release/hostmatch

cleanup() {
  set +e
  if id "$user" >/dev/null 2>&1; then
    as_user podman system reset --force >/dev/null 2>&1
    # The rootless pause process this script's podman started, by its pid.
    pause=$(cat "$dir/run/libpod/tmp/pause.pid" 2>/dev/null)
    [ -n "$pause" ] && kill -KILL "$pause" 2>/dev/null
    userdel "$user" 2>/dev/null
  fi
  sed -i "/^$user:/d" /etc/subuid /etc/subgid
  rm -rf "$dir"
}
trap cleanup EXIT

# --- the user and its rootless Podman ----------------------------------------
rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
useradd -M -d "$dir/home" -s /bin/sh "$user" 2>/dev/null || true
sed -i "/^$user:/d" /etc/subuid /etc/subgid
echo "$user:$sub:65536" >>/etc/subuid
echo "$user:$sub:65536" >>/etc/subgid
uid=$(id -u "$user") gid=$(id -g "$user")
mkdir -p "$dir/home" "$dir/run"
chown "$uid:$gid" "$dir/home" "$dir/run"
chmod 700 "$dir/run"
mkdir -p "$dir/home/.config/containers"
printf '[engine]\nruntime = "runc"\n' >"$dir/home/.config/containers/containers.conf"
chown -R "$uid:$gid" "$dir/home"
as_user() {
  setpriv --reuid "$uid" --regid "$gid" --init-groups -- \
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$dir/home" USER="$user" \
    XDG_RUNTIME_DIR="$dir/run" "$@"
}
as_user podman import --quiet - busybox <"$busybox_tar" >/dev/null

# --- the tree, written by a rootless container as its uid 1000 ----------------
# 20 x 10 directories of 1000 files: 200,000 files + 221 directories.
tree=$dir/home/tree
mkdir "$tree"
chown "$uid:$gid" "$tree"
as_user podman run --rm --network none --user 1000:1000 -v "$tree:/w:U" busybox sh -c '
  for a in $(seq -w 0 19); do for b in $(seq 0 9); do
    d=/w/d$a/s$b; mkdir -p "$d"; cd "$d"
    for f in $(seq -w 0 999); do echo "file-$f"; done | xargs touch
  done; done'
sync
entries=$(find "$tree" | wc -l)
c_ids=$(stat -c %u:%g "$tree/d00/s0/file-000")
fstype=$(df --output=fstype "$tree" | tail -1)
echo "tree: $tree ($entries entries, $fstype, written as $c_ids), $(nproc) CPUs, $($hm --version)"
echo "load before: $(cat /proc/loadavg)"

run_user="setpriv --reuid $uid --regid $gid --init-groups -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=$dir/home USER=$user XDG_RUNTIME_DIR=$dir/run"
reclaim="$run_user $hm reclaim $tree"
unshare="$run_user podman unshare chown -R 0:0 $tree"

echo "dry run: $($reclaim --dry-run 2>&1 | tail -1)"

# ROUNDS rounds, each running both commands RUNS times in both cases, so that a
# change of load on this shared machine hits both commands alike; the figures
# are over every run of every round.
rounds=${ROUNDS:-3}
for r in $(seq "$rounds"); do
  echo "== round $r: everything changes (load $(cut -d' ' -f1-3 /proc/loadavg))"
  # sync: each run starts with the journal written out (the prepare's 200k
  # chowns would otherwise be flushed during whichever command runs next).
  hyperfine --runs "$runs" --warmup 1 --prepare "chown -R $c_ids $tree; sync" \
    --export-json "$out/reclaim-all-change-$r.json" \
    -n "hostmatch reclaim" "$reclaim" \
    -n "podman unshare chown -R 0:0" "$unshare"
  echo "== round $r: nothing changes (load $(cut -d' ' -f1-3 /proc/loadavg))"
  chown -R "$uid:$gid" "$tree"
  sync
  hyperfine --runs "$runs" --warmup 2 \
    --export-json "$out/reclaim-no-change-$r.json" \
    -n "hostmatch reclaim" "$reclaim" \
    -n "podman unshare chown -R 0:0" "$unshare"
done
echo "load after: $(cat /proc/loadavg)"

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
print("| case | command | runs | mean | median | min | CPU (user+sys) mean |")
print("|---|---|---:|---:|---:|---:|---:|")
summary = []
for case, bar in (("all-change", 0.6), ("no-change", 0.4)):
    times, cpu = {}, {}
    for r in range(1, rounds + 1):
        for res in json.load(open(f"{out}/reclaim-{case}-{r}.json"))["results"]:
            c = res["command"]
            times.setdefault(c, []).extend(res["times"])
            # hyperfine gives the mean user and system time of a command's runs.
            cpu.setdefault(c, []).extend([res["user"] + res["system"]] * len(res["times"]))
    st = {c: (statistics.mean(t), statistics.median(t), min(t), statistics.mean(cpu[c])) for c, t in times.items()}
    for c, (mean, med, mn, cp) in st.items():
        print(f"| {case} | {c} | {len(times[c])} | {mean*1000:.0f} ms | {med*1000:.0f} ms | {mn*1000:.0f} ms | {cp*1000:.0f} ms |")
    h, p = st["hostmatch reclaim"], st["podman unshare chown -R 0:0"]
    summary.append(f"{case}: reclaim / podman unshare chown: mean {h[0]/p[0]:.2f}x, median {h[1]/p[1]:.2f}x, "
                   f"min {h[2]/p[2]:.2f}x, CPU {h[3]/p[3]:.2f}x (bar {bar}x)")
print()
print("\n".join(summary))
PY
