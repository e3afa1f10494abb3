#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (unit tests, fixture tests, mount-tests).
# Used by the README's second set-up command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# One local S3 server (SeaweedFS on 127.0.0.1) for every object-tier test; stopped on exit.
export SMSTAGE_S3_DIR=${SMSTAGE_S3_DIR:-/tmp/smstage-s3-ci.$$}
if [ "${SMSTAGE_SKIP_S3_TESTS:-0}" != 1 ]; then
  eval "$(SMSTAGE_S3_PARENT_PID=$$ bash scripts/s3-server.sh start)"
  trap 'bash scripts/s3-server.sh stop >/dev/null 2>&1 || true' EXIT
fi

if [ ! -d ../shared/fixtures/real ]; then
  echo "!!! WARNING: ../shared/fixtures/real is missing: the real-fixture tests will be SKIPPED !!!" >&2
fi

# fault-injection makes the test build of the binary honour SMSTAGE_CRASH_AT & co, so the
# mount-tests can crash a real `smstage commit` at every step; release builds never have it.
# Two test threads: the mount-tests mount FUSE filesystems and kill child processes, and the
# machine has two cores.
# cargo's own output is kept; the total over every test binary is printed at the end.
results=$(mktemp /tmp/smstage-test-results.XXXXXX)
set +e
cargo test --locked --no-fail-fast --features fault-injection --lib --bins --tests -- --test-threads=2 2>&1 |
  tee "$results"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^(passed|failed|ignored);?$/) { sub(";", "", $i); n[$i] += $(i-1) } } bins++ }
     END { printf "\n== total over %d test binaries: %d passed, %d failed, %d ignored\n", bins, n["passed"], n["failed"], n["ignored"] }' "$results"
rm -f "$results"
exit "$status"
