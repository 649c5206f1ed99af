#!/usr/bin/env bash
# Runs the integration suite against a real S3 server started here on 127.0.0.1:
#
#   host-test/scripts/test-against.sh garage    # Garage 2.5.0 (installed into the cache if missing)
#   host-test/scripts/test-against.sh moto      # moto in server mode (pip-installed if missing)
#   host-test/scripts/test-against.sh minio     # a `minio` binary on PATH
#   host-test/scripts/test-against.sh memory    # the memory backend (no server)
#
# With STORAGE_BACKEND=p3 it runs the component's WASI 0.3 build (here, or with plain
# `cargo test` on the embedded server). Extra arguments go to `cargo test`. For an endpoint
# you run yourself, set S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY, S3_TEST_SECRET_KEY, S3_TEST_BUCKET (and S3_TEST_REGION, and
# S3_TEST_SERVER=garage|moto|minio when it is one of those) and run `cargo test` directly.
set -euo pipefail
if [ $# -eq 0 ]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
server=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
case "$server" in
  garage | moto | minio) ;;
  memory)
    # The same suite through the memory backend: tests of S3 itself say they skip.
    cd "$here/../.."
    STORAGE_BACKEND=memory exec cargo test "$@"
    ;;
  *) echo "unknown server $server (garage, moto, minio or memory)" >&2; exit 2 ;;
esac
dir=$(mktemp -d "${TMPDIR:-/tmp}/wasm-storages-$server-XXXXXX")
trap '"$here/$server.sh" stop "$dir"; rm -rf "$dir"' EXIT
"$here/$server.sh" start "$dir"
# shellcheck disable=SC1091
source "$dir/env"
cd "$here/../.."
# The whole workspace, like the README's `cargo test`: `-p host-test` alone would resolve
# dependency features differently and rebuild half the tree.
cargo test "$@"
