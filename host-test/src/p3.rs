//! WASI 0.3 components beside the 0.2 ones. A component built for `wasm32-wasip2` with
//! wit-bindgen's async support imports WASI 0.3 (its `async func`s, wasi:http@0.3's client)
//! and still WASI 0.2 (Rust's std: wasi:cli, wasi:io), so its linker has both. Its requests
//! go through the same sender as a 0.2 component's (`crate::sender`: pool, TLS policy,
//! faults, observer, tally): wasmtime-wasi-http hands both generations to one hook.
//!
//! Call its async exports inside `Store::run_concurrent`: a 0.3 guest's tasks (its requests
//! in flight, the streams it writes) move only while that runs.

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::runtime::HostState;

/// A linker with WASI 0.2 and 0.3, wasi:http of both generations included.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A store for one instance, with what `options` give it (environment, sender layers,
/// memory cap).
pub fn store(engine: &Engine, options: &crate::HostOptions) -> anyhow::Result<wasmtime::Store<HostState>> {
    let mut store = wasmtime::Store::new(engine, HostState::new(options)?);
    store.limiter(HostState::limiter);
    Ok(store)
}
