#!/usr/bin/env bash
# The main job end to end on a generated sample database, in a temporary directory, with the
# approval flow. The sample has kdb+tick's shape (`time` a timespan, no timestamp column), which
# SM's import refuses as it is, so the demo makes it importable with a derived partition column:
# gen --tick-style → init --remedy (the assembly, from the database) → check --remedy →
# plan --remedy --save (stages ts) → mount --plan → verify the view → commit --plan → the
# committed tree → verify → status.
# Quiet by default: package installs and the build go to a log file, named below;
# SMSTAGE_DEMO_VERBOSE=1 shows them.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/smstage-demo.XXXXXX)
log=$work/demo.log
step() { printf '\n== %s\n' "$*"; }
quiet() {
  if [ "${SMSTAGE_DEMO_VERBOSE:-0}" = 1 ]; then "$@" 2>&1 | tee -a "$log"; else "$@" >>"$log" 2>&1; fi
}
trap 'st=$?; [ $st = 0 ] || echo "!! demo failed (exit $st): see $log" >&2' EXIT

echo "smstage demo: working in $work (build and install output: $log)"
step "setup: system packages (fuse3, pkg-config; root for apt)"
quiet bash scripts/setup.sh --without-s3
step "build: cargo build --release (about 4 min on 2 cores the first time, seconds after)"
start=$(date +%s)
quiet cargo build --release --locked
echo "   built target/release/smstage in $(($(date +%s) - start)) s"
bin=$PWD/target/release/smstage
base=$work/hdb                 # the HDB mount's baseURI: the database is $base/data
cfg=$work/assembly.yaml
planfile=$work/approved.plan

remedy='derive-prtncol:*=time'  # ts = partition date + time, in every table (docs/cli.md, "Remedies")

step "smstage gen --tick-style: a kdb+tick-shaped date-partitioned database in $base/data"
"$bin" gen --out "$base" --tick-style --partitions 5 --tables 3 --columns 8 --rows 2000 | head -1
rm "$base/assembly.yaml"       # gen writes one too; the demo uses init's, as a user would
cp -a "$base/data" "$work/backup"
echo "   backup (the precondition of every import): $work/backup"

step "smstage init --remedy $remedy: the assembly file, from the database, with ts as prtnCol"
"$bin" init "$base/data" --out "$cfg" --remedy "$remedy" | sed -n '1,/^next:/p' | sed '$d'

step "smstage check without the remedy (as SM's import judges the database as it stands: refused, ts is not on disk)"
"$bin" check --config "$cfg" --backup "$work/backup" 2>&1 | grep -m3 -E 'error|FAILED' || true

step "smstage check --remedy $remedy (the database as the remedy will leave it; changes nothing)"
"$bin" check --config "$cfg" --backup "$work/backup" --remedy "$remedy" | sed -n '1,2p;$p'

step "smstage plan --remedy --save (the plan to approve; stages each ts, fingerprints the rest)"
"$bin" plan --config "$cfg" --remedy "$remedy" --save "$planfile" >"$work/plan.txt" 2>&1
grep -m1 'plan_id' "$work/plan.txt" || true
echo "   full plan: $work/plan.txt"
plan_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plan_id"])' "$planfile")
root=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plan"]["root"])' "$planfile")

step "smstage mount --plan (read-only staging view of exactly that plan)"
mkdir -p "$work/view"
"$bin" mount --plan "$planfile" "$work/view" --background 2>&1 | sed 's/^smstage: //'
trap 'st=$?; "$bin" unmount "$work/view" >/dev/null 2>&1 || true; [ $st = 0 ] || echo "!! demo failed (exit $st): see $log" >&2' EXIT
echo "   the view's $root/par.txt (the segments q loads, one per SM tier):"
sed 's/^/     /' "$work/view/$root/par.txt"

step "smstage verify the view against the original database (every value; ts = date + time on every row)"
"$bin" verify "$work/view/$root" --config "$cfg" --against "$base/data" --plan "$planfile" --deep
"$bin" unmount "$work/view" >/dev/null

step "smstage commit --plan (in place, journaled; refused if anything changed since the plan)"
"$bin" commit --plan "$planfile" --backup "$work/backup" --yes 2>&1 | grep -v '^\s*$' | tail -3

step "the committed tree of $base (first entries; symlinks with their targets)"
tree() { find "$@" \( -type l -printf '   %p -> %l\n' \) -o -printf '   %p\n' | sort; }
(cd "$base" && tree "$root" -maxdepth 2 | head -12 && tree data -maxdepth 3 | head -8)
echo "   ($(cd "$base" && find "$root" data | wc -l) entries in all)"

step "smstage verify the committed root against the backup (every value; ts = date + time)"
"$bin" verify "$base/$root" --config "$cfg" --against "$work/backup" --plan "$planfile" --deep

step "smstage status"
"$bin" status --config "$cfg"
committed=$("$bin" status --config "$cfg" --format json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["plan_id"])')
if [ "$committed" != "$plan_id" ]; then
  echo "!! the journal records plan $committed, not the approved $plan_id" >&2
  exit 1
fi
printf '\ndone: committed exactly the approved plan %s\n' "$plan_id"
echo "q loads $base/$root; sample, assembly, plan file and log left in $work"
