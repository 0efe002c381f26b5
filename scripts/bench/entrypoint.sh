#!/usr/bin/env bash
# Start-up overhead of hostmatch-entrypoint, exec to exec, measured with hyperfine.
#
# Each run starts a "container" by hand: a new mount namespace with a fresh
# tmpfs on /dev (as a runtime gives every start), a new PID namespace with its
# own /proc, chroot into a Debian minbase rootfs on a disk filesystem (ext4,
# never tmpfs: the account change fsyncs), --userspec 1000:1000, then
#   bare:       /bin/true
#   same ids:   the setuid entrypoint, account already at 1000 -> /bin/true
#   move:       the setuid entrypoint, account at 1234 with a 50-file home
#               -> moves to 1000, re-owns the home -> /bin/true
#               (hyperfine --prepare puts the account and home back at 1234;
#               not timed)
#   exec floor: a static setuid binary that only execs /bin/true
#               (scripts/bench/exec-floor.rs): what any setuid entrypoint
#               costs before it does any work (the kernel's setuid exec and a
#               second exec); "same ids" minus this is hostmatch-entrypoint's
#               own work
# Other builds (e.g. the binary of an older commit) can be measured in the
# same run: LABEL=BINARY arguments add their "same ids" and "move" variants.
# The variants are measured in ROUNDS rounds of RUNS runs each, alternating,
# so that the load of a shared machine falls on all of them alike; medians are
# over every run of every round.
#
# Needs root, hyperfine, unshare, and the Debian rootfs tarball of the test
# harness (built by `cargo run -p hostmatch-testkit -- images` or the tests).
#
#   sudo scripts/bench/entrypoint.sh [RUNS [ROUNDS [LABEL=BINARY ...]]]
#   sudo scripts/bench/entrypoint.sh 60 5 before=/tmp/hostmatch-entrypoint.old
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-300}
ROUNDS=${2:-1}
shift 2 2>/dev/null || shift $# || true
bin=$(scripts/build-static.sh)
tar=target/hostmatch-images/debian-bookworm-minbase.tar
[ -f "$tar" ] || { echo "missing $tar (run the e2e tests or hostmatch-testkit images first)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/hm-bench-entry-XXXXXX)
trap 'umount -R "$work/rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
fs=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work")
case "$fs" in
  tmpfs|ramfs) echo "$work is on $fs: the rootfs must be on a disk filesystem" >&2; exit 1 ;;
esac
R=$work/rootfs
mkdir -p "$R"
tar -xf "$tar" -C "$R"
chmod 755 "$R"
labels=("this build") bins=(/usr/local/bin/hostmatch-entrypoint)
install -o root -g root -m 4755 "$bin" "$R/usr/local/bin/hostmatch-entrypoint"
rustc --edition 2021 -C opt-level=3 -C panic=abort -C target-feature=+crt-static \
  --target x86_64-unknown-linux-gnu -o "$work/exec-floor" scripts/bench/exec-floor.rs
install -o root -g root -m 4755 "$work/exec-floor" "$R/usr/local/bin/exec-floor"
for arg in "$@"; do
  label=${arg%%=*} path=${arg#*=}
  install -o root -g root -m 4755 "$path" "$R/usr/local/bin/hostmatch-entrypoint-$label"
  labels+=("$label") bins+=("/usr/local/bin/hostmatch-entrypoint-$label")
done

# The image's account: app 1234:1234 with a 50-file home.
grep -q '^app:' "$R/etc/group" || echo 'app:x:1234:' >> "$R/etc/group"
grep -q '^app:' "$R/etc/passwd" || echo 'app:x:1234:1234::/home/app:/bin/sh' >> "$R/etc/passwd"
mkdir -p "$R/home/app"
for i in $(seq 1 50); do echo "$i" > "$R/home/app/file$i"; done
chown -R 1234:1234 "$R/home/app"
cp "$R/etc/passwd" "$work/passwd.1234"
cp "$R/etc/group" "$work/group.1234"
sed 's/^app:x:1234:1234:/app:x:1000:1000:/' "$work/passwd.1234" > "$work/passwd.1000"
sed 's/^app:x:1234:/app:x:1000:/' "$work/group.1234" > "$work/group.1000"

start="unshare --mount -- sh -c 'mount -t tmpfs -o mode=755 tmpfs $R/dev && exec unshare --pid --fork --mount-proc=$R/proc chroot --userspec=1000:1000 --groups=1000 $R \"\$@\"' sh"
at_1000="cp $work/passwd.1000 $R/etc/passwd && cp $work/group.1000 $R/etc/group && chown -R 1000:1000 $R/home/app"
at_1234="cp $work/passwd.1234 $R/etc/passwd && cp $work/group.1234 $R/etc/group && chown -R 1234:1234 $R/home/app"

# Sanity: each build really runs and ends as uid 1000 with the home re-owned.
for b in "${bins[@]}"; do
  sh -c "$at_1234"
  out=$(sh -c "$start $b /usr/bin/stat -c %u /home/app/file50")
  [ "$out" = 1000 ] || { echo "$b did not re-own the home: '$out'" >&2; exit 1; }
done

variants=(--command-name bare --prepare "$at_1000" "$start /bin/true")
variants+=(--command-name "exec floor" --prepare "$at_1000" "$start /usr/local/bin/exec-floor /bin/true")
for i in "${!bins[@]}"; do
  variants+=(--command-name "same ids, ${labels[$i]}" --prepare "$at_1000" "$start ${bins[$i]} /bin/true")
  variants+=(--command-name "1234 -> 1000, 50-file home, ${labels[$i]}" --prepare "$at_1234" "$start ${bins[$i]} /bin/true")
done
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round of $ROUNDS (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  hyperfine --style basic --warmup 10 --runs "$RUNS" --export-json "$work/round$round.json" \
    "${variants[@]}" >&2
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); rootfs on $fs"
# Medians and minimums over every round (the machine is shared: the mean is noisy).
python3 - "$work"/round*.json <<'PY'
import json, statistics, sys
times = {}
for f in sys.argv[1:]:
    for x in json.load(open(f))["results"]:
        times.setdefault(x["command"], []).extend(x["times"])
base = times["bare"]
bmed, bmin = statistics.median(base) * 1e3, min(base) * 1e3
fmed = statistics.median(times["exec floor"]) * 1e3
print("| variant | runs | median | min | median over bare | min over bare | median over exec floor |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, t in times.items():
    med, lo = statistics.median(t) * 1e3, min(t) * 1e3
    over = "" if name == "bare" else f"{med - bmed:+.2f} ms"
    over_lo = "" if name == "bare" else f"{lo - bmin:+.2f} ms"
    over_f = "" if name in ("bare", "exec floor") else f"{med - fmed:+.2f} ms"
    print(f"| {name} | {len(t)} | {med:.2f} ms | {lo:.2f} ms | {over} | {over_lo} | {over_f} |")
PY
