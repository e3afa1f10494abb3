#!/usr/bin/env bash
# The main job end to end on a bundled sample database, in a temporary directory:
# generate → check → plan → mount → verify the view → commit → verify → status.
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

echo "== smstage check"
"$bin" check --config "$cfg" --backup "$work/backup" --deep
echo "== smstage plan"
"$bin" plan --config "$cfg"
echo "== smstage mount (read-only staging view of the planned layout)"
mkdir -p "$work/view"
"$bin" mount --config "$cfg" "$work/view" --background
trap '"$bin" unmount "$work/view" 2>/dev/null || true' EXIT
root=$("$bin" plan --config "$cfg" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])')
echo "   q would load: $work/view/$root"
cat "$work/view/$root/par.txt"
echo "== smstage verify the view, against the original"
"$bin" verify "$work/view/$root" --config "$cfg" --against "$work/hdb/data" --deep
"$bin" unmount "$work/view"
trap - EXIT
echo "== smstage commit (in place, journaled)"
"$bin" commit --config "$cfg" --backup "$work/backup" --yes
echo "== smstage verify the committed root against the backup"
"$bin" verify "$work/hdb/$root" --config "$cfg" --against "$work/backup" --deep
echo "== smstage status"
"$bin" status --config "$cfg"
echo "== done: sample database and configuration left in $work"
