//! wasm-storages: S3 object storage as a WebAssembly component.
//!
//! The component exports `wasm-storages:storage/storage@0.2.0` (see `wit/storage.wit`), or,
//! built with `--features p3`, its WASI 0.3 form `@0.3.0` (`wit/async/storage.wit`); the
//! README's "Architecture" section says which module owns what. In short: `store` (0.2) or
//! `store_async` (0.3) adapts the WIT resources to `objects`, `listing`, `upload` and
//! `buckets`; every request goes through `client` (build, sign, send, classify, retry),
//! async throughout; every raw WASI call is in `sys`, which has a backend for each.

#[cfg(feature = "p3")]
mod actor;
#[cfg(test)]
mod architecture;
mod buckets;
mod buffers;
mod checksums;
mod client;
mod conditions;
mod config;
mod copies;
mod credentials;
mod encryption;
mod error;
#[cfg(test)]
mod fuzz;
mod keys;
mod listing;
mod multipart;
mod objects;
mod order;
mod paging;
mod parts;
mod precondition;
mod quote;
mod ranged;
mod replies;
mod request;
mod retry;
mod rules;
mod signing;
#[cfg(not(feature = "p3"))]
mod store;
#[cfg(feature = "p3")]
mod store_async;
mod sys;
mod upload;
mod verify;
mod xml;

/// Bindings for a world of this crate, the storage types given `Default` (for the tests and
/// for defaults in the code; unused code is gone from the release build).
macro_rules! storage_bindings {
    ($($world:tt)*) => {
        wit_bindgen::generate!({
            $($world)*
            additional_type_attributes: {
                "wasm-storages:storage/types@0.2.0/config": [#[derive(Default)]],
                "wasm-storages:storage/types@0.2.0/stored-file": [#[derive(Default)]],
                "wasm-storages:storage/types@0.2.0/attributes": [#[derive(Default)]],
                "wasm-storages:storage/types@0.2.0/put-options": [#[derive(Default)]],
                "wasm-storages:storage/types@0.2.0/read-conditions": [#[derive(Default)]],
                "wasm-storages:storage/types@0.2.0/span": [#[derive(Default)]],
            },
        });
    };
}

/// The WASI 0.2 builds' bindings, for world `$world` (`$with`: its imports beyond the shared
/// ones that come from the `wasip2` crate).
#[cfg(not(feature = "p3"))]
macro_rules! p2_bindings {
    ($world:literal, { $($with:tt)* }) => {
        storage_bindings!(
            world: $world,
            path: ["wit", "wit/components"],
            // The WASI types come from the `wasip2` crate, so the streams and clocks we hand
            // out are the very resources the wasi:http calls return.
            with: {
                "wasi:io/error@0.2.12": wasip2::io::error,
                "wasi:io/poll@0.2.12": wasip2::io::poll,
                "wasi:io/streams@0.2.12": wasip2::io::streams,
                "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
                "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
                "wasi:http/types@0.2.12": wasip2::http::types,
                "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
                $($with)*
            },
        );
    };
}

#[cfg(not(any(feature = "p3", feature = "proxy")))]
pub(crate) mod bindings {
    p2_bindings!("wasm-storages:components/s3@0.1.0", { "wasi:cli/environment@0.2.12": wasip2::cli::environment, });
}

/// The `wasi:http/proxy` build's: settings from `wasi:config/store` (generated here: the
/// `wasip2` crate has no such interface), no environment.
#[cfg(all(feature = "proxy", not(feature = "p3")))]
pub(crate) mod bindings {
    p2_bindings!("wasm-storages:components/s3-proxy@0.1.0", { "wasi:config/store@0.2.0-rc.1": generate, });
}

#[cfg(all(feature = "proxy", feature = "p3"))]
compile_error!("the `proxy` build is a WASI 0.2 build: it does not combine with `p3`");

/// The WASI 0.3 build's bindings: `wasm-storages:storage@0.3.0`'s async interface over
/// 0.2.0's types (two versions of the package, so the modules carry their versions).
#[cfg(feature = "p3")]
pub(crate) mod bindings {
    storage_bindings!(
        world: "wasm-storages:async-components/s3@0.1.0",
        path: ["wit", "wit/async", "wit/async-components"],
        with: {
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
        },
    );
}

/// The storage API's types (`wasm-storages:storage/types@0.2.0`), whichever build.
#[cfg(not(feature = "p3"))]
pub(crate) use bindings::exports::wasm_storages::storage::types;
#[cfg(feature = "p3")]
pub(crate) use bindings::exports::wasm_storages::storage0_2_0::types;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

#[cfg(not(feature = "p3"))]
impl bindings::exports::wasm_storages::storage::storage::Guest for Component {
    type Store = store::Store;
    type ObjectBody = store::ObjectBody;
    type Listing = store::Listing;
    type Writer = store::Writer;
}

#[cfg(feature = "p3")]
impl bindings::exports::wasm_storages::storage0_3_0::storage::Guest for Component {
    type Store = store_async::Store;
    type ObjectBody = store_async::ObjectBody;
    type Listing = store_async::Listing;
    type Writer = store_async::Writer;
}

// Native builds exist only for the unit tests; the export symbols are for wasm alone.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
