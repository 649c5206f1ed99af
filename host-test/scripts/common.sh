# Shared by garage.sh, moto.sh and minio.sh (sourced, not run).

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ready NAME DIR CHECK...: runs CHECK until it succeeds (20 s at most), failing with
# the server's log if it exits or never becomes ready.
wait_ready() {
  local name=$1 dir=$2
  shift 2
  for _ in $(seq 1 100); do
    "$@" > /dev/null 2>&1 && return 0
    kill -0 "$(cat "$dir/$name.pid")" 2> /dev/null || { echo "$name exited; its log:" >&2; cat "$dir/$name.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "$name did not become ready in 20 s; its log:" >&2; cat "$dir/$name.log" >&2
  exit 1
}

# write_env DIR ENDPOINT ACCESS_KEY SECRET_KEY BUCKET REGION SERVER: the S3_TEST_* variables,
# to DIR/env and stdout. S3_TEST_SERVER names the server, so that the suite skips (saying
# why) what that server is known not to do: host-test/tests/all/common/servers.rs.
write_env() {
  cat > "$1/env" <<ENV
export S3_TEST_ENDPOINT=$2
export S3_TEST_ACCESS_KEY=$3
export S3_TEST_SECRET_KEY=$4
export S3_TEST_BUCKET=$5
export S3_TEST_REGION=$6
export S3_TEST_SERVER=$7
ENV
  cat "$1/env"
}
