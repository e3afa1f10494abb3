#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (unit tests, fixture tests, mount-tests).
# Used by the README's second set-up command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

if [ ! -d ../shared/fixtures/real ]; then
  echo "!!! WARNING: ../shared/fixtures/real is missing: the real-fixture tests will be SKIPPED !!!" >&2
fi

# fault-injection makes the test build of the binary honour SMSTAGE_CRASH_AT & co, so the
# mount-tests can crash a real `smstage commit` at every step; release builds never have it.
# Two test threads: the mount-tests mount FUSE filesystems and kill child processes, and the
# machine has two cores.
cargo test --locked --features fault-injection --lib --bins --tests -- --test-threads=2
