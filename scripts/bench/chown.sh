#!/usr/bin/env bash
# Benchmarks `hostmatch chown` against `chown -R` and against
# `find -print0 | xargs -0 -n 128 chown` (MatchHostFsOwner's way) on a
# 210k-entry tree on a disk filesystem (ext4 here; not tmpfs), warm cache:
#   1. everything changes: --prepare gives the whole tree the old owner first;
#   2. nothing changes: the tree already has the new owner.
#
#   sudo scripts/bench/chown.sh [DIR]     (default: /var/tmp/hm-bench-own)
# Needs hyperfine. Results: target/bench/chown-*.md (markdown tables).
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${1:-/var/tmp/hm-bench-own}
tree=$dir/tree
runs=${RUNS:-5}
out=target/bench
mkdir -p "$out"
command -v hyperfine >/dev/null || { echo "hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root (chown)" >&2; exit 1; }

cargo build --release -p hostmatch-cli -q
hm=$PWD/target/release/hostmatch

# 21 x 10 directories of 1000 files: 210,000 files + 231 directories.
if [ ! -e "$dir/.complete" ]; then
  rm -rf "$dir"
  mkdir -p "$tree"
  python3 - "$tree" <<'PY'
import os, sys
root = sys.argv[1]
for a in range(21):
    for b in range(10):
        d = os.path.join(root, f"d{a:02}", f"s{b}")
        os.makedirs(d)
        for f in range(1000):
            os.close(os.open(os.path.join(d, f"file-{f:04}"), os.O_CREAT | os.O_WRONLY, 0o644))
PY
  touch "$dir/.complete"
fi
entries=$(find "$tree" | wc -l)
fstype=$(df --output=fstype "$tree" | tail -1)
echo "tree: $tree ($entries entries, $fstype), $(nproc) CPUs, hostmatch $($hm --version)"

old=1111:1111 new=2222:2222
reset_old="chown -R $old $tree"

# The bar the issue sets: two chown -R processes, one per CPU, on the two
# halves of the tree (d00-d09 and d10-d20, the top directory with the first).
halves="sh -c 'chown $new $tree; chown -R $new $tree/d0[0-9] & chown -R $new $tree/d1[0-9] $tree/d2[0-9] & wait'"

echo "== everything changes"
hyperfine --runs "$runs" --warmup 1 --prepare "$reset_old" \
  --export-markdown "$out/chown-all-change.md" --export-json "$out/chown-all-change.json" \
  -n "hostmatch chown" "$hm chown $tree --from $old --to $new" \
  -n "chown -R" "chown -R $new $tree" \
  -n "2 x chown -R (halves)" "$halves" \
  -n "find | xargs -n 128 chown" "find $tree -print0 | xargs -0 -n 128 chown $new"

echo "== nothing changes"
chown -R "$new" "$tree"
hyperfine --runs "$runs" --warmup 1 \
  --export-markdown "$out/chown-no-change.md" --export-json "$out/chown-no-change.json" \
  -n "hostmatch chown" "$hm chown $tree --from $old --to $new" \
  -n "chown -R" "chown -R $new $tree" \
  -n "chown -R --from" "chown -R --from=$old $new $tree" \
  -n "find | xargs -n 128 chown" "find $tree -print0 | xargs -0 -n 128 chown $new"

cat "$out/chown-all-change.md" "$out/chown-no-change.md"

# CPU time (user + system) per command: on a shared machine wall time
# depends on what else runs; CPU time much less so.
python3 - "$out" <<'PY'
import json, sys
for name in ("chown-all-change", "chown-no-change"):
    res = json.load(open(f"{sys.argv[1]}/{name}.json"))["results"]
    base = next(r for r in res if r["command"] == "chown -R")
    print(f"\n{name}: mean wall / CPU (user+sys), ratio to chown -R")
    for r in res:
        cpu = r["user"] + r["system"]
        bcpu = base["user"] + base["system"]
        print(f"  {r['command']:28} {r['mean']:7.3f} s  {cpu:7.3f} s   wall {r['mean']/base['mean']:.2f}x  cpu {cpu/bcpu:.2f}x")
PY
