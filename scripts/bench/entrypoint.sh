#!/usr/bin/env bash
# Start-up overhead of hostmatch-entrypoint, exec to exec, measured with hyperfine.
#
# Each run starts a "container" by hand: a new mount namespace with a fresh
# tmpfs on /dev (as a runtime gives every start), a new PID namespace with its
# own /proc, chroot into a Debian minbase rootfs, --userspec 1000:1000, then
#   bare:       /bin/true
#   same ids:   the setuid entrypoint, account already at 1000 -> /bin/true
#   move:       the setuid entrypoint, account at 1234 with a 50-file home
#               -> moves to 1000, re-owns the home -> /bin/true
#               (hyperfine --prepare puts the account and home back at 1234;
#               not timed)
# Needs root, hyperfine, unshare, and the Debian rootfs tarball of the test
# harness (built by `cargo run -p hostmatch-testkit -- images` or the tests).
#
#   sudo scripts/bench/entrypoint.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-300}
bin=$(scripts/build-static.sh)
tar=target/hostmatch-images/debian-bookworm-minbase.tar
[ -f "$tar" ] || { echo "missing $tar (run the e2e tests or hostmatch-testkit images first)" >&2; exit 1; }

work=$(mktemp -d /tmp/hm-bench-entry-XXXXXX)
trap 'umount -R "$work/rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
R=$work/rootfs
mkdir -p "$R"
tar -xf "$tar" -C "$R"
chmod 755 "$R"
install -o root -g root -m 4755 "$bin" "$R/usr/local/bin/hostmatch-entrypoint"

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

# Sanity: each variant really runs and ends as uid 1000.
sh -c "$at_1234"
out=$(sh -c "$start /usr/local/bin/hostmatch-entrypoint /usr/bin/stat -c %u /home/app/file50")
[ "$out" = 1000 ] || { echo "entrypoint did not re-own the home: '$out'" >&2; exit 1; }

hyperfine --style basic --warmup 10 --runs "$RUNS" --export-markdown "$work/result.md" \
  --export-json "$work/result.json" \
  --command-name bare --prepare "$at_1000" "$start /bin/true" \
  --command-name 'entrypoint, same ids' --prepare "$at_1000" "$start /usr/local/bin/hostmatch-entrypoint /bin/true" \
  --command-name 'entrypoint, 1234 -> 1000, 50-file home' --prepare "$at_1234" "$start /usr/local/bin/hostmatch-entrypoint /bin/true"
cat "$work/result.md"
# Medians and minimums (the machine is shared: the mean is noisy).
python3 - "$work/result.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]
for x in r:
    med, lo = statistics.median(x["times"]) * 1e3, min(x["times"]) * 1e3
    print(f"{x['command']}: median {med:.2f} ms, min {lo:.2f} ms; "
          f"over bare: median {med - statistics.median(base['times']) * 1e3:+.2f} ms, "
          f"min {lo - min(base['times']) * 1e3:+.2f} ms")
PY
