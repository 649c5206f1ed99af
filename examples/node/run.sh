#!/usr/bin/env bash
# The S3 component outside wasmtime: transpiled to JavaScript by jco (versions pinned in
# package.json and package-lock.json) and run under Node.js by smoke.mjs, against the
# embedded S3 server (`storage-host serve-s3`, on 127.0.0.1).
#
#   examples/node/run.sh            # builds the component and the host if needed
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build --release --target wasm32-wasip2 -p wasm-storages >&2
cargo build -p host-test --bin storage-host >&2
target=${CARGO_TARGET_DIR:-$root/target}

cd "$here"
npm ci --no-audit --no-fund >&2
npx jco transpile "$target/wasm32-wasip2/release/wasm_storages.wasm" -o out --name storage >&2

log=$(mktemp)
"$target/debug/storage-host" serve-s3 > "$log" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  grep -q '^export S3_BUCKET=' "$log" && break
  sleep 0.1
done
# The server prints `export NAME=value` lines for its endpoint, test keys and bucket.
eval "$(grep '^export ' "$log")"
node smoke.mjs
