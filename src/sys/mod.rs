//! Every raw WASI call the component makes, behind small types: the rest of the crate
//! reads like std and never names a `wasip2` or `wasip3` function. The S3 logic above is
//! async and unit-tested natively (where the calls are absent: these functions are only
//! reached through the wasm build). Two backends offer the same types and functions:
//!
//! - `p2` (the default build): wasi:http@0.2 and wasi:io pollables, the core's futures run
//!   by a one-task executor (`p2::reactor`) inside each synchronous export;
//! - `p3` (`--features p3`): wasi:http@0.3's client, `stream<u8>` bodies and native async,
//!   the exports `async func`s run by wit-bindgen's executor.
//!
//! Either way:
//! - `http`: outgoing requests, their bodies and responses;
//! - `io`: the caller's stream of bytes to store;
//! - `time`: sleeping, backoff timers, the jitter's seed;
//! - `env`: the environment variables (wasi:cli);
//! - `fs`: small files by absolute path, through the preopens (wasi:filesystem);
//! - `block_on` (0.2) runs an export's future to its end; `detach` (0.3) goes on with work
//!   after its export returned (a checked stream, a writer dropped mid-upload).

pub mod env;
pub mod fs;
mod message;

#[cfg(not(feature = "p3"))]
mod p2;
#[cfg(not(feature = "p3"))]
pub use p2::{http, io, reactor::block_on, time};

#[cfg(feature = "p3")]
mod p3;
#[cfg(feature = "p3")]
pub use p3::{detach, http, io, time};

/// Runs a future whose every wait is scripted (native unit tests): polled until ready.
#[cfg(test)]
pub fn spin<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..1_000_000 {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("a scripted future never finished")
}
