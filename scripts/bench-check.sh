#!/usr/bin/env bash
# Measures `smstage check` against a plain walk that opens every file and reads its first 4 KiB,
# side by side in one run, on a generated database (default 2,000 partitions × 4 tables ×
# 10 columns). Prints the ratio; the target is ≤ 2×.
# Usage: scripts/bench-check.sh [PARTITIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${1:-2000}
rounds=${2:-3}
cargo build --release --locked --bin smstage --example walk4k >/dev/null
bin=target/release/smstage
walk=target/release/examples/walk4k
work=$(mktemp -d /tmp/smstage-bench-check.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "generating $parts partitions x 4 tables x 10 columns in $work ..."
"$bin" gen --out "$work/hdb" --partitions "$parts" --tables 4 --columns 10 --rows 100 >/dev/null
nfiles=$(find "$work/hdb/data" -type f | wc -l)
echo "database: $nfiles files, $(du -sh "$work/hdb/data" | cut -f1)"

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN{printf "%.4f", b-a}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
best() { printf '%s\n' "$@" | sort -g | head -1; }

# Warm the page cache once so every contender starts from the same state.
"$walk" "$work/hdb/data" >/dev/null
c=(); w=(); wp=()
for i in $(seq "$rounds"); do
  c+=("$(t "$bin" check --config "$work/hdb/assembly.yaml" --no-backup-check)")
  w+=("$(t "$walk" "$work/hdb/data")")
  wp+=("$(t "$walk" --parallel "$work/hdb/data")")
done
bc_=$(best "${c[@]}"); bw=$(best "${w[@]}"); bwp=$(best "${wp[@]}")
printf 'smstage check:            %.3f s (best of %d)\n' "$bc_" "$rounds"
printf 'plain walk, 1 thread:     %.3f s\n' "$bw"
printf 'plain walk, parallel:     %.3f s\n' "$bwp"
printf 'ratio check / plain walk (1 thread): %sx\n' "$(div "$bc_" "$bw")"
printf 'ratio check / plain walk (parallel): %sx   (target <= 2x)\n' "$(div "$bc_" "$bwp")"

# Access times older than a day, as in a database last read yesterday: under relatime the
# first read of each file writes its access time (a dirty inode each); smstage reads with
# O_NOATIME, and SMSTAGE_NOATIME=0 turns that off (src/noatime.rs).
age() { find "$work/hdb" -print0 | xargs -0 touch -a -h -d '3 days ago'; sync; }
an=(); ao=()
for i in $(seq "$rounds"); do
  age; an+=("$(t "$bin" check --config "$work/hdb/assembly.yaml" --no-backup-check)")
  age; ao+=("$(t env SMSTAGE_NOATIME=0 "$bin" check --config "$work/hdb/assembly.yaml" --no-backup-check)")
done
ban=$(best "${an[@]}"); bao=$(best "${ao[@]}")
printf 'access times 3 days old: check %.3f s, check writing them (SMSTAGE_NOATIME=0) %.3f s: %sx\n' \
  "$ban" "$bao" "$(div "$ban" "$bao")"

# Cold (root only): page cache dropped before each contender. Both parallel contenders use
# the I/O pool (SMSTAGE_IO_THREADS, default 16); `check, 2 threads` is what check did before
# the pool (one thread per core).
if [ "$(id -u)" = 0 ]; then
  dropc() { sync; echo 3 >/proc/sys/vm/drop_caches; }
  cc=(); cw=(); c2=()
  for i in $(seq "$rounds"); do
    dropc; cc+=("$(t "$bin" check --config "$work/hdb/assembly.yaml" --no-backup-check)")
    dropc; cw+=("$(t "$walk" --parallel "$work/hdb/data")")
    dropc; c2+=("$(t env SMSTAGE_IO_THREADS=2 "$bin" check --config "$work/hdb/assembly.yaml" --no-backup-check)")
  done
  bcc=$(best "${cc[@]}"); bcw=$(best "${cw[@]}"); bc2=$(best "${c2[@]}")
  printf 'cold: smstage check %.3f s, plain walk (parallel) %.3f s, ratio %sx; check with 2 threads %.3f s (%sx slower than with the I/O pool)\n' \
    "$bcc" "$bcw" "$(div "$bcc" "$bcw")" "$bc2" "$(div "$bc2" "$bcc")"
else
  echo "cold round skipped: needs root (drop_caches)"
fi
