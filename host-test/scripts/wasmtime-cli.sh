#!/usr/bin/env bash
# The wasmtime CLI 48.0.8 (the version the host embeds), for the tests that serve the
# composed components with `wasmtime serve`, as people deploy them.
#
#   wasmtime-cli.sh install   cargo-install it into the cache (reused when present)
#   wasmtime-cli.sh path      print the binary's path (installing first if missing)
#
# The cache lives outside the clone: ${WASM_STORAGES_CACHE:-$HOME/.cache/wasm-storages}.
# The tests find it there (or through WASMTIME_CLI) and say they skip when it is absent.
set -euo pipefail

WASMTIME_VERSION=48.0.8
CACHE=${WASM_STORAGES_CACHE:-$HOME/.cache/wasm-storages}
WASMTIME=$CACHE/wasmtime-cli-$WASMTIME_VERSION/bin/wasmtime

install() {
  if [ -x "$WASMTIME" ]; then
    echo "wasmtime $WASMTIME_VERSION: cached at $WASMTIME"
    return
  fi
  echo "wasmtime $WASMTIME_VERSION: installing into $CACHE (takes ~15 min on 2 cores)"
  cargo install wasmtime-cli@"$WASMTIME_VERSION" --locked --root "$CACHE/wasmtime-cli-$WASMTIME_VERSION" ${WASMTIME_JOBS:+-j "$WASMTIME_JOBS"}
}

case "${1:-}" in
  install) install ;;
  path) install > /dev/null && echo "$WASMTIME" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
