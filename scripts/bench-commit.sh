#!/usr/bin/env bash
# Measures `smstage commit` and `smstage rollback` side by side in one run, on fresh copies of a
# generated database (default 2,000 partitions × 4 tables × 10 columns × 100 rows, 90,001 files),
# against:
#   - bare_commit (examples/bare_commit.rs): the same mkdirs, renames, symlinks and par.txt
#     from the plan JSON, with no journal, no lock, no fsync, no checks (target commit <= 1.5x);
#   - `cp -a` of the database (target: commit >= 100x faster), and `cp -a` + `sync`.
# Every contender starts from a fresh copy after `sync` (copying is not timed, except for
# `cp -a` itself). One more round with caches dropped, then one commit under `strace -f -c -w`
# to show where the time goes. Prints ratios; absolute times vary on a shared machine.
# Needs root for drop_caches. Usage: scripts/bench-commit.sh [PARTITIONS] [ROWS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${1:-2000}
rows=${2:-100}
rounds=${3:-2}
cargo build --release --locked --bin smstage --example bare_commit >/dev/null 2>&1
bin=$PWD/target/release/smstage
bare=$PWD/target/release/examples/bare_commit
work=$(mktemp -d /tmp/smstage-bench-commit.XXXXXX)
trap 'rm -rf "$work"' EXIT
b=$work/b
cfg=$b/assembly.yaml

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.4f", b-a}'; }
t() { local s; s=$(now); "$@" >/dev/null; since "$s"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a/b}'; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
dropc() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# A fresh database at $b, everything on disk, so no contender pays for earlier writeback.
fresh() { rm -rf "$b"; cp -a "$work/pristine" "$b"; sync; }
layout() { (cd "$b" && find data db -printf '%p %y %l\n' | sort | md5sum | cut -c1-12); }
commit() { "$bin" commit --config "$cfg" --no-backup-check --yes; }
rollback() { "$bin" rollback --config "$cfg"; }

echo "generating $parts partitions x 4 tables x 10 columns x $rows rows in $work ..."
"$bin" gen --out "$b" --partitions "$parts" --tables 4 --columns 10 --rows "$rows" >/dev/null
cp -a "$b" "$work/pristine"
echo "database: $(find "$b/data" -type f | wc -l) files, $(du -sh "$b/data" | cut -f1)"
sync
"$bin" plan --config "$cfg" --format json >"$work/plan.json"
tp=$(t "$bin" plan --config "$cfg" --format json)

c=(); r=(); bc=(); br=(); cp_=(); cps=()
for i in $(seq "$rounds"); do
  fresh; c+=("$(t commit)"); lc=$(layout); r+=("$(t rollback)")
  fresh; bc+=("$(t "$bare" "$work/plan.json")"); lb=$(layout)
  br+=("$(t "$bare" --rollback "$work/plan.json")")
  cp_+=("$(t cp -a "$b/data" "$work/cpa")"); rm -rf "$work/cpa"; sync
  s=$(now); cp -a "$b/data" "$work/cpa"; sync; cps+=("$(since "$s")"); rm -rf "$work/cpa"; sync
done
[ "$lc" = "$lb" ] && same=yes || same="NO ($lc vs $lb)"
# Cold: page cache dropped before each contender.
fresh; dropc; cc=$(t commit); rollback >/dev/null
fresh; dropc; bcc=$(t "$bare" "$work/plan.json")
rm -rf "$b"; dropc; cpc=$(t cp -a "$work/pristine/data" "$work/cpa"); rm -rf "$work/cpa"
# Where the time goes (strace slows every syscall down: use the counts, and the shares).
fresh
strace -f -c -w -o "$work/strace.txt" "$bin" commit --config "$cfg" --no-backup-check --yes \
  >"$work/commit.out"
steps=$(grep -o '[0-9]* steps' "$work/commit.out" | head -1)

bc_=$(best "${c[@]}"); br_=$(best "${r[@]}"); bb=$(best "${bc[@]}"); bbr=$(best "${br[@]}")
bcp=$(best "${cp_[@]}"); bcps=$(best "${cps[@]}")
echo
echo "final layouts of smstage commit and bare_commit identical: $same"
printf 'smstage plan (checks + plan, part of commit): %.3f s\n' "$tp"
printf 'warm, best of %d:\n' "$rounds"
printf '  smstage commit    %8.3f s\n' "$bc_"
printf '  bare_commit       %8.3f s   ratio commit/bare %sx   (target <= 1.5x); commit/(plan+bare) %sx\n' \
  "$bb" "$(div "$bc_" "$bb")" "$(div "$bc_" "$(awk -v a="$tp" -v b="$bb" 'BEGIN{print a+b}')")"
printf '  cp -a             %8.3f s   ratio cp -a/commit %sx   (target >= 100x)\n' "$bcp" "$(div "$bcp" "$bc_")"
printf '  cp -a + sync      %8.3f s   ratio (cp -a + sync)/commit %sx\n' "$bcps" "$(div "$bcps" "$bc_")"
printf '  smstage rollback  %8.3f s\n' "$br_"
printf '  bare rollback     %8.3f s   ratio rollback/bare %sx\n' "$bbr" "$(div "$br_" "$bbr")"
printf 'caches dropped before each: commit %.3f s, bare %.3f s (ratio %sx), cp -a %.3f s (cp -a/commit %sx)\n' \
  "$cc" "$bcc" "$(div "$cc" "$bcc")" "$cpc" "$(div "$cpc" "$cc")"
echo
echo "one smstage commit ($steps) under strace -f -c -w (wall time in each syscall, all threads):"
awk 'NR<=2 || /fsync|fdatasync|sync_file|total|openat|statx|pread|symlink|rename|mkdir|getdents|futex/' \
  "$work/strace.txt"
