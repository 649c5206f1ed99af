#!/usr/bin/env bash
# The peak RSS of `storage-host serve-http` running the composed file server while it is
# sent a hostile 400 MB multipart body: all of it before the first boundary, chunked.
#
#   host-test/scripts/hostile-form.sh [STORAGE_HOST [COMPOSED_FILE_SERVER.wasm]]
#
# Defaults: target/debug/storage-host and target/examples/file-server.wasm (made by
# `cargo build -p host-test --bin storage-host` and `examples/compose.sh`). Prints the
# status, the time taken and the host's peak RSS before and after (VmHWM).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
host=${1:-$root/target/debug/storage-host}
wasm=${2:-$root/target/examples/file-server.wasm}
port=${PORT:-18099}
export AWS_EC2_METADATA_DISABLED=true
log=$(mktemp)
"$host" serve-http "$wasm" --embedded-s3 --listen 127.0.0.1:$port > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
# One small upload first: the instance and its code are then warm.
echo hello | curl -s -o /dev/null -F "file=@-;filename=warm.txt" "http://127.0.0.1:$port/upload"
before=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
start=$(date +%s%N)
status=$( { head -c 400000000 /dev/zero | tr '\0' 'p'; printf '\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\nhello\r\n--B--\r\n'; } \
  | curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -H 'Content-Type: multipart/form-data; boundary=B' --data-binary @- "http://127.0.0.1:$port/upload" || true)
end=$(date +%s%N)
after=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "HTTP $status after $(( (end - start) / 1000000 )) ms; peak RSS $before kB before, $after kB after (+$(( after - before )) kB)"
