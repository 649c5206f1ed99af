//! Every raw WASI call the component makes, behind small types: the rest of the crate
//! reads like std and never names a `wasip2` function. The S3 logic above can thus be
//! unit-tested natively (where the calls are absent: these functions are only reached
//! through the wasm build), and a WASI 0.3 backend can sit beside this one later without
//! touching it.
//!
//! - `http`: outgoing requests (wasi:http), their bodies and responses;
//! - `io`: the caller's input stream and waiting on several things at once (wasi:io);
//! - `time`: sleeping, backoff timers, the jitter's seed (wasi:clocks, wasi:random);
//! - `env`: the environment variables (wasi:cli);
//! - `fs`: small files by absolute path, through the preopens (wasi:filesystem).

pub mod env;
pub mod fs;
pub mod http;
pub mod io;
pub mod reactor;
pub mod time;

pub use reactor::detach;
