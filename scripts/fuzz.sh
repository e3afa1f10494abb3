#!/usr/bin/env bash
# Coverage-guided fuzzing of the readers (docs/fuzzing.md): builds the fuzz targets
# (fuzz/, cargo-fuzz, nightly), builds seed corpora from the real fixtures and `smstage gen`
# output, runs each target for SECONDS under libFuzzer and prints what it found.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   bash scripts/fuzz.sh column 600      # one target, 10 minutes
#   bash scripts/fuzz.sh all 600
#
# Everything it writes (seeds, the growing corpus, crash files, logs) goes to $FUZZ_WORK
# (default /tmp/smstage-fuzz), never into the repository: the fixtures are not ours to copy
# there. A second run reuses the corpus the first one grew. Exit 1 when a target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGETS=(column compressed symbols ipc config plan_entries)
which=${1:-all}
seconds=${2:-60}
work=${FUZZ_WORK:-/tmp/smstage-fuzz}
fixtures=${FUZZ_FIXTURES:-$ROOT/../shared/fixtures/real}
# libFuzzer: inputs up to 512 KiB (the seeds' size limit), 10 s per input is a hang, and the
# targets' own allocator aborts on any single allocation over 64 MiB (fuzz/src/lib.rs).
max_len=524288

if [ "$which" = all ]; then
  run=("${TARGETS[@]}")
else
  case " ${TARGETS[*]} " in
  *" $which "*) run=("$which") ;;
  *)
    echo "fuzz.sh: unknown target $which (one of: ${TARGETS[*]}, all)" >&2
    exit 2
    ;;
  esac
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz missing: cargo +nightly install cargo-fuzz --locked" >&2
  exit 2
fi

# No sanitizer: the readers have no unsafe code (MemSource), and overflow checks
# (debug assertions) are what catch arithmetic on claimed counts. FUZZ_BUILD=0 runs the
# targets as last built (a campaign on a fixed build while the source changes).
if [ "${FUZZ_BUILD:-1}" != 0 ]; then
  echo "== building the fuzz targets (nightly, coverage instrumentation, debug assertions)"
  (cd fuzz && cargo +nightly fuzz build -s none -a)
fi
bin=$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release

mkdir -p "$work"
if [ ! -f "$work/seeds/.done" ] || [ ! -d "$work/seeds/plan_entries" ]; then
  echo "== building seeds in $work/seeds"
  cargo build --quiet --bin smstage
  rm -rf "$work/seeds" "$work/gen" "$work/plans"
  mkdir -p "$work/gen"
  smstage=$ROOT/target/debug/smstage
  g() { "$smstage" gen --out "$work/gen/$1" "${@:2}" >/dev/null; }
  g plain --partitions 1 --tables 2 --columns 24 --rows 200
  g zero --partitions 1 --tables 1 --columns 12 --rows 50 --zero-counts
  g tick --partitions 2 --tables 2 --columns 8 --rows 100 --tick-style --segments 2
  for c in qipc gzip snappy lz4hc zstd; do
    g "z-$c" --partitions 1 --tables 1 --columns 24 --rows 300 --compress "$c" --block-log2 12
  done
  # Plan files (fingerprint version 3) of those that pass the checks: their packed entries
  # seed `plan_entries`.
  # (Outside gen/, whose files seed the kdb+ readers.)
  rm -rf "$work/plans"
  mkdir -p "$work/plans"
  for d in "$work"/gen/*/; do
    "$smstage" plan --config "$d/assembly.yaml" --save "$work/plans/$(basename "$d").json" \
      >/dev/null 2>&1 || true
  done
  python3 - "$work/seeds" "$max_len" "$fixtures" "$work/gen" "$ROOT/docs/examples" <<'PY'
import os, struct, sys, hashlib
out, cap = sys.argv[1], int(sys.argv[2])
roots = [r for r in sys.argv[3:] if os.path.isdir(r)]
SEP = b"%%smstage-fuzz-file%%"
def put(target, data):
    if len(data) > cap:
        return
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)
def read(p):
    with open(p, "rb") as f:
        return f.read()
import base64, glob, json
for plan in glob.glob(os.path.join(os.path.dirname(sys.argv[4]), "plans", "*.json")):
    fp = json.load(open(plan))["fingerprint"]
    for lst in [fp["entries"]] + [g["entries"] for g in fp.get("segments", [])]:
        if isinstance(lst, str):
            b = base64.b64decode(lst)
            put("plan_entries", b)
            put("plan_entries", b[:4096])
            put("plan_entries", lst.encode()[:4096])
for root in roots:
    for dp, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dp, n)
            b = read(p)
            if n.endswith((".yaml", ".yml")) or n == "par.txt":
                put("config", b)
                continue
            if n.endswith("#"):
                # A companion: also fed alone where its own reader takes it.
                if n.endswith("##"):
                    put("symbols", b)
                continue
            group = [b]
            for suffix in ("#", "##"):
                if os.path.exists(p + suffix):
                    group.append(read(p + suffix))
            put("column", SEP.join(group))
            if b.startswith(b"kxzipped"):
                put("compressed", b)
                # The first block alone, as the raw-block mode reads it.
                nblocks = struct.unpack("<q", b[-8:])[0]
                if 0 < nblocks < 1 << 20:
                    t = len(b) - 8 - 8 * nblocks - 32
                    clen, alg = struct.unpack("<ii", b[t + 32:t + 40])
                    ulen, bsize = struct.unpack("<q", b[t + 8:t + 16])[0], struct.unpack("<q", b[t + 24:t + 32])[0]
                    first = min(ulen, bsize)
                    if 0 <= alg < 256 and first < 1 << 24:
                        put("compressed", bytes([alg]) + struct.pack("<I", first)[:3] + b[8:8 + clen])
            if b.startswith(b"\xff\x01"):
                put("ipc", b[2:])
                if b[2:3] == b"\x0b":
                    put("symbols", b)
            if n in ("sym", ".d") or n.startswith("sym"):
                put("symbols", b)
PY
  touch "$work/seeds/.done"
fi
for t in "${TARGETS[@]}"; do
  printf '   %-11s %s seeds\n' "$t" "$(find "$work/seeds/$t" -type f 2>/dev/null | wc -l)"
done

found=0
for t in "${run[@]}"; do
  corpus=$work/corpus/$t
  arts=$work/artifacts/$t/
  mkdir -p "$corpus" "$arts"
  dict=$ROOT/fuzz/dict/kdb.dict
  [ "$t" = config ] && dict=$ROOT/fuzz/dict/config.dict
  [ "$t" = plan_entries ] && dict=$ROOT/fuzz/dict/plan_entries.dict
  log=$work/$t.log
  echo "== $t: ${seconds}s (log $log, corpus $corpus)"
  before=$(find "$arts" -type f | wc -l)
  touch "$log.start"
  set +e
  # -fork=1: one worker (one core), restarted after a crash, so a campaign runs its whole
  # time and collects every crash instead of stopping at the first.
  "$bin/$t" "$corpus" "$work/seeds/$t" -max_total_time="$seconds" -max_len=$max_len \
    -timeout=10 -rss_limit_mb=2048 -dict="$dict" -artifact_prefix="$arts" \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 >"$log" 2>&1
  rc=$?
  set -e
  # The last status line: executions (#N), coverage (cov: edges, ft: features), corpus size,
  # and in fork mode the oom/timeout/crash counts.
  grep -E '^#[0-9]+' "$log" | tail -1 | sed 's/^/   last: /'
  after=$(find "$arts" -type f | wc -l)
  if [ "$after" -gt "$before" ]; then
    found=1
    echo "   FOUND: $((after - before)) new file(s) in $arts (libFuzzer exit $rc); the first ones replayed:"
    find "$arts" -type f -newer "$log.start" | head -5 | while read -r f; do
      echo "   $f:"
      # The panic message (the line after "panicked at"), else the allocator's or libFuzzer's.
      "$bin/$t" "$f" 2>&1 | awk '/panicked at/ { getline; print; exit }
        /smstage-fuzz:|ERROR: libFuzzer/ { print; exit }' | cut -c1-400 | sed 's/^/     /' || true
    done
    echo "   reproduce: $bin/$t FILE; minimize: $bin/$t -minimize_crash=1 -max_total_time=60 -exact_artifact_path=MIN FILE"
  else
    echo "   nothing found (libFuzzer exit $rc)"
  fi
done
exit $found
