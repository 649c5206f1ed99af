#!/usr/bin/env bash
# Garage 2.5.0, the real S3 server CI runs the integration suite against (a stand-in for MinIO).
#
#   garage.sh install        cargo-install Garage into the cache (reused when present)
#   garage.sh start DIR      start a single node on 127.0.0.1 with data in DIR; prints the
#                            S3_TEST_* variables to export (also written to DIR/env)
#   garage.sh stop DIR       stop it
#
# The cache lives outside the clone: ${WASM_STORAGES_CACHE:-$HOME/.cache/wasm-storages}.
set -euo pipefail

GARAGE_VERSION=2.5.0
CACHE=${WASM_STORAGES_CACHE:-$HOME/.cache/wasm-storages}
GARAGE=$CACHE/garage-$GARAGE_VERSION/bin/garage
# Fixed test credentials. Garage wants key ids of the form GK + 24 hex digits.
ACCESS_KEY=GK0123456789abcdef01234567
SECRET_KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
BUCKET=wasm-storages-test

install() {
  if [ -x "$GARAGE" ]; then
    echo "garage $GARAGE_VERSION: cached at $GARAGE"
    return
  fi
  echo "garage $GARAGE_VERSION: installing into $CACHE (takes ~15 min on 2 cores)"
  cargo install garage@"$GARAGE_VERSION" --locked --root "$CACHE/garage-$GARAGE_VERSION" ${GARAGE_JOBS:+-j "$GARAGE_JOBS"}
}

# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

start() {
  local dir=${1:?usage: garage.sh start DIR}
  install
  mkdir -p "$dir/meta" "$dir/data"
  dir=$(cd "$dir" && pwd)
  local s3_port rpc_port admin_port
  s3_port=$(free_port); rpc_port=$(free_port); admin_port=$(free_port)
  cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(printf '%064d' 7)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
  GARAGE_DEFAULT_ACCESS_KEY=$ACCESS_KEY GARAGE_DEFAULT_SECRET_KEY=$SECRET_KEY GARAGE_DEFAULT_BUCKET=$BUCKET \
    nohup "$GARAGE" -c "$dir/garage.toml" server --single-node --default-bucket > "$dir/garage.log" 2>&1 &
  echo $! > "$dir/garage.pid"
  # Ready when the default bucket exists.
  wait_ready garage "$dir" "$GARAGE" -c "$dir/garage.toml" bucket info "$BUCKET"
  write_env "$dir" "http://127.0.0.1:$s3_port" "$ACCESS_KEY" "$SECRET_KEY" "$BUCKET" garage garage
}

stop() {
  local dir=${1:?usage: garage.sh stop DIR}
  [ -f "$dir/garage.pid" ] && kill "$(cat "$dir/garage.pid")" 2> /dev/null || true
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
