#!/usr/bin/env bash
# Cold walk of the staging view against the same walk of the disk, two builds side by side
# (issue #17): per round and build, mount, drop the caches, `find MNT -printf '%y %s %m %n %T@\n'`
# cold then warm; unmount, drop the caches, the same two walks of the database on disk.
# Prints each time and the view/disk ratio of the round. Needs root (drop_caches) and FUSE.
#
#   OLD_BIN=/path/to/old/smstage NEW_BIN=target/release/smstage \
#   PARTITIONS=5000 TABLES=10 COLUMNS=20 ROUNDS=2 bash scripts/bench-walk.sh
# (5000 x 10 x 20: 1,160,007 entries in the view.) OLD_BIN may be left out.
set -euo pipefail
cd "$(dirname "$0")/.."
NEW_BIN=${NEW_BIN:-target/release/smstage}
[ -x "$NEW_BIN" ] || cargo build --release --locked >/dev/null 2>&1
PARTITIONS=${PARTITIONS:-5000} TABLES=${TABLES:-10} COLUMNS=${COLUMNS:-20} ROUNDS=${ROUNDS:-2}
WORK=${BENCH_DIR:-$(mktemp -d /tmp/smstage-bench-walk.XXXXXX)}
mkdir -p "$WORK/mnt"
if [ ! -d "$WORK/db/data" ]; then
  "$NEW_BIN" gen --out "$WORK/db" --partitions "$PARTITIONS" --tables "$TABLES" --columns "$COLUMNS" --rows 10 >/dev/null
fi
dropc() { sync; echo 3 >/proc/sys/vm/drop_caches; }
walk() { # prints seconds; entries into $WORK/n
  local s e; s=$(date +%s.%N)
  find "$1" -printf '%y %s %m %n %T@\n' | wc -l >"$WORK/n"
  e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN{printf "%.2f", b-a}'
}
builds=(new); [ -n "${OLD_BIN:-}" ] && builds=(old new)
for round in $(seq 1 "$ROUNDS"); do
  for b in "${builds[@]}"; do
    bin=$NEW_BIN; [ "$b" = old ] && bin=$OLD_BIN
    "$bin" mount --config "$WORK/db/assembly.yaml" "$WORK/mnt" --background >/dev/null 2>&1
    dropc; vc=$(walk "$WORK/mnt" ); vn=$(cat "$WORK/n"); vw=$(walk "$WORK/mnt")
    "$bin" unmount "$WORK/mnt" >/dev/null 2>&1
    dropc; dc=$(walk "$WORK/db/data"); dn=$(cat "$WORK/n"); dw=$(walk "$WORK/db/data")
    ratio=$(awk -v v="$vc" -v d="$dc" 'BEGIN{printf "%.2f", v/d}')
    echo "round $round $b: view cold ${vc}s warm ${vw}s ($vn entries) | disk cold ${dc}s warm ${dw}s ($dn entries) | cold view/disk ${ratio}x | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
[ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
