#!/usr/bin/env bash
# The main job end to end on a bundled sample database, in a temporary directory:
# generate → check → plan (→ mount → verify → commit as those land).
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
echo "== done: sample database and configuration left in $work"
