#!/usr/bin/env bash
# The main job end to end on a bundled sample database, in a temporary directory, with the
# approval flow: generate → check → plan --save → mount --plan → verify the view →
# commit --plan (exactly the validated plan) → verify → status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked
bin=$PWD/target/release/smstage

work=$(mktemp -d /tmp/smstage-demo.XXXXXX)
echo "== working in $work"
"$bin" gen --out "$work/hdb" --partitions 5 --tables 3 --columns 8 --rows 2000
cp -a "$work/hdb/data" "$work/backup"
cfg=$work/hdb/assembly.yaml
planfile=$work/approved.plan

echo "== smstage check"
"$bin" check --config "$cfg" --backup "$work/backup" --deep
echo "== smstage plan --save (the plan to approve, with a fingerprint of what it was derived from)"
"$bin" plan --config "$cfg" --save "$planfile"
plan_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plan_id"])' "$planfile")
root=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plan"]["root"])' "$planfile")
echo "== smstage mount --plan (read-only staging view of exactly that plan)"
mkdir -p "$work/view"
"$bin" mount --plan "$planfile" "$work/view" --background
trap '"$bin" unmount "$work/view" 2>/dev/null || true' EXIT
echo "   q would load: $work/view/$root"
cat "$work/view/$root/par.txt"
echo "== smstage verify the view, against the original"
"$bin" verify "$work/view/$root" --config "$cfg" --against "$work/hdb/data" --deep
"$bin" unmount "$work/view"
trap - EXIT
echo "== smstage commit --plan (in place, journaled; refused if anything changed since the plan was saved)"
"$bin" commit --plan "$planfile" --backup "$work/backup" --yes
echo "== smstage verify the committed root against the backup"
"$bin" verify "$work/hdb/$root" --config "$cfg" --against "$work/backup" --deep
echo "== smstage status"
"$bin" status --config "$cfg"
committed=$("$bin" status --config "$cfg" --format json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["plan_id"])')
if [ "$committed" != "$plan_id" ]; then
  echo "!! the journal records plan $committed, not the approved $plan_id" >&2
  exit 1
fi
echo "== committed exactly the approved plan $plan_id"
echo "== done: sample database, configuration and plan file left in $work"
