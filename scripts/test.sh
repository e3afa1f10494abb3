#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (unit tests, fixture tests, mount-tests).
# Used by the README's second set-up command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

if [ ! -d ../shared/fixtures/real ]; then
  echo "!!! WARNING: ../shared/fixtures/real is missing: the real-fixture tests will be SKIPPED !!!" >&2
fi

cargo build --locked --all-targets
# The mount-tests mount FUSE filesystems and run the smstage binary as a child process;
# one test thread keeps their mounts and crash points from competing for the two cores.
cargo test --locked --lib --bins --tests -- --test-threads=2
