#!/usr/bin/env bash
# moto in server mode, for running the integration suite against it: same interface as
# garage.sh. moto keeps versions, checksums and conditional writes, but checks no
# signatures: the signature-checking servers (the embedded one, Garage) remain the test of
# signing.
#
#   moto.sh install        pip-install moto[server] (reused when present)
#   moto.sh start DIR      start it on 127.0.0.1, create the test bucket, print the S3_TEST_*
#                          variables (also written to DIR/env)
#   moto.sh stop DIR       stop it
set -euo pipefail

MOTO_VERSION=5.2.1
AWSCRT_VERSION=0.38.1
CRC32C_VERSION=2.9.post0
ACCESS_KEY=wasm-storages-moto
SECRET_KEY=wasm-storages-moto-secret
BUCKET=wasm-storages-test

# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

install() {
  # moto computes CRC32C and CRC64NVME only with these optional packages; without them it
  # stores a CRC32 under either name (moto/s3/utils.py compute_checksum).
  if ! python3 -c "import awscrt, crc32c" 2> /dev/null; then
    echo "moto: installing awscrt $AWSCRT_VERSION and crc32c $CRC32C_VERSION (its CRC64NVME and CRC32C)"
    python3 -m pip install --quiet "awscrt==$AWSCRT_VERSION" "crc32c==$CRC32C_VERSION"
  fi
  if python3 -c "import moto.server, flask" 2> /dev/null; then
    echo "moto: installed ($(python3 -c 'import moto; print(moto.__version__)'))"
    return
  fi
  echo "moto $MOTO_VERSION: installing with pip"
  python3 -m pip install --quiet "moto[server]==$MOTO_VERSION"
}

start() {
  local dir=${1:?usage: moto.sh start DIR}
  install
  dir=$(cd "$dir" && pwd)
  local port
  port=$(free_port)
  # Loopback only; no credentials reach any AWS endpoint.
  AWS_EC2_METADATA_DISABLED=true nohup python3 -m moto.server -H 127.0.0.1 -p "$port" > "$dir/moto.log" 2>&1 &
  echo $! > "$dir/moto.pid"
  local endpoint=http://127.0.0.1:$port
  wait_ready moto "$dir" curl -sf "$endpoint/moto-api/"
  curl -sf -X PUT "$endpoint/$BUCKET" > /dev/null
  write_env "$dir" "$endpoint" "$ACCESS_KEY" "$SECRET_KEY" "$BUCKET" us-east-1 moto
}

stop() {
  local dir=${1:?usage: moto.sh stop DIR}
  [ -f "$dir/moto.pid" ] && kill "$(cat "$dir/moto.pid")" 2> /dev/null || true
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
