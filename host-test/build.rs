//! Builds the component (release, wasm32-wasip2) so `cargo test` / `cargo run` on a fresh
//! clone need no manual step, the memory backend, and the examples the tests compose with
//! either (file server, blobstore adapter and command). A nested cargo with its own target
//! directory: the outer build holds the lock on ours.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let host_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = host_dir.parent().unwrap().to_path_buf();
    for path in ["src", "wit", "Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "examples/file-server/src", "examples/file-server/Cargo.toml", "examples/memory-storage/src", "examples/memory-storage/Cargo.toml", "examples/blobstore/src", "examples/blobstore/Cargo.toml", "examples/blobstore-cli/src", "examples/blobstore-cli/wit", "examples/blobstore-cli/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=STORAGE_COMPONENT");

    // A prebuilt component (e.g. from CI's cache) can be supplied instead.
    let prebuilt = std::env::var("STORAGE_COMPONENT").ok();

    let target_dir = root.join("target").join("component");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p", "file-server", "-p", "memory-storage", "-p", "blobstore", "-p", "blobstore-cli", "--target-dir"])
        .arg(&target_dir);
    if prebuilt.is_none() {
        cmd.args(["-p", "wasm-storages"]);
    }
    // The outer build's settings are for the host, not for a wasm build.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "RUSTC_WORKSPACE_WRAPPER", "CARGO_PROFILE_RELEASE_DEBUG"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo to build the component");
    if !status.success() {
        panic!("building the wasm-storages component and the file-server example failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)");
    }
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
}
