#!/bin/sh
# Generate a sample kdb+ HDB with `smstage gen` (flags: docs/generator.md).
# Usage: scripts/gen-sample.sh DIR [--partitions N] [--tables T] [--columns C] [--rows R]
#        [--start YYYY.MM.DD] [--every-day] [--compress ALG] [--level L] [--seed S] ...
# Uses an `smstage` on PATH if there is one, else builds and runs the crate's binary.
set -eu
if [ $# -lt 1 ]; then
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
if command -v smstage >/dev/null 2>&1; then
    exec smstage gen "$@"
fi
exec cargo run --quiet --manifest-path "$(dirname "$0")/../Cargo.toml" --bin smstage -- gen "$@"
