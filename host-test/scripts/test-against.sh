#!/usr/bin/env bash
# Runs the integration suite against a real S3 server started here on 127.0.0.1:
#
#   host-test/scripts/test-against.sh garage    # Garage 2.5.0 (installed into the cache if missing)
#   host-test/scripts/test-against.sh minio     # a `minio` binary on PATH
#   host-test/scripts/test-against.sh memory    # the memory backend (no server)
#
# Extra arguments go to `cargo test`. For an endpoint you run yourself, set S3_TEST_ENDPOINT,
# S3_TEST_ACCESS_KEY, S3_TEST_SECRET_KEY, S3_TEST_BUCKET (and S3_TEST_REGION) and run
# `cargo test` directly.
set -euo pipefail
server=${1:?usage: test-against.sh garage|minio|memory [cargo test args]}
shift
here=$(cd "$(dirname "$0")" && pwd)
case "$server" in
  garage | minio) ;;
  memory)
    # The same suite through the memory backend: tests of S3 itself say they skip.
    cd "$here/../.."
    STORAGE_BACKEND=memory exec cargo test "$@"
    ;;
  *) echo "unknown server $server (garage, minio or memory)" >&2; exit 2 ;;
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
