//! Builds the component (release, wasm32-wasip2) so `cargo test` / `cargo run` on a fresh
//! clone need no manual step, the memory backend, and the examples the tests compose with
//! either (file server, blobstore adapter and command), and the WASI 0.3 and `proxy` builds
//! of the component and the file server. A nested cargo with its own target
//! directory: the outer build holds the lock on ours.

use std::path::{Path, PathBuf};
use std::process::{Command, exit};

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    // `cargo build --target wasm32-wasip2` at the root builds every wasm crate of the
    // workspace: this host is native only and builds to nothing there (see lib.rs).
    if std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|family| family == "wasm") {
        println!(
            "cargo:warning=host-test is the native wasmtime host: nothing to build for a wasm target (run it with `cargo run -p host-test --bin storage-host`)"
        );
        return;
    }
    let host_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = host_dir.parent().unwrap().to_path_buf();
    println!("cargo:rerun-if-env-changed=STORAGE_COMPONENT");

    // A prebuilt component (e.g. from CI's cache) can be supplied instead.
    let prebuilt = std::env::var("STORAGE_COMPONENT").ok();

    ensure_wasm_target(&root);

    let target_dir = root.join("target").join("component");
    let mut cmd = wasm_build(&root, &target_dir);
    cmd.args(["-p", "file-server", "-p", "memory-storage", "-p", "blobstore", "-p", "blobstore-cli"]);
    if prebuilt.is_none() {
        cmd.args(["-p", "wasm-storages"]);
    }
    run(cmd, "building the wasm-storages component and the examples for wasm32-wasip2");
    let built = target_dir.join("wasm32-wasip2/release");
    let mut artifacts = vec!["file_server", "memory_storage", "blobstore", "blob"];
    match &prebuilt {
        Some(path) => println!("cargo:rerun-if-changed={path}"),
        None => artifacts.push("wasm_storages"),
    }
    watch_inputs(&root, &built, &artifacts);
    let wasm = prebuilt.map_or_else(|| target_dir.join("wasm32-wasip2/release/wasm_storages.wasm"), PathBuf::from);
    println!("cargo:rustc-env=STORAGE_COMPONENT_PATH={}", wasm.display());
    let example = target_dir.join("wasm32-wasip2/release/file_server.wasm");
    println!("cargo:rustc-env=FILE_SERVER_COMPONENT_PATH={}", example.display());
    let memory = target_dir.join("wasm32-wasip2/release/memory_storage.wasm");
    println!("cargo:rustc-env=MEMORY_COMPONENT_PATH={}", memory.display());
    let blobstore = target_dir.join("wasm32-wasip2/release/blobstore.wasm");
    println!("cargo:rustc-env=BLOBSTORE_COMPONENT_PATH={}", blobstore.display());
    let cli = target_dir.join("wasm32-wasip2/release/blob.wasm");
    println!("cargo:rustc-env=BLOB_CLI_COMPONENT_PATH={}", cli.display());
    build_p3_component(&root);
    build_proxy_component(&root);
    build_p3_guest(&host_dir, &root);
}

/// The `proxy` builds of the component and the file server (`--features proxy`: imports
/// that fit `wasi:http/proxy` plus `wasi:config/store` once `examples/proxy-adapter`, built
/// here too, is plugged in), in a target directory of their own: the one
/// `examples/compose.sh --proxy` builds into, which the tests run (its build is then done).
fn build_proxy_component(root: &Path) {
    let target_dir = root.join("target").join("component-proxy");
    let built = target_dir.join(format!("{WASM_TARGET}/release"));
    let mut cmd = wasm_build(root, &target_dir);
    cmd.args(["-p", "wasm-storages", "-p", "file-server", "-p", "proxy-adapter", "--features", "wasm-storages/proxy,file-server/proxy"]);
    run(cmd, "building the wasi:http/proxy component, file server and adapter (--features proxy)");
    watch_inputs(root, &built, &["wasm_storages", "file_server", "proxy_adapter"]);
}

/// The WASI 0.3 builds of the component and the file server (`--features p3`), in a target
/// directory of their own: the 0.2 builds' artifacts have the same names.
fn build_p3_component(root: &Path) {
    let target_dir = root.join("target").join("component-p3");
    let built = target_dir.join(format!("{WASM_TARGET}/release"));
    let mut cmd = wasm_build(root, &target_dir);
    cmd.args(["-p", "wasm-storages", "-p", "file-server", "--features", "wasm-storages/p3,file-server/p3"]);
    run(cmd, "building the WASI 0.3 component and file server (--features p3)");
    watch_inputs(root, &built, &["wasm_storages", "file_server"]);
    println!("cargo:rustc-env=P3_STORAGE_COMPONENT_PATH={}", built.join("wasm_storages.wasm").display());
    println!("cargo:rustc-env=P3_FILE_SERVER_COMPONENT_PATH={}", built.join("file_server.wasm").display());
}

/// The WASI 0.3 test guest (`guests/p3-fetch`): a crate of its own, so the async runtime it
/// needs stays out of the component's build, in a target directory of its own.
fn build_p3_guest(host_dir: &Path, root: &Path) {
    let guest = host_dir.join("guests/p3-fetch");
    let target_dir = root.join("target").join("guests");
    let mut cmd = wasm_build(&guest, &target_dir);
    cmd.arg("--locked");
    run(cmd, "building the WASI 0.3 test guest (host-test/guests/p3-fetch)");
    // Its sources, WIT, manifest and lock file: nothing outside its directory.
    println!("cargo:rerun-if-changed={}", guest.display());
    let wasm = target_dir.join(format!("{WASM_TARGET}/release/p3_fetch.wasm"));
    println!("cargo:rustc-env=P3_FETCH_COMPONENT_PATH={}", wasm.display());
}

/// A nested `cargo build --release --target wasm32-wasip2` in `dir`, into `target_dir`
/// (the outer build holds the lock on ours), without the outer build's settings, which are
/// for the host.
fn wasm_build(dir: &Path, target_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).args(["build", "--release", "--target", WASM_TARGET, "--target-dir"]).arg(target_dir);
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "RUSTC_WORKSPACE_WRAPPER", "CARGO_PROFILE_RELEASE_DEBUG"] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs a nested build; `what` says what failed.
fn run(mut cmd: Command, what: &str) {
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(_) => fail(&format!("{what} failed (cargo's output above says why)")),
        Err(e) => fail(&format!("could not run cargo ({what}): {e}")),
    }
}

/// Has cargo run this script again when anything the wasm builds read changes: the files
/// cargo's dep-info lists for each artifact (sources, and the WIT the bindings macros read)
/// within this repository, the manifests of the crates they belong to, and the workspace's
/// lock file and toolchain pin. (Dependencies from the registry change only with the lock
/// file.) Without a dep-info file, the whole of `src`, `wit` and `examples` is watched.
fn watch_inputs(root: &Path, built: &Path, artifacts: &[&str]) {
    let mut watched = std::collections::BTreeSet::from([root.join("Cargo.toml"), root.join("Cargo.lock"), root.join("rust-toolchain.toml")]);
    for artifact in artifacts {
        let Ok(dep_info) = std::fs::read_to_string(built.join(format!("{artifact}.d"))) else {
            watched.extend(["src", "wit", "examples"].map(|dir| root.join(dir)));
            continue;
        };
        // `target: dep dep ...`, spaces inside a path escaped with a backslash.
        let deps = dep_info.split_once(": ").map_or("", |(_, deps)| deps).replace("\\ ", "\0");
        for dep in deps.split_whitespace().map(|d| PathBuf::from(d.replace('\0', " "))) {
            // (`#[path = "../../../src/keys.rs"]` is listed as written.)
            let dep = std::fs::canonicalize(&dep).unwrap_or(dep);
            if !dep.starts_with(root) || dep.starts_with(root.join("target")) {
                continue;
            }
            // The crate the file belongs to: its manifest says how it is built.
            if let Some(manifest) = dep.ancestors().skip(1).take_while(|dir| dir.starts_with(root)).map(|dir| dir.join("Cargo.toml")).find(|m| m.is_file()) {
                watched.insert(manifest);
            }
            watched.insert(dep);
        }
    }
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// rustup applies `rust-toolchain.toml`'s `targets` only when it installs the toolchain, so a
/// machine that already had 1.95.0 lacks the wasm target: add it here (saying so) rather
/// than fail deep inside the nested build.
fn ensure_wasm_target(root: &Path) {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc).args(["--print", "target-libdir", "--target", WASM_TARGET]).output();
    let installed = match &libdir {
        Ok(out) if out.status.success() => Path::new(String::from_utf8_lossy(&out.stdout).trim()).is_dir(),
        _ => false,
    };
    if installed {
        return;
    }
    println!("cargo:warning=the {WASM_TARGET} target is missing from this toolchain: adding it with `rustup target add {WASM_TARGET}`");
    let mut add = Command::new("rustup");
    add.current_dir(root).args(["target", "add", WASM_TARGET]);
    // Under a rustup proxy this names the toolchain being built with (the pinned one).
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        add.args(["--toolchain", &toolchain]);
    }
    match add.status() {
        Ok(status) if status.success() => {}
        Ok(_) => fail(&format!("`rustup target add {WASM_TARGET}` failed (its output is above); add the target by hand and build again")),
        Err(e) => {
            fail(&format!("the {WASM_TARGET} target is not installed and rustup could not be run ({e}): install the target for this toolchain and build again"))
        }
    }
}

/// A build-script failure a person can read: one line, no panic backtrace.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}
