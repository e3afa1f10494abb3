#!/usr/bin/env bash
# Issue #19's Done-when: the staging time of a derived partition column over a generated
# kdb+tick-style database (`time` a timespan, no timestamp column) of >= 2 GB, against `cp` of
# the source column files, and the peak RSS of the staging. Targets: stage/cp <= 1.5x, peak RSS
# <= 64 MB whatever the size.
#
# Both sides write the same bytes' worth (one 8-byte value per row, every partition's `time`)
# into a fresh directory on the same filesystem and make it durable: cp, then `sync` of the
# copied files (fsync each); the staging fsyncs every file and its directory itself. Page
# cache dropped before each side when run as root (DROP=0 to keep it warm). Rounds alternate
# the order, and each prints the load average, since the machine is shared.
#
# Two stagers, side by side: `smstage plan --remedy 'derive-prtncol:*=time' --save` (the
# user's command: check of the whole database, then staging of every partition's derived
# column and `.d`; the generated assembly gets `prtnCol: ts` and a `ts` timestamp column per
# table first), and examples/stage_derived.rs, which calls remedy::produce for every
# partition's column alone (the producers' share). PLAN=0 / EXAMPLE=0 skip one.
#
#   scripts/bench-prepare.sh [PARTITIONS] [ROWS]     (default 40 x 600000: about 2.6 GB)
#   BENCH_DIR=/tmp/x keeps the database for the next run; ROUNDS=N (default 2);
#   COMPRESS=zstd|gzip|... generates a compressed database (the derived column is then
#   compressed like its siblings: compare with care, cp copies compressed bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${1:-40}
rows=${2:-600000}
rounds=${ROUNDS:-2}
compress=${COMPRESS:-none}
cargo build --release --locked --bin smstage --example stage_derived >/dev/null 2>&1
bin=$PWD/target/release/smstage
stager_bin=$PWD/target/release/examples/stage_derived
if [ -n "${BENCH_DIR:-}" ]; then
  work=$BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/smstage-bench-prepare.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
db=$work/db-$compress-$parts-$rows
if [ ! -f "$db/assembly.yaml" ]; then
  echo "generating: $parts partitions x 2 tables x 6 columns x $rows rows, --tick-style, compress $compress, in $work ..."
  rm -rf "$db"
  "$bin" gen --out "$db" --tick-style --partitions "$parts" --tables 2 --columns 6 --rows "$rows" --compress "$compress" >/dev/null
fi
data=$db/data
mapfile -t sources < <(cd "$data" && find . -mindepth 3 -maxdepth 3 -type f -name time | sort)
src_count=${#sources[@]}
src_bytes=$(cd "$data" && du -cb --apparent-size "${sources[@]}" | tail -1 | cut -f1)
echo "database: $(du -sh --apparent-size "$data" | cut -f1) in $(find "$data" -type f | wc -l) files; sources: ${#sources[@]} time columns, $src_bytes bytes"
plan_ok=${PLAN:-1}
if [ "$plan_ok" = 1 ] && ! "$bin" plan --help 2>&1 | grep -q -- '--remedy'; then
  echo "this build's plan has no --remedy: the plan stager is skipped"
  plan_ok=0
fi
# The configuration the remedy needs: a timestamp prtnCol `ts`, first in each table's columns.
awk '{print} /^    type: partitioned$/ {print "    prtnCol: ts"} /^    columns:$/ {print "    - name: ts\n      type: timestamp"}' \
  "$db/assembly.yaml" >"$work/assembly-ts.yaml"

dropc() { if [ "${DROP:-1}" = 1 ] && [ "$(id -u)" = 0 ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi; }
now() { date +%s.%N; }
run_cp() { # prints seconds
  rm -rf "$work/cp"; mkdir -p "$work/cp"; sync; dropc
  local s e; s=$(now)
  (cd "$data" && cp --parents "${sources[@]}" "$work/cp/")
  (cd "$work/cp" && sync "${sources[@]}")
  e=$(now); awk -v a="$s" -v b="$e" 'BEGIN{printf "%.3f", b-a}'
}
run_stage() { # $1 = plan|example; prints seconds; peak RSS (KB) into $work/rss
  rm -rf "$work/stage" "$db/.smstage"; mkdir -p "$work/stage"; sync; dropc
  local s e; s=$(now)
  if [ "$1" = plan ]; then
    /usr/bin/time -f %M -o "$work/rss" "$bin" plan --config "$work/assembly-ts.yaml" \
      --remedy 'derive-prtncol:*=time' --save "$work/stage/plan.json" >"$work/plan.out" 2>&1 \
      || { echo "plan --remedy failed:" >&2; tail -20 "$work/plan.out" >&2; exit 1; }
  else
    /usr/bin/time -f %M -o "$work/rss" "$stager_bin" "$data" "$work/stage" time ts >"$work/stage.out"
  fi
  e=$(now)
  local where; where=$(staged_where "$1")
  echo "$(find "$where" -type f -name ts | wc -l) $(find "$where" -type f -name ts -printf '%s\n' | awk '{s+=$1} END{print s+0}')" >"$work/count.$1"
  cp "$work/rss" "$work/rss.$1"
  awk -v a="$s" -v b="$e" 'BEGIN{printf "%.3f", b-a}'
}
staged_where() { if [ "$1" = plan ]; then echo "$db/.smstage"; else echo "$work/stage"; fi; }
report() { # name seconds cp-seconds
  local n b kb
  read -r n b <"$work/count.$1"
  kb=$(tail -1 "$work/rss.$1")
  awk -v name="$1" -v c="$3" -v s="$2" -v kb="$kb" -v n="$n" -v b="$b" 'BEGIN{
    printf "  %-8s %7.2fs (%d ts files, %d bytes) | /cp %.2fx (target <= 1.5x) | peak RSS %.1f MB (target <= 64)\n",
      name, s, n, b, s/c, kb/1024 }'
}

stagers=()
[ "${EXAMPLE:-1}" = 1 ] && stagers+=(example)
[ "$plan_ok" = 1 ] && stagers+=(plan)
for r in $(seq 1 "$rounds"); do
  declare -A t=()
  if [ $((r % 2)) = 1 ]; then
    c=$(run_cp)
    for st in "${stagers[@]}"; do t[$st]=$(run_stage "$st"); done
  else
    for st in "${stagers[@]}"; do t[$st]=$(run_stage "$st"); done
    c=$(run_cp)
  fi
  echo "round $r: cp+sync of the $src_count source files ${c}s | load $(cut -d' ' -f1 /proc/loadavg)"
  for st in "${stagers[@]}"; do report "$st" "${t[$st]}" "$c"; done
done
