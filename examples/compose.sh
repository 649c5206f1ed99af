#!/usr/bin/env bash
# Composes an app component that imports `wasm-storages:storage/storage` with a storage
# component that exports it, into one deployable component that imports only WASI:
#
#   examples/compose.sh                        # builds both; writes target/examples/file-server.wasm
#   examples/compose.sh --blobstore            # writes target/examples/blobstore-s3.wasm: wasi:blobstore on S3
#   examples/compose.sh --p3                   # writes target/examples/file-server-p3.wasm: both on WASI 0.3
#   examples/compose.sh --proxy                # writes target/examples/file-server-proxy.wasm: imports fit wasi:http/proxy + wasi:config/store
#   examples/compose.sh APP.wasm STORAGE.wasm [MORE.wasm...] OUT.wasm   # any plugs, in order
#   examples/compose.sh --install-only         # just make sure wac is there
#
# With no arguments it builds the file-server example and the S3 component (release,
# wasm32-wasip2); with --blobstore, the wasi:blobstore adapter and the S3 component; with
# --p3, the WASI 0.3 builds of both (`--features p3`, into target/component-p3); with
# --proxy, their `proxy` builds (`--features proxy`, into target/component-proxy), each with
# examples/proxy-adapter plugged in. The
# composition is `wac plug`, from wac-cli $WAC_VERSION, installed into
# ~/.cache/wasm-storages (or $WASM_STORAGES_CACHE) on first use.
set -euo pipefail
WAC_VERSION=0.12.0
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WASM_STORAGES_CACHE:-$HOME/.cache/wasm-storages}
wac=$cache/wac-$WAC_VERSION/bin/wac
if [ ! -x "$wac" ]; then
  echo "installing wac-cli $WAC_VERSION into $cache/wac-$WAC_VERSION" >&2
  # Without the registry feature: plugging local files needs no registry client (and the
  # build takes a fraction of the time).
  cargo install wac-cli@"$WAC_VERSION" --locked --no-default-features --root "$cache/wac-$WAC_VERSION" >&2
fi
[ "${1:-}" = "--install-only" ] && exit 0

target=${CARGO_TARGET_DIR:-$root/target}
if [ $# -eq 0 ]; then
  (cd "$root" && cargo build --release --target wasm32-wasip2 -p wasm-storages -p file-server >&2)
  set -- "$target/wasm32-wasip2/release/file_server.wasm" "$target/wasm32-wasip2/release/wasm_storages.wasm" "$target/examples/file-server.wasm"
elif [ "$1" = "--p3" ]; then
  p3=$root/target/component-p3
  (cd "$root" && cargo build --release --target wasm32-wasip2 -p wasm-storages -p file-server --features wasm-storages/p3,file-server/p3 --target-dir "$p3" >&2)
  set -- "$p3/wasm32-wasip2/release/file_server.wasm" "$p3/wasm32-wasip2/release/wasm_storages.wasm" "$target/examples/file-server-p3.wasm"
elif [ "$1" = "--proxy" ]; then
  # The `proxy` builds, and the adapter that answers what Rust's standard library imports
  # beyond the proxy world (examples/proxy-adapter), plugged into each: first into the S3
  # component (target/examples/s3-proxy.wasm, for your own app), then with it into the app.
  proxy=$root/target/component-proxy
  (cd "$root" && cargo build --release --target wasm32-wasip2 -p wasm-storages -p file-server -p proxy-adapter --features wasm-storages/proxy,file-server/proxy --target-dir "$proxy" >&2)
  built=$proxy/wasm32-wasip2/release
  mkdir -p "$target/examples"
  "$wac" plug "$built/wasm_storages.wasm" --plug "$built/proxy_adapter.wasm" -o "$target/examples/s3-proxy.wasm"
  "$wac" plug "$built/file_server.wasm" --plug "$target/examples/s3-proxy.wasm" --plug "$built/proxy_adapter.wasm" -o "$target/examples/file-server-proxy.wasm"
  echo "$target/examples/file-server-proxy.wasm"
  exit 0
elif [ "$1" = "--blobstore" ]; then
  (cd "$root" && cargo build --release --target wasm32-wasip2 -p wasm-storages -p blobstore >&2)
  set -- "$target/wasm32-wasip2/release/blobstore.wasm" "$target/wasm32-wasip2/release/wasm_storages.wasm" "$target/examples/blobstore-s3.wasm"
fi
[ $# -ge 3 ] || { echo "usage: $0 [APP.wasm PLUG.wasm... OUT.wasm]" >&2; exit 2; }
args=("$@")
out=${args[-1]}
plugs=()
for plug in "${args[@]:1:$#-2}"; do plugs+=(--plug "$plug"); done
mkdir -p "$(dirname "$out")"
"$wac" plug "$1" "${plugs[@]}" -o "$out"
echo "$out"
