#!/usr/bin/env bash
# Measures the staging view (`smstage mount`) against the same data on disk, side by side in one
# run, on a generated database (default 2,250 partitions × 4 tables × 10 columns × 2,000 rows:
# 101,251 files, 1.25 GB). Prints ratios; absolute times vary on a shared machine.
#   (a) sequential read of every partition file, through MOUNT/db/<segment>/… vs the original
#       files, same order, 1 MiB reads (and an mmap pass), cold (caches dropped) and warm;
#       target view/direct throughput >= 0.95x. Repeated on a few large files (BIG=0 skips).
#   (b) find + lstat of every entry of the view vs the same layout materialised on disk (real
#       dirs, symlinks, par.txt, hard links to the files); cold (fresh mount, caches dropped) and
#       warm; target view/disk <= 1.5x.
#   (c) mount-ready time (`smstage mount --background` until it returns, then the first
#       `ls MOUNT/db`), split into plan and after-plan; server peak RSS (VmHWM) after (b);
#       targets <= 1 s and <= 200 MB.
#   (c') mount-ready of a saved plan (`mount --plan`: a stat of each directory and top-level
#       entry, no header read) against the mount that re-checks (`mount --config`), both with
#       the page cache dropped, alternating; target --plan <= 0.3x of --config and <= 1 s.
#   (d) a q-like workload (examples/qlike.rs): par.txt, the last partition's tables, .d, then
#       mmap of every column of every partition with the maps held per partition, a cold pass
#       then three warm re-runs, through the view and on the same layout on disk, on both the
#       small-file and the large-file database: the workload the default --cache-mode is
#       chosen by.
# (a) and (b) run once per cache mode of the view (MODES, default "open no-open": passthrough
# per open, the default, and --cache-mode no-open); (a) adds one cold pass with the view's
# cross-file readahead off.
# READY_ONLY=1 runs (c) and (c') only; QLIKE_ONLY=1 runs (d) only.
# Needs root (drop_caches, FUSE). Usage: scripts/bench-view.sh [PARTITIONS] [ROWS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${1:-2250}
rows=${2:-2000}
rounds=${3:-3}
big=${BIG:-1}
modes=${MODES:-open no-open}
cargo build --release --locked --bin smstage --example seqread --example materialize \
  --example mount_ready --example qlike >/dev/null 2>&1
bin=$PWD/target/release/smstage
ex=$PWD/target/release/examples
work=$(mktemp -d /tmp/smstage-bench-view.XXXXXX)
mnt=$work/mnt
mnt2=$work/mnt-big
mkdir -p "$mnt" "$mnt2"
mounted() { grep -q " $1 fuse" /proc/self/mounts; }
cleanup() {
  for m in "$mnt" "$mnt2"; do mounted "$m" && "$bin" unmount "$m" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.4f", b-a}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
dropc() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# Quiet on success; on failure show what the command said.
quiet() { "$@" >"$work/cmd.log" 2>&1 || { cat "$work/cmd.log" >&2; return 1; }; }
mode=open
mount_view() { quiet "$bin" mount --config "$1" "$2" --background --cache-mode "$mode"; }
mount_plan_view() { quiet "$bin" mount --plan "$1" "$2" --background --cache-mode "$mode"; }
unmount_view() { quiet "$bin" unmount "$1"; }
# The background server is the forked child of `smstage mount`: same command line.
server_pid() {
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "smstage mount .*$1"; then
      basename "$p"
      return
    fi
  done
}
# seqread prints "N files B bytes S s …": the seconds.
rd() { "$ex/seqread" "$@" | awk '{print $5}'; }
walk() {
  local s
  s=$(now)
  find "$1" -printf '%y %s %m %n %T@\n' >"$work/walk.out"
  since "$s"
}

echo "generating $parts partitions x 4 tables x 10 columns x $rows rows in $work ..."
"$bin" gen --out "$work/hdb" --partitions "$parts" --tables 4 --columns 10 --rows "$rows" >/dev/null
cfg=$work/hdb/assembly.yaml
nfiles=$(find "$work/hdb/data" -type f | wc -l)
echo "database: $nfiles files, $(du -sh "$work/hdb/data" | cut -f1) on disk," \
  "$(du -sb "$work/hdb/data" | cut -f1) bytes apparent"
"$bin" plan --config "$cfg" --format json >"$work/plan.json"
if [ "${READY_ONLY:-0}" != 1 ]; then
  "$ex/materialize" "$work/plan.json" "$work/mat" >/dev/null
fi

qlike_only=${QLIKE_ONLY:-0}
if [ "$qlike_only" != 1 ]; then
echo
echo "== (c) mount-ready time, first ls, server peak RSS"
dropc
s=$(now); mount_view "$cfg" "$mnt"; mcold=$(since "$s")
s=$(now); ls "$mnt/db" >/dev/null; lcold=$(since "$s")
unmount_view "$mnt"
m=(); l=(); sp=(); sa=()
for i in $(seq "$rounds"); do
  s=$(now); mount_view "$cfg" "$mnt"; m+=("$(since "$s")")
  s=$(now); ls "$mnt/db" >/dev/null; l+=("$(since "$s")")
  unmount_view "$mnt"
  out=$("$ex/mount_ready" "$cfg" "$mnt" 2>/dev/null)
  sp+=("$(awk '{print $2}' <<<"$out")"); sa+=("$(awk '{print $7}' <<<"$out")")
  unmount_view "$mnt"
done
printf 'mount --background, caches dropped: %.3f s; first ls of db: %.4f s\n' "$mcold" "$lcold"
printf 'mount --background, warm (best of %d): %.3f s; first ls of db: %.4f s   (target <= 1 s)\n' \
  "$rounds" "$(best "${m[@]}")" "$(best "${l[@]}")"
printf '  of which building the plan (checks): %.3f s, mounting after the plan: %.3f s\n' \
  "$(best "${sp[@]}")" "$(best "${sa[@]}")"

echo
echo "== (c') mount-ready of a saved plan (mount --plan) vs re-checking (mount --config), caches dropped"
"$bin" plan --config "$cfg" --save "$work/saved-plan.json" >/dev/null 2>"$work/cmd.log" ||
  { cat "$work/cmd.log" >&2; exit 1; }
echo "plan file: $(du -h "$work/saved-plan.json" | cut -f1)"
rc=(); rp=()
for i in $(seq "$rounds"); do
  dropc; s=$(now); mount_view "$cfg" "$mnt"; ls "$mnt/db" >/dev/null; rc+=("$(since "$s")")
  unmount_view "$mnt"
  dropc; s=$(now); mount_plan_view "$work/saved-plan.json" "$mnt"; ls "$mnt/db" >/dev/null; rp+=("$(since "$s")")
  unmount_view "$mnt"
done
bcfg=$(best "${rc[@]}"); bplan=$(best "${rp[@]}")
printf 'mount-ready (mount --background + first ls of db), caches dropped, best of %d:\n' "$rounds"
printf '  mount --config (re-checks every header): %.3f s   [%s]\n' "$bcfg" "${rc[*]}"
printf '  mount --plan (saved plan):               %.3f s   [%s]\n' "$bplan" "${rp[*]}"
printf '  ratio plan/config %sx   (target <= 0.3x and <= 1 s)\n' "$(div "$bplan" "$bcfg")"
if [ "${READY_ONLY:-0}" = 1 ]; then exit 0; fi
fi

seg=
run_mode() {
echo
echo "######## cache mode: $mode"
echo
if [ "$qlike_only" != 1 ]; then
echo "== (b) find + lstat of every entry: view vs the layout materialised on disk"
dropc
dcold=$(walk "$work/mat"); n_disk=$(wc -l <"$work/walk.out")
mount_view "$cfg" "$mnt"
dropc
vcold=$(walk "$mnt"); n_view=$(wc -l <"$work/walk.out")
pid=$(server_pid "$mnt")
d=(); v=()
for i in $(seq "$rounds"); do
  d+=("$(walk "$work/mat")"); v+=("$(walk "$mnt")")
done
bd=$(best "${d[@]}"); bv=$(best "${v[@]}")
echo "entries: view $n_view, disk $n_disk"
printf 'cold (fresh mount, caches dropped): view %.3f s, disk %.3f s, ratio view/disk %sx\n' \
  "$vcold" "$dcold" "$(div "$vcold" "$dcold")"
printf 'warm (best of %d):                  view %.3f s, disk %.3f s, ratio view/disk %sx   (target <= 1.5x)\n' \
  "$rounds" "$bv" "$bd" "$(div "$bv" "$bd")"
if [ -n "$pid" ]; then
  hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  printf 'server pid %s peak RSS (VmHWM) after the walks: %.1f MB   (target <= 200 MB)\n' \
    "$pid" "$(awk -v k="$hwm" 'BEGIN{print k/1024}')"
else
  echo "server pid not found: peak RSS not measured"
fi

echo
echo "== (a) sequential read of every partition file: view (db/<segment>/…) vs direct"
seg=$(head -1 "$mnt/db/par.txt")
(cd "$work/hdb/data" && find 2* -type f | sort) >"$work/list"
echo "$(wc -l <"$work/list") files through $mnt/db/$seg"
readcmp() { # LABEL DIRECT_ROOT VIEW_ROOT LIST
  local dc=() vc=() dw=() vw=() dm=() vm=() i
  for i in 1 2; do # cold, alternating who goes first
    if [ "$i" = 1 ]; then
      dropc; dc+=("$(rd "$2" "$4")"); dropc; vc+=("$(rd "$3" "$4")")
    else
      dropc; vc+=("$(rd "$3" "$4")"); dropc; dc+=("$(rd "$2" "$4")")
    fi
  done
  rd "$2" "$4" >/dev/null; rd "$3" "$4" >/dev/null
  for i in $(seq "$rounds"); do
    dw+=("$(rd "$2" "$4")"); vw+=("$(rd "$3" "$4")")
  done
  for i in 1 2; do
    dm+=("$(rd --mmap "$2" "$4")"); vm+=("$(rd --mmap "$3" "$4")")
  done
  local a b
  a=$(best "${dc[@]}"); b=$(best "${vc[@]}")
  printf '%s read, cold (best of 2):  direct %.3f s, view %.3f s, throughput view/direct %sx   (target >= 0.95x)\n' \
    "$1" "$a" "$b" "$(div "$a" "$b")"
  a=$(best "${dw[@]}"); b=$(best "${vw[@]}")
  printf '%s read, warm (best of %d):  direct %.3f s, view %.3f s, throughput view/direct %sx\n' \
    "$1" "$rounds" "$a" "$b" "$(div "$a" "$b")"
  a=$(best "${dm[@]}"); b=$(best "${vm[@]}")
  printf '%s mmap, warm (best of 2):  direct %.3f s, view %.3f s, throughput view/direct %sx\n' \
    "$1" "$a" "$b" "$(div "$a" "$b")"
}
readcmp "small files ($(($(du -sb "$work/hdb/data" | cut -f1) / nfiles)) B avg)" \
  "$work/hdb/data" "$mnt/db/$seg" "$work/list"
unmount_view "$mnt"
# What the cross-file readahead is worth: the same cold read with it off, against the direct
# read right after it.
SMSTAGE_READAHEAD_FILES=0 mount_view "$cfg" "$mnt"
dropc; v=$(rd "$mnt/db/$seg" "$work/list"); dropc; d=$(rd "$work/hdb/data" "$work/list")
printf 'small files read, cold, readahead off (SMSTAGE_READAHEAD_FILES=0):  direct %.3f s, view %.3f s, throughput view/direct %sx\n' \
  "$d" "$v" "$(div "$d" "$v")"
unmount_view "$mnt"

if [ "$big" = 1 ]; then
  echo
  echo "== (a') the same read on large column files: 20 partitions x 4 tables x 100,000 rows"
  (cd "$work/big/data" && find 2* -type f | sort) >"$work/list-big"
  nb=$(wc -l <"$work/list-big"); bb=$(du -sb "$work/big/data" | cut -f1)
  echo "$nb files, $bb bytes ($((bb / nb)) B avg)"
  mount_view "$work/big/assembly.yaml" "$mnt2"
  readcmp "large files" "$work/big/data" "$mnt2/db/$(head -1 "$mnt2/db/par.txt")" "$work/list-big"
  unmount_view "$mnt2"
fi

fi
echo
echo "== (d) q-like workload: par.txt, tables of the last partition, .d, mmap of every column of"
echo "   every partition (maps held per partition), one cold pass then 3 warm re-runs (qlike)"
mount_view "$cfg" "$mnt"
qcmp "small files" "$work/mat/db" "$mnt/db"
unmount_view "$mnt"
if [ "$big" = 1 ]; then
  mount_view "$work/big/assembly.yaml" "$mnt2"
  qcmp "large files" "$work/mat-big/db" "$mnt2/db"
  unmount_view "$mnt2"
fi
}

# qlike prints "load cold warm1 warm2 warm3 files N bytes B sum S"; compares LABEL DIRECT VIEW.
qcmp() {
  local d v
  dropc; v=$("$ex/qlike" "$3" - - 4); dropc; d=$("$ex/qlike" "$2" - - 4)
  if [ "$(awk '{print $11}' <<<"$d")" != "$(awk '{print $11}' <<<"$v")" ]; then
    echo "q-like workload: the view mapped other bytes than the disk: $v / $d" >&2
    return 1
  fi
  local dc vc dw vw
  dc=$(awk '{print $1 + $2}' <<<"$d"); vc=$(awk '{print $1 + $2}' <<<"$v")
  dw=$(awk '{m=$3; if ($4<m) m=$4; if ($5<m) m=$5; print m}' <<<"$d")
  vw=$(awk '{m=$3; if ($4<m) m=$4; if ($5<m) m=$5; print m}' <<<"$v")
  printf '%s, %s files mapped per query pass: load + first pass, cold: direct %.3f s, view %.3f s, view/direct throughput %sx; warm re-runs (best of 3): direct %.3f s, view %.3f s, %sx\n' \
    "$1" "$(awk '{print $7}' <<<"$d")" "$dc" "$vc" "$(div "$dc" "$vc")" "$dw" "$vw" "$(div "$dw" "$vw")"
}

if [ "$big" = 1 ]; then
  "$bin" gen --out "$work/big" --partitions 20 --tables 4 --columns 10 --rows 100000 >/dev/null
  "$bin" plan --config "$work/big/assembly.yaml" --format json >"$work/plan-big.json"
  "$ex/materialize" "$work/plan-big.json" "$work/mat-big" >/dev/null
fi
for mode in $modes; do run_mode; done
