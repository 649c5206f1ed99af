#!/usr/bin/env bash
# MinIO, for running the integration suite against it: same interface as garage.sh.
# Needs a `minio` server binary on PATH (or MINIO=/path/to/minio); nothing is installed.
#
#   minio.sh start DIR      start a server on 127.0.0.1 with data in DIR, create the test
#                           bucket, print the S3_TEST_* variables (also written to DIR/env)
#   minio.sh stop DIR       stop it
set -euo pipefail

MINIO=${MINIO:-minio}
ACCESS_KEY=wasm-storages-minio
SECRET_KEY=wasm-storages-minio-secret-0123456789
BUCKET=wasm-storages-test
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

start() {
  local dir=${1:?usage: minio.sh start DIR}
  command -v "$MINIO" > /dev/null || { echo "no minio binary: put one on PATH or set MINIO=/path/to/minio" >&2; exit 1; }
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  local port console
  port=$(free_port); console=$(free_port)
  MINIO_ROOT_USER=$ACCESS_KEY MINIO_ROOT_PASSWORD=$SECRET_KEY \
    nohup "$MINIO" server "$dir/data" --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" > "$dir/minio.log" 2>&1 &
  echo $! > "$dir/minio.pid"
  local endpoint=http://127.0.0.1:$port
  wait_ready minio "$dir" curl -sf "$endpoint/minio/health/live"
  # CreateBucket, signed by curl itself.
  curl -sf -X PUT -H "x-amz-content-sha256: $EMPTY_SHA256" --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$ACCESS_KEY:$SECRET_KEY" "$endpoint/$BUCKET" > /dev/null || true
  write_env "$dir" "$endpoint" "$ACCESS_KEY" "$SECRET_KEY" "$BUCKET" us-east-1 minio
}

stop() {
  local dir=${1:?usage: minio.sh stop DIR}
  [ -f "$dir/minio.pid" ] && kill "$(cat "$dir/minio.pid")" 2> /dev/null || true
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
