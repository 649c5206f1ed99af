//! `storage-host`: every storage operation through the wasm-storages component, from the
//! command line. The host only provides WASI, local files and the terminal; the component
//! does the S3 work.

#[cfg(not(target_family = "wasm"))]
mod cli;

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// `cargo build --target wasm32-wasip2` at the workspace root builds every crate for wasm,
/// this native host included: it builds to this, which says what to run instead.
#[cfg(target_family = "wasm")]
fn main() -> std::process::ExitCode {
    eprintln!("storage-host is the native wasmtime host: run it with `cargo run -p host-test --bin storage-host -- ...`");
    std::process::ExitCode::from(2)
}
