#!/usr/bin/env bash
# Benchmark: a metadata-heavy workload (create, stat and unlink 20k files)
# through the native path, an ID-mapped mount (hostmatch mount --owner-as)
# and bindfs (--map), measured by hyperfine in the same session. The three
# commands are measured ROUNDS times in rotating order, so that drift of a
# shared machine hits every variant alike; ratios are per round.
#
#   sudo scripts/bench/idmount.sh            # ROUNDS=6 RUNS=2 WARMUP=1 FILES=20000 FS=disk
#   sudo FS=tmpfs scripts/bench/idmount.sh   # on a fresh tmpfs (no disk noise)
#   sudo FS=ext4ram scripts/bench/idmount.sh # ext4 on a loop device in /dev/shm:
#                                            # ext4's code path without a shared disk
#
# Every variant runs the same binary as the same kind of caller: the native
# run as the directory's owner (uid 1000), the mapped runs as uid 1234, to
# which both mappings show that owner. Needs root, hyperfine, bindfs, rustc.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-6}
RUNS=${RUNS:-2}
FILES=${FILES:-20000}
FS=${FS:-disk}
OWNER=1000
SEEN=1234

[ "$(id -u)" = 0 ] || { echo "idmount.sh: needs root" >&2; exit 2; }
for c in hyperfine bindfs rustc setpriv python3; do
  command -v "$c" >/dev/null || { echo "idmount.sh: needs $c" >&2; exit 2; }
done

out=target/bench
mkdir -p "$out"
rustc -O -o "$out/metaload" scripts/bench/metaload.rs
cargo build -q -p hostmatch-cli
hm=target/debug/hostmatch

base=$(mktemp -d /var/tmp/hm-bench-XXXXXX)
src=$base/fs/src view=$base/idmapped fuse=$base/bindfs
cleanup() {
  "$hm" umount "$view" >/dev/null 2>&1 || true
  umount "$fuse" 2>/dev/null || fusermount -u "$fuse" 2>/dev/null || true
  if [ "$FS" != disk ]; then
    # bindfs lets go of the filesystem a moment after its unmount.
    for _ in 1 2 3 4 5 6 7 8 9 10; do umount "$base/fs" 2>/dev/null && break; sleep 0.5; done
  fi
  mountpoint -q "$base/fs" || rm -rf "$base"
  [ -z "${img:-}" ] || rm -f "$img"
}
trap cleanup EXIT
trap "exit 130" INT TERM
chmod 755 "$base"
mkdir -p "$base/fs"
case $FS in
  disk) ;;
  tmpfs) mount -t tmpfs -o size=512m hm-bench "$base/fs" ;;
  ext4ram)
    img=$(mktemp /dev/shm/hm-bench-XXXXXX.img)
    truncate -s 1G "$img"
    mkfs.ext4 -q -F "$img"
    mount -o loop "$img" "$base/fs" ;;
  *) echo "idmount.sh: FS is disk, tmpfs or ext4ram" >&2; exit 2 ;;
esac
mkdir -p "$src" "$fuse"
chown "$OWNER:$OWNER" "$src"
cp "$out/metaload" "$base/metaload"
"$hm" mount "$src" "$view" --owner-as "$SEEN:$SEEN" >/dev/null
bindfs -o allow_other --map="$OWNER/$SEEN:@$OWNER/@$SEEN" "$src" "$fuse"
# Both views show the owner as $SEEN.
[ "$(stat -c %u "$view")" = "$SEEN" ] && [ "$(stat -c %u "$fuse")" = "$SEEN" ]

as() { echo "setpriv --reuid $1 --regid $1 --clear-groups $base/metaload $2 $FILES"; }
native=$(as "$OWNER" "$src")
idmapped=$(as "$SEEN" "$view")
bindfs_cmd=$(as "$SEEN" "$fuse")

{
  echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# filesystem of $src: $(stat -f -c %T "$src") ($(findmnt -n -o FSTYPE,OPTIONS -T "$src")), files per run: $FILES"
} | tee "$out/idmount.txt"

order=(native idmapped bindfs)
for r in $(seq 1 "$ROUNDS"); do
  cmds=()
  for v in "${order[@]}"; do
    case $v in
      native) cmds+=(-n native "$native") ;;
      idmapped) cmds+=(-n idmapped "$idmapped") ;;
      bindfs) cmds+=(-n bindfs "$bindfs_cmd") ;;
    esac
  done
  hyperfine -N --warmup "${WARMUP:-1}" --runs "$RUNS" --export-json "$out/idmount-round$r.json" "${cmds[@]}" >/dev/null
  order=("${order[@]:1}" "${order[0]}")
done

python3 - "$out" "$ROUNDS" <<'PY' | tee -a "$out/idmount.txt"
import json, sys, statistics
out, rounds = sys.argv[1], int(sys.argv[2])
per = {}
for r in range(1, rounds + 1):
    for res in json.load(open(f"{out}/idmount-round{r}.json"))["results"]:
        per.setdefault(res["command"], []).append(res["median"])
print(f"{'variant':<10} {'median s per round':<40} {'median':>8}")
med = {}
for k in ("native", "idmapped", "bindfs"):
    med[k] = statistics.median(per[k])
    print(f"{k:<10} {' '.join(f'{x:.3f}' for x in per[k]):<40} {med[k]:>8.3f}")
speed_vs_native = [n / i for n, i in zip(per["native"], per["idmapped"])]
speed_vs_bindfs = [b / i for b, i in zip(per["bindfs"], per["idmapped"])]
print("idmapped speed vs native (native time / idmapped time) per round:",
      " ".join(f"{x:.2f}x" for x in speed_vs_native), f"median {statistics.median(speed_vs_native):.2f}x")
print("idmapped speed vs bindfs (bindfs time / idmapped time) per round:",
      " ".join(f"{x:.2f}x" for x in speed_vs_bindfs), f"median {statistics.median(speed_vs_bindfs):.2f}x")
PY
