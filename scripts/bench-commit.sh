#!/usr/bin/env bash
# Measures `smstage commit` and `smstage rollback` side by side in one run, on ONE generated
# database (default 2,000 partitions x 4 tables x 10 columns x 5,000 rows: 90,001 files,
# ~2.7 GB), against:
#   - bare_commit --same-steps (examples/bare_commit.rs): the issue's baseline, THE SAME steps
#     as the commit (mkdir, symlink, renameat2 NOREPLACE/EXCHANGE, repoint, unlink, par.txt), in
#     the same order, as bare syscalls: no journal, no probes, no fsync/syncfs, no lock, no
#     checks (target commit <= 1.5x);
#   - bare_commit (minimal): mkdir + rename + symlink per partition, the least any commit does
#     (3 namespace ops per partition against the 7 that keep the root loadable at every instant);
#   - `cp -a` of the database (target: commit >= 100x faster), and `cp -a` + `sync`.
# Contenders cycle on the same tree (forward, then its own rollback) in interleaved rounds whose
# order alternates; after every rollback the tree must list exactly as the pristine one. Prints best
# and median of each, the ratios, one round with caches dropped, and one commit under strace.
# Beside the simple database, a SEGMENTED one (issue #11) with the same partitions and files
# spread over BENCH_SEGMENTS segments (default 2; 0 skips it): its commit and rollback cycle in
# interleaved rounds with the simple ones (target: segmented commit / simple commit <= 1.2x).
# BENCH_SEGMENTED_ONLY=1 stops after that comparison.
# The approval flow's commit is measured too: `commit --plan` of a plan saved (untimed, right
# before it, as a user saves then validates) with `plan --save`; its rollback is timed as well.
# OLD_BIN=path/to/another/smstage adds that build's commit and commit --plan (each with its own
# rollback) as contenders in the same warm rounds, so a change is measured before/after side by
# side (e.g. main's binary).
# BENCH_CP=0 skips the `cp -a` contenders (at 1.1M files their copies need ~8x the database's
# space), BENCH_COLD=0 the caches-dropped round, BENCH_STRACE=0 the commit under strace. BIN / BARE use already built binaries instead of building this tree's release build.
# Every binary is copied into the work directory first, so a rebuild during the run changes nothing.
# Beside them, two floors (examples/header_floor.rs), timed each round on the pristine tree:
# the bare system calls that read every file's header (openat + fstat + pread + close: what
# `commit --config`'s checks cannot do with less before the first step) and that stamp every
# entry (one fstatat each: `commit --plan`'s fingerprint compare). "(floor + bare same steps) /
# bare same steps" is the least ratio a commit that proves its preconditions first can reach.
# BENCH_FS=ext4 runs everything on a FRESH ext4 filesystem with a journal (mkfs'd into a sparse
# image under /tmp, loop-mounted with direct I/O so pages are not cached twice, removed at the
# end), like the filesystems HDBs live on: this machine's root ext4 has no journal, where
# allocating an inode skips every one freed in the last 60-300 s (recently_deleted(), see below),
# so the bare steps' time there depends on how recently the previous contender's rollback ran.
# Needs root for drop_caches (and for BENCH_FS). Usage: scripts/bench-commit.sh [PARTITIONS] [ROWS] [ROUNDS]
# (BENCH_SETTLE=seconds shortens the settling wait below, for development runs only.)
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${1:-2000}
rows=${2:-5000}
rounds=${3:-5}
cprounds=$((rounds < 3 ? rounds : 3))
if [ -z "${BIN:-}" ] || [ -z "${BARE:-}" ]; then
  cargo build --release --locked --bin smstage --example bare_commit --example header_floor >/dev/null 2>&1
fi
work=$(mktemp -d /tmp/smstage-bench-commit.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ "${BENCH_FS:-}" = ext4 ]; then
  # Sized for the database (~5 KB per file on disk), its plan files and the cp -a copies.
  img=$(mktemp /tmp/smstage-bench-fs.XXXXXX)
  inodes=$((parts * 4 * 14 + 100000))
  copies=10; [ "${BENCH_CP:-1}" = 1 ] || copies=2
  truncate -s "$((parts * 4 * 11 * 6 * copies / 1024 + 4096))M" "$img"
  mkfs.ext4 -q -F -N "$inodes" -E lazy_itable_init=0,lazy_journal_init=0 "$img"
  loopdev=$(losetup --find --show --direct-io=on "$img")
  mnt=$(mktemp -d /tmp/smstage-bench-mnt.XXXXXX)
  mount "$loopdev" "$mnt"
  trap 'rm -rf "$work"; umount "$mnt"; losetup -d "$loopdev"; rm -f "$img"; rmdir "$mnt"' EXIT
  mkdir "$mnt/w"
  rmdir "$work"; work=$mnt/w
  echo "fresh ext4 with a journal: $(findmnt -no SOURCE,FSTYPE,OPTIONS "$mnt") on $img"
fi
mkdir "$work/bin"
cp "${BIN:-$PWD/target/release/smstage}" "$work/bin/smstage"
cp "${BARE:-$PWD/target/release/examples/bare_commit}" "$work/bin/bare_commit"
cp "${FLOOR:-$PWD/target/release/examples/header_floor}" "$work/bin/header_floor"
floor=$work/bin/header_floor
bin=$work/bin/smstage
bare=$work/bin/bare_commit
old=
if [ -n "${OLD_BIN:-}" ]; then cp "$OLD_BIN" "$work/bin/smstage-old"; old=$work/bin/smstage-old; fi
cp_on=${BENCH_CP:-1}
b=$work/b
cfg=$b/assembly.yaml

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.4f", b-a}'; }
# Time a command; `sync` first (not timed) so no contender pays for another's writeback.
t() { local s; sync; s=$(now); "$@" >/dev/null || { echo "FAILED: $*" >&2; exit 1; }; since "$s"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a/b}'; }
div2() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", a+b}'; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
median() {
  printf '%s\n' "$@" | sort -g |
    awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'
}
dropc() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# Cheap listing hash of the database (the journal directory .smstage aside): paths, types, link
# targets, modes, and sizes of everything but directories (ext4 directories never shrink).
listing() {
  (cd "$b" && find . -path ./.smstage -prune -o -type d -printf '%p d %m\n' \
    -o -printf '%p %y %l %m %s\n' | sort | md5sum | cut -c1-12)
}
# The layout compared with the minimal bare (it has no staging/tmp history, same names).
layout() { (cd "$b" && find data db -printf '%p %y %l\n' | sort | md5sum | cut -c1-12); }
content() {
  (cd "$b" && find . -path ./.smstage -prune -o -type f -print0 | sort -z | xargs -0 md5sum |
    md5sum | cut -c1-12)
}
# The commits log their phases (SMSTAGE_LOG=info: a few lines each), printed at the end.
commit() { SMSTAGE_LOG=info "$bin" commit --config "$cfg" --no-backup-check --yes 2>>"$work/phases-config.log"; }
rollback() { "$bin" rollback --config "$cfg"; }
# The rolled-back journal our rollbacks leave is removed (untimed) before OLD_BIN runs: an older
# smstage may not read this one's journal version (version 3 since issue #17's groups).
oldcommit() { "$old" commit --config "$cfg" --no-backup-check --yes; }
forget_journal() { rm -rf "$b/.smstage"; }
oldrollback() { "$old" rollback --config "$cfg"; }
approved=$work/approved.plan
save() { "$1" plan --config "$cfg" --save "$approved" --force >/dev/null 2>&1 || { echo "FAILED: plan --save ($1)" >&2; exit 1; }; }
plancommit() { SMSTAGE_LOG=info "$1" commit --plan "$approved" --no-backup-check --yes 2>>"$work/phases-plan-$(basename "$1").log"; }
check() { "$bin" check --config "$cfg" --no-backup-check; }
pristine_or_die() {
  local l; l=$(listing)
  [ "$l" = "$pristine" ] || { echo "FATAL: after $1 the tree is not the pristine one ($l vs $pristine)" >&2; exit 1; }
}

echo "generating $parts partitions x 4 tables x 10 columns x $rows rows in $work ..."
"$bin" gen --out "$b" --partitions "$parts" --tables 4 --columns 10 --rows "$rows" >/dev/null
"$bin" plan --config "$cfg" --format json >"$work/plan.json"
pristine=$(listing)
pristine_content=$(content)
nfiles=$(find "$b/data" -type f | wc -l)
kb=$(du -sk "$b/data" | cut -f1)
echo "database: $nfiles files, $(du -sh "$b/data" | cut -f1) on disk ($(du -sh --apparent-size "$b/data" | cut -f1) apparent)"
segs=${BENCH_SEGMENTS:-2}
sb=$work/s
scfg=$sb/assembly.yaml
if [ "$segs" -gt 0 ]; then
  echo "generating the same database segmented over $segs segments in $sb ..."
  "$bin" gen --out "$sb" --partitions "$parts" --tables 4 --columns 10 --rows "$rows" --segments "$segs" >/dev/null
  slisting() {
    (cd "$sb" && find . -path ./.smstage -prune -o -type d -printf '%p d %m\n' \
      -o -printf '%p %y %l %m %s\n' | sort | md5sum | cut -c1-12)
  }
  spristine=$(slisting)
  sfiles=$(find "$sb" -path "$sb/.smstage" -prune -o -type f ! -name assembly.yaml -print | wc -l)
  echo "segmented database: $sfiles files (the simple one's plus par.txt)"
fi
# Every `cp -a` goes to a new directory and none is removed before the end: removing a tree just
# before a contender would bill it for the removal (see the comment on `sleep` below).
need=$(((2 * cprounds + 2) * kb + 2 * 1024 * 1024))
[ "$cp_on" = 1 ] || need=$((2 * 1024 * 1024))
avail=$(df -k --output=avail "$work" | tail -1)
[ "$avail" -gt "$need" ] || { echo "not enough space: the cp -a contenders need $((need / 1024)) MB, $((avail / 1024)) MB free" >&2; exit 1; }

# On ext4 without a journal (this machine's root), allocating an inode skips every candidate
# deleted in the last 60 s (300 s while its bitmap buffer is dirty): recently_deleted() in
# find_inode_bit. The generator just wrote 90,001 files (and any earlier run may have removed
# some): wait, on a synced disk, until no such window is open, so the contender that allocates
# more inodes is not billed for scanning past them. The window cannot be avoided between
# contenders cycling on one tree (each rollback removes thousands of links and directories, and
# while an inode-table block is dirty the window is 360 s): the commit and the same-steps bare
# allocate and free exactly the same inodes, and the rounds alternate their order
# (commit, same, minimal / same, commit, minimal), after one untimed minimal cycle, so that each
# follows the other's rollback and the minimal one's equally often.
sync
sleep "${BENCH_SETTLE:-61}"
"$bare" "$work/plan.json" >/dev/null
"$bare" --rollback "$work/plan.json" >/dev/null

if [ "$segs" -gt 0 ]; then
  scommit() { "$bin" commit --config "$scfg" --no-backup-check --yes; }
  srollback() { "$bin" rollback --config "$scfg"; }
  sc=(); sr=(); pc=(); pr=()
  for i in $(seq 0 $((rounds - 1))); do
    # Alternate the order so that each follows the other's rollback equally often.
    if [ $((i % 2)) = 0 ]; then order=(simple segmented); else order=(segmented simple); fi
    for n in "${order[@]}"; do
      if [ "$n" = simple ]; then
        pc+=("$(t commit)"); pr+=("$(t rollback)"); pristine_or_die "simple rollback (segmented comparison, round $((i + 1)))"
      else
        sc+=("$(t scommit)"); sr+=("$(t srollback)")
        [ "$(slisting)" = "$spristine" ] || { echo "FATAL: the segmented rollback did not restore the tree" >&2; exit 1; }
      fi
    done
  done
  echo
  echo "segmented ($segs segments) beside simple, same partitions and files, $rounds rounds; best / median:"
  printf '  %-30s %8.3f / %8.3f s\n' "simple commit" "$(best "${pc[@]}")" "$(median "${pc[@]}")"
  printf '  %-30s %8.3f / %8.3f s\n' "segmented commit" "$(best "${sc[@]}")" "$(median "${sc[@]}")"
  printf '  %-30s %8.3f / %8.3f s\n' "simple rollback" "$(best "${pr[@]}")" "$(median "${pr[@]}")"
  printf '  %-30s %8.3f / %8.3f s\n' "segmented rollback" "$(best "${sr[@]}")" "$(median "${sr[@]}")"
  printf '  %-34s %6sx %6sx   (target <= 1.2x)\n' "segmented / simple commit" \
    "$(div2 "$(best "${sc[@]}")" "$(best "${pc[@]}")")" "$(div2 "$(median "${sc[@]}")" "$(median "${pc[@]}")")"
  printf '  %-34s %6sx %6sx\n' "segmented / simple rollback" \
    "$(div2 "$(best "${sr[@]}")" "$(best "${pr[@]}")")" "$(div2 "$(median "${sr[@]}")" "$(median "${pr[@]}")")"
  [ "${BENCH_SEGMENTED_ONLY:-0}" = 1 ] && exit 0
fi

declare -A fw bw lay
ck=(); hf=(); sf=()
for i in $(seq 0 $((rounds - 1))); do
  ck+=("$(t check)")
  hf+=("$(t "$floor" --headers "$b/data")")
  sf+=("$(t "$floor" --stamps "$b/data")")
  if [ $((i % 2)) = 0 ]; then names=(commit plan same minimal); else names=(same plan commit minimal); fi
  # The old build's contenders run beside ours, in alternate positions as well.
  if [ -n "$old" ]; then
    if [ $((i % 2)) = 0 ]; then names=(old commit oldplan plan same minimal)
    else names=(same plan oldplan commit old minimal); fi
  fi
  for n in "${names[@]}"; do
    case $n in
      commit) f=$(t commit); [ "$i" -gt 0 ] || { lay[commit]=$(listing); lay[commit_l]=$(layout); }
              r=$(t rollback) ;;
      old) forget_journal; f=$(t oldcommit); [ "$i" -gt 0 ] || lay[old]=$(listing)
           r=$(t oldrollback) ;;
      plan) save "$bin"; f=$(t plancommit "$bin"); [ "$i" -gt 0 ] || lay[plan]=$(listing)
            r=$(t rollback) ;;
      oldplan) forget_journal; save "$old"; f=$(t plancommit "$old"); r=$(t oldrollback) ;;
      same) f=$(t "$bare" --same-steps "$work/plan.json"); [ "$i" -gt 0 ] || lay[same]=$(listing)
            r=$(t "$bare" --same-steps --rollback "$work/plan.json") ;;
      minimal) f=$(t "$bare" "$work/plan.json"); [ "$i" -gt 0 ] || lay[minimal]=$(layout)
               r=$(t "$bare" --rollback "$work/plan.json") ;;
    esac
    pristine_or_die "$n rollback (round $((i + 1)))"
    fw[$n]="${fw[$n]:-} $f"; bw[$n]="${bw[$n]:-} $r"
  done
done
[ "${lay[commit]}" = "${lay[same]}" ] && same=yes || same="NO (${lay[commit]} vs ${lay[same]})"
[ "${lay[commit_l]}" = "${lay[minimal]}" ] && samemin=yes || samemin="NO (${lay[commit_l]} vs ${lay[minimal]})"
if [ -n "$old" ]; then
  [ "${lay[old]}" = "${lay[commit]}" ] && sameold=yes || sameold="NO (${lay[old]} vs ${lay[commit]})"
fi
[ "${lay[plan]}" = "${lay[commit]}" ] && sameplan=yes || sameplan="NO (${lay[plan]} vs ${lay[commit]})"

# Cold: page cache dropped before each contender (on the same cycling tree).
cold_on=${BENCH_COLD:-1}
cc=0; bcc=0
if [ "$cold_on" = 1 ]; then
  dropc; cc=$(t commit); rollback >/dev/null; pristine_or_die "cold commit rollback"
  dropc; bcc=$(t "$bare" --same-steps "$work/plan.json"); "$bare" --same-steps --rollback "$work/plan.json" >/dev/null
  pristine_or_die "cold bare rollback"
fi

cpa=(); cps=(); cpc=0
if [ "$cp_on" = 1 ]; then
  for i in $(seq "$cprounds"); do
    cpa+=("$(t cp -a "$b/data" "$work/cpa$i")")
    sync; s=$(now); cp -a "$b/data" "$work/cps$i"; sync; cps+=("$(since "$s")")
  done
  dropc; cpc=$(t cp -a "$b/data" "$work/cpc")
else
  cpa=(0); cps=(0)
fi
final_content=$(content)
[ "$final_content" = "$pristine_content" ] && intact=yes || intact="NO ($final_content vs $pristine_content)"

# Where the time goes (strace slows every syscall down: use the counts, and the shares).
strace_on=${BENCH_STRACE:-1}
if [ "$strace_on" = 1 ]; then
  sync
  strace -f -c -w -o "$work/strace.txt" "$bin" commit --config "$cfg" --no-backup-check --yes \
    >"$work/commit.out"
  steps=$(grep -o '[0-9]* steps' "$work/commit.out" | head -1)
fi

# shellcheck disable=SC2086 # the lists are space-separated on purpose
{
  c=$(best ${fw[commit]}); cm=$(median ${fw[commit]})
  r=$(best ${bw[commit]}); rm_=$(median ${bw[commit]})
  s=$(best ${fw[same]}); sm=$(median ${fw[same]})
  sr=$(best ${bw[same]}); srm=$(median ${bw[same]})
  m=$(best ${fw[minimal]}); mm=$(median ${fw[minimal]})
  mr=$(best ${bw[minimal]}); mrm=$(median ${bw[minimal]})
}
k=$(best "${ck[@]}"); km=$(median "${ck[@]}")
hb=$(best "${hf[@]}"); hm=$(median "${hf[@]}")
sb_=$(best "${sf[@]}"); sbm=$(median "${sf[@]}")
a=$(best "${cpa[@]}"); am=$(median "${cpa[@]}")
y=$(best "${cps[@]}"); ym=$(median "${cps[@]}")
echo
echo "final layout of commit and bare --same-steps identical: $same; commit and minimal bare: $samemin"
echo "tree listed as pristine after every rollback: yes; contents intact at the end: $intact"
[ -z "$old" ] || echo "final layout of this commit and OLD_BIN's identical: $sameold"
echo "final layout of commit --plan and commit --config identical: $sameplan"
printf 'warm, %d rounds (cp -a: %d); best / median:\n' "$rounds" "$cprounds"
row() { printf '  %-30s %8.3f / %8.3f s\n' "$1" "$2" "$3"; }
row "smstage commit" "$c" "$cm"
if [ -n "$old" ]; then
  # shellcheck disable=SC2086 # space-separated on purpose
  { o=$(best ${fw[old]}); om=$(median ${fw[old]}); orr=$(best ${bw[old]}); orm=$(median ${bw[old]}); }
  row "OLD_BIN commit" "$o" "$om"
  row "OLD_BIN rollback" "$orr" "$orm"
fi
# shellcheck disable=SC2086 # space-separated on purpose
{ apc=$(best ${fw[plan]}); apcm=$(median ${fw[plan]}); apr=$(best ${bw[plan]}); aprm=$(median ${bw[plan]}); }
row "smstage commit --plan" "$apc" "$apcm"
row "rollback after --plan" "$apr" "$aprm"
if [ -n "$old" ]; then
  # shellcheck disable=SC2086 # space-separated on purpose
  { opc=$(best ${fw[oldplan]}); opcm=$(median ${fw[oldplan]}); }
  row "OLD_BIN commit --plan" "$opc" "$opcm"
fi
row "bare --same-steps" "$s" "$sm"
row "bare minimal" "$m" "$mm"
row "smstage check (part of commit)" "$k" "$km"
row "floor: read every header" "$hb" "$hm"
row "floor: stamp every entry" "$sb_" "$sbm"
row "smstage rollback" "$r" "$rm_"
row "bare --same-steps --rollback" "$sr" "$srm"
row "bare minimal --rollback" "$mr" "$mrm"
if [ "$cp_on" = 1 ]; then
  row "cp -a" "$a" "$am"
  row "cp -a + sync" "$y" "$ym"
fi
echo "ratios (best, median):"
ratio() { printf '  %-34s %6sx %6sx   %s\n' "$1" "$(div2 "$2" "$3")" "$(div2 "$4" "$5")" "${6:-}"; }
ratio "commit / bare same steps" "$c" "$s" "$cm" "$sm" "(target <= 1.5x)"
ratio "commit --plan / bare same steps" "$apc" "$s" "$apcm" "$sm" "(target <= 1.5x)"
[ -z "$old" ] || ratio "OLD_BIN commit --plan / bare same" "$opc" "$s" "$opcm" "$sm"
[ -z "$old" ] || ratio "OLD_BIN commit / bare same steps" "$o" "$s" "$om" "$sm"
[ -z "$old" ] || ratio "commit / OLD_BIN commit" "$c" "$o" "$cm" "$om"
ratio "commit / bare minimal" "$c" "$m" "$cm" "$mm"
ratio "commit / (check + bare same steps)" "$c" "$(add "$k" "$s")" "$cm" "$(add "$km" "$sm")"
ratio "rollback / bare same-steps rollback" "$r" "$sr" "$rm_" "$srm"
ratio "check / header floor" "$k" "$hb" "$km" "$hm"
ratio "(header floor + same) / same" "$(add "$hb" "$s")" "$s" "$(add "$hm" "$sm")" "$sm"
ratio "(stamp floor + same) / same" "$(add "$sb_" "$s")" "$s" "$(add "$sbm" "$sm")" "$sm"
if [ "$cp_on" = 1 ]; then
  ratio "cp -a / commit" "$a" "$c" "$am" "$cm" "(target >= 100x)"
  ratio "(cp -a + sync) / commit" "$y" "$c" "$ym" "$cm"
fi
if [ "$cold_on" = 1 ] && [ "$cp_on" = 1 ]; then
  printf 'caches dropped before each: commit %.3f s, bare same steps %.3f s (ratio %sx), cp -a %.3f s (cp -a/commit %sx)\n' \
    "$cc" "$bcc" "$(div "$cc" "$bcc")" "$cpc" "$(div "$cpc" "$cc")"
elif [ "$cold_on" = 1 ]; then
  printf 'caches dropped before each: commit %.3f s, bare same steps %.3f s (ratio %sx); cp -a skipped (BENCH_CP=0)\n' \
    "$cc" "$bcc" "$(div "$cc" "$bcc")"
fi
phases() {
  [ -f "$1" ] || return 0
  echo "$2, phases of each warm round (SMSTAGE_LOG=info):"
  grep -oE '(checks run( \([^)]*\))?|plan file read|plan derived again[^0-9]*|fingerprint compared( beside the steps)?|entries the first steps mark compared[^0-9]*|backup precondition checked|preflight, plan and journal written|proof awaited at the gate|committed: steps run) (in|for) [0-9.]+[mµ]?s( \([^)]*\))?' "$1" |
    sed 's/^/  /'
}
echo
phases "$work/phases-config.log" "commit --config"
phases "$work/phases-plan-smstage.log" "commit --plan"
if [ "$strace_on" = 1 ]; then
  echo
  echo "one smstage commit ($steps) under strace -f -c -w (wall time in each syscall, all threads):"
  awk 'NR<=2 || /fsync|fdatasync|syncfs|sync_file|total|openat|statx|pread|readlink|symlink|rename|mkdir|unlink|getdents|futex|write/' \
    "$work/strace.txt"
fi
