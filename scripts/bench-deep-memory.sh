#!/usr/bin/env bash
# Peak memory (RSS) and time of `check --deep` and `verify --against` on a generated database of
# >= 2 GB with >= 4 MB columns, plain and zstd-compressed, side by side with an older build when
# OLD_BIN names one (e.g. `main` built into another target directory). Target: `check --deep`
# peak RSS <= 256 MB.
# Usage: scripts/bench-deep-memory.sh [PARTITIONS] [ROWS]   (default 40 x 600000: about 2.6 GB)
#        OLD_BIN=/path/to/old/smstage scripts/bench-deep-memory.sh
#        BENCH_DIR=/tmp/x scripts/bench-deep-memory.sh   (keeps the databases there for the
#        next run, which reuses them)
#        DEEP=0 / VIEW=0 / SMALL=0 skip a part; ROUNDS=N rounds of the small-file timing
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${1:-40}
rows=${2:-600000}
cargo build --release --locked --bin smstage >/dev/null
bin=$PWD/target/release/smstage
old=${OLD_BIN:-}
if [ -n "${BENCH_DIR:-}" ]; then
  work=$BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/smstage-bench-deep.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mnt=$work/mnt

for d in plain zstd; do
  if [ ! -f "$work/$d/assembly.yaml" ]; then
    echo "generating $d: $parts partitions x 2 tables x 6 columns x $rows rows in $work ..."
    extra=(); [ "$d" = zstd ] && extra=(--compress zstd)
    rm -rf "${work:?}/$d"
    "$bin" gen --out "$work/$d" --partitions "$parts" --tables 2 --columns 6 --rows "$rows" "${extra[@]}" >/dev/null
  fi
done
for d in plain zstd; do
  big=$(find "$work/$d/data" -type f -size +4M | wc -l)
  echo "database $d: $(du -sh --apparent-size "$work/$d/data" | cut -f1) on disk view, $(find "$work/$d/data" -type f | wc -l) files, $big of them > 4 MB"
done
echo "largest column (uncompressed): $(find "$work/plain/data" -type f -printf '%s %p\n' | sort -n | tail -1)"

# Prints "peak-RSS-MB seconds exit-code" of one command (output discarded).
measure() {
  local rc m s
  set +e
  /usr/bin/time -o "$work/time" -f '%M %e' "$@" >/dev/null 2>&1
  rc=$?
  set -e
  read -r m s < <(tail -1 "$work/time")
  awk -v m="$m" -v s="$s" -v rc="$rc" 'BEGIN{printf "%7.1f MB %7.2f s  (exit %d)", m/1024, s, rc}'
}

row() { # label, command...
  local label=$1; shift
  printf '%-44s new: %s' "$label" "$(measure "$bin" "$@")"
  if [ -n "$old" ]; then printf '   old: %s' "$(measure "$old" "$@")"; fi
  printf '\n'
}

cat_tree() { find "$1" -type f -exec cat {} + >/dev/null; }
cat_tree "$work/plain/data"; cat_tree "$work/zstd/data"   # warm the page cache for both
if [ "${DEEP:-1}" != 0 ]; then
  for d in plain zstd; do
    row "check --deep ($d)" check --config "$work/$d/assembly.yaml" --no-backup-check --deep
  done
  row "verify --against (plain vs zstd)" verify "$work/plain/data" --against "$work/zstd/data"
  row "check, not deep (plain)" check --config "$work/plain/assembly.yaml" --no-backup-check
fi

# The view decodes nothing: it serves byte ranges. Its server's peak RSS after every file of
# the database was read through it, to show it does not grow with the column sizes.
if [ -e /dev/fuse ] && [ "${VIEW:-1}" != 0 ]; then
  mkdir -p "$mnt"
  for d in plain zstd; do
    "$bin" mount --config "$work/$d/assembly.yaml" "$mnt" --background >/dev/null 2>&1
    pid=""
    for p in /proc/[0-9]*; do
      if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "smstage mount .*$mnt"; then pid=$(basename "$p"); fi
    done
    s=$(date +%s.%N)
    # Through a pipe: `cat` into /dev/null may not read at all.
    bytes=$(find "$mnt" -type f -exec cat {} + | wc -c)
    e=$(date +%s.%N)
    hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    "$bin" unmount "$mnt" >/dev/null
    awk -v m="$hwm" -v d="$d" -v t="$(awk -v a="$s" -v b="$e" 'BEGIN{print b-a}')" \
      -v b="$bytes" 'BEGIN{printf "%-44s view server peak RSS %7.1f MB after reading every file (%.2f GB in %.1f s)\n", "view ("d")", m/1024, b/1e9, t}'
  done
fi

# Time of `check --deep` on bench-check.sh's database (2,000 partitions x 4 tables x 10 columns
# x 100 rows: 90,001 small files), new and old alternating, best of ROUNDS (default 3): the
# chunked reader must not cost per file what it saves per byte. Skip with SMALL=0.
if [ "${SMALL:-1}" != 0 ]; then
  small=$work/small
  if [ ! -f "$small/assembly.yaml" ]; then
    echo "generating bench-check's database (2000 x 4 x 10 x 100) ..."
    rm -rf "$small"
    "$bin" gen --out "$small" --partitions 2000 --tables 4 --columns 10 --rows 100 >/dev/null
  fi
  cat_tree "$small/data"
  secs() { /usr/bin/time -o "$work/time" -f '%e %M' "$@" >/dev/null 2>&1 || true; tail -1 "$work/time"; }
  tn=(); to=(); mn=0; mo=0
  for i in $(seq "${ROUNDS:-3}"); do
    read -r t m < <(secs "$bin" check --config "$small/assembly.yaml" --no-backup-check --deep)
    tn+=("$t"); mn=$m
    if [ -n "$old" ]; then
      read -r t m < <(secs "$old" check --config "$small/assembly.yaml" --no-backup-check --deep)
      to+=("$t"); mo=$m
    fi
  done
  best() { printf '%s\n' "$@" | sort -g | head -1; }
  bn=$(best "${tn[@]}")
  printf '%-44s new: %7.2f s (best of %d, %.1f MB)' "check --deep (90,001 small files)" "$bn" "${ROUNDS:-3}" "$(awk -v m="$mn" 'BEGIN{print m/1024}')"
  if [ -n "$old" ]; then
    bo=$(best "${to[@]}")
    printf '   old: %7.2f s (%.1f MB)   new/old: %.2fx' "$bo" "$(awk -v m="$mo" 'BEGIN{print m/1024}')" "$(awk -v a="$bn" -v b="$bo" 'BEGIN{print a/b}')"
  fi
  printf '\n'
fi
