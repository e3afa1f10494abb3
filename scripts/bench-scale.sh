#!/usr/bin/env bash
# Scale: time and peak RSS of every command at two sizes, side by side in one run, on generated
# databases (default 500 and 5,000 partitions × 10 tables × 20 columns × 10 rows: ~110,000 and
# ~1.1 million files). Prints per size: seconds, peak RSS and RSS per file of check, plan, plan --save,
# verify, mount-ready (and the view server's peak RSS after a full walk), commit, rollback; the
# cold find -printf walk of the view against the same layout on disk (and the warm second walk); and the per-file cost ratio
# big/small of each command (targets: RSS per file <= ~100 B for the commands, server <= 256 MB,
# walk <= 1.5x, per-file cost <= 1.2x).
# Needs root (drop_caches, FUSE) and ~12 GB free under /tmp (database + backup per size).
# Usage: scripts/bench-scale.sh [SMALL_PARTITIONS] [BIG_PARTITIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-500}
big=${2:-5000}
tables=${TABLES:-10}
columns=${COLUMNS:-20}
rows=${ROWS:-10}

work=$(mktemp -d /tmp/smstage-bench-scale.XXXXXX)
need_kb=$(( big * tables * (columns + 2) * 4 * 2 + small * tables * (columns + 2) * 4 * 2 ))
free_kb=$(df -Pk "$work" | awk 'NR==2{print $4}')
if [ "$free_kb" -lt "$need_kb" ]; then
  echo "bench-scale: needs about $((need_kb / 1048576)) GB free in $(dirname "$work"), only $((free_kb / 1048576)) GB free: not run" >&2
  rmdir "$work"
  exit 1
fi

cargo build --release --locked --bin smstage --example materialize >/dev/null 2>&1
bin=$PWD/target/release/smstage
ex=$PWD/target/release/examples
mnt=$work/mnt
mkdir -p "$mnt"
mounted() { grep -q " $1 fuse" /proc/self/mounts; }
cleanup() {
  mounted "$mnt" && "$bin" unmount "$mnt" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

dropc() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.2f", a/b}'; }
# Runs a command under GNU time; sets T (seconds) and M (peak RSS, KiB).
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/cmd.out" 2>"$work/cmd.err" || {
    cat "$work/cmd.err" >&2
    return 1
  }
  read -r T M <"$work/time"
}
server_pid() {
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "smstage mount .*$1"; then
      basename "$p"
      return
    fi
  done
}
walk() {
  local s
  s=$(now)
  find "$1" -printf '%y %s %m %n %T@\n' >/dev/null
  since "$s"
}

declare -A R
run_size() {
  local tag=$1 parts=$2 dir=$work/$1
  echo "== $tag: generating $parts partitions x $tables tables x $columns columns x $rows rows ..."
  local s
  s=$(now)
  "$bin" gen --out "$dir" --partitions "$parts" --tables "$tables" --columns "$columns" \
    --rows "$rows" >/dev/null
  local n
  n=$(find "$dir/data" -type f | wc -l)
  R[$tag.files]=$n
  echo "   $n files, generated in $(since "$s") s; copying the backup ..."
  cp -a "$dir/data" "$dir/backup"
  # The copy leaves gigabytes of dirty pages: written back now, not during the first command.
  sync
  local cfg=$dir/assembly.yaml

  measure "$bin" check --config "$cfg" --no-backup-check
  R[$tag.check.t]=$T R[$tag.check.m]=$M
  measure "$bin" plan --config "$cfg" --format json
  cp "$work/cmd.out" "$dir/plan.json"
  R[$tag.plan.t]=$T R[$tag.plan.m]=$M
  # The approval flow's plan file (plan + fingerprint of every entry).
  measure "$bin" plan --config "$cfg" --save "$dir/plan.smstage"
  R[$tag.save.t]=$T R[$tag.save.m]=$M
  measure "$bin" verify "$dir/data"
  R[$tag.verify.t]=$T R[$tag.verify.m]=$M

  # mount-ready (warm), then the cold walk of the view against the same layout on disk.
  "$ex/materialize" "$dir/plan.json" "$dir/mat" >/dev/null
  measure "$bin" mount --config "$cfg" "$mnt" --background
  R[$tag.mount.t]=$T R[$tag.mount.m]=$M
  "$bin" unmount "$mnt" >/dev/null
  dropc
  R[$tag.walk.disk]=$(walk "$dir/mat")
  # The warm walk: the second one, page cache, dentries and inodes as the first left them.
  R[$tag.warm.disk]=$(walk "$dir/mat")
  "$bin" mount --config "$cfg" "$mnt" --background >/dev/null 2>&1
  # Cold means the kernel forgets the view's inodes too: drop_caches prunes dentries and
  # inodes (FUSE sends the server FORGETs), so the walk looks up and hashes every entry again,
  # the path that issue #17 found 10x slower at 1.1M files.
  dropc
  R[$tag.walk.view]=$(walk "$mnt")
  R[$tag.warm.view]=$(walk "$mnt")
  # And the disk once more right after, cold again: the ratio below pairs walks taken side by
  # side, so that a burst of someone else's load does not make it.
  dropc
  R[$tag.walk.disk2]=$(walk "$dir/mat")
  local pid
  pid=$(server_pid "$mnt")
  R[$tag.server.m]=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  "$bin" unmount "$mnt" >/dev/null
  # The approval flow's server also knows every approved file's size, mtime and inode.
  "$bin" mount --plan "$dir/plan.smstage" "$mnt" --background >/dev/null 2>&1
  walk "$mnt" >/dev/null
  pid=$(server_pid "$mnt")
  R[$tag.pserver.m]=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  "$bin" unmount "$mnt" >/dev/null
  rm -rf "$dir/mat"

  measure "$bin" commit --config "$cfg" --backup "$dir/backup" --yes
  R[$tag.commit.t]=$T R[$tag.commit.m]=$M
  measure "$bin" rollback --config "$cfg"
  R[$tag.rollback.t]=$T R[$tag.rollback.m]=$M
  rm -rf "$dir/backup"
}

run_size small "$small"
run_size big "$big"

echo
printf '%-10s %12s %12s %10s %8s %12s %12s %10s %8s %10s\n' command "small s" "small MB" "B/file" "" \
  "big s" "big MB" "B/file" "" "cost/file"
for c in check plan save verify mount commit rollback; do
  ns=${R[small.files]} nb=${R[big.files]}
  ts=${R[small.$c.t]} tb=${R[big.$c.t]} ms=${R[small.$c.m]} mb=${R[big.$c.m]}
  printf '%-10s %12s %12.1f %10.0f %8s %12s %12.1f %10.0f %8s %9sx\n' "$c" "$ts" \
    "$(awk -v k="$ms" 'BEGIN{print k/1024}')" "$(awk -v k="$ms" -v n="$ns" 'BEGIN{print k*1024/n}')" "" \
    "$tb" "$(awk -v k="$mb" 'BEGIN{print k/1024}')" "$(awk -v k="$mb" -v n="$nb" 'BEGIN{print k*1024/n}')" "" \
    "$(awk -v a="$tb" -v na="$nb" -v b="$ts" -v nbb="$ns" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.2f", (a/na)/(b/nbb)}')"
done
echo "(save = plan --save; mount = mount --background until ready: its RSS is the foreground process, the server's is below)"
echo "marginal RSS per file, (big - small) / (files big - files small):"
for c in check plan save verify mount commit rollback; do
  printf '  %-10s %6.0f B/file\n' "$c" \
    "$(awk -v a="${R[big.$c.m]}" -v b="${R[small.$c.m]}" -v na="${R[big.files]}" -v nb="${R[small.files]}" 'BEGIN{print (a-b)*1024/(na-nb)}')"
done
for tag in small big; do
  printf '%s: %s files; view server peak RSS after a full walk %.1f MB (%.0f B/file), with --plan %.1f MB\n' \
    "$tag" "${R[$tag.files]}" "$(awk -v k="${R[$tag.server.m]}" 'BEGIN{print k/1024}')" \
    "$(awk -v k="${R[$tag.server.m]}" -v n="${R[$tag.files]}" 'BEGIN{print k*1024/n}')" \
    "$(awk -v k="${R[$tag.pserver.m]}" 'BEGIN{print k/1024}')"
  # The disk's cold walk taken before and after the view's; the ratio is against their mean.
  dmean=$(awk -v a="${R[$tag.walk.disk]}" -v b="${R[$tag.walk.disk2]}" 'BEGIN{printf "%.3f", (a+b)/2}')
  printf "   cold find -printf '%%y %%s %%m %%n %%T@': view %s s, disk %s s before and %s s after: ratio %sx (target <= 1.2x)\n" \
    "${R[$tag.walk.view]}" "${R[$tag.walk.disk]}" "${R[$tag.walk.disk2]}" "$(div "${R[$tag.walk.view]}" "$dmean")"
  printf '   warm (second) walk: view %s s, disk %s s\n' "${R[$tag.warm.view]}" "${R[$tag.warm.disk]}"
done
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); walks are single runs: repeat the script to see their spread)"
