//! The wasmtime host for the wasm-storages component.
//!
//! - [`runtime`]: loads the component once (precompiled and cached on disk), gives it WASI
//!   and wasi:http, and calls its `storage` interface. No S3 logic lives here.
//! - [`sender`]: how the component's requests leave the host, as layers over wasmtime's
//!   default sender: TLS policy (`verify-ssl`), the keep-alive pool, the observer, canned
//!   replies for benchmarks, fault injection for tests.
//! - [`http_client`]: a plain HTTP client, for fetching presigned URLs like a browser would.
//! - [`http_server`]: serves a `wasi:http` component (the file-server example) over HTTP.
//! - [`command`]: runs a `wasi:cli` command component (the blobstore example's CLI).
//! - [`testkit`] (feature `testkit`, on by default): the embedded S3 server, its strict
//!   layer and the credential stand-ins the tests, the demo and the bench use.
//! - [`bench`] (feature `testkit`): `storage-host bench`.
//!
//! Native only: built for a wasm target (`cargo build --target wasm32-wasip2` at the
//! workspace root), this crate is empty.
#![cfg(not(target_family = "wasm"))]

#[cfg(feature = "testkit")]
pub mod api;
pub mod bench;
pub mod command;
pub mod http_client;
pub mod http_server;
pub mod p3;
pub mod runtime;
pub mod sender;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use runtime::{Failure, HostOptions, Runtime, Storage};

/// A config naming only `bucket`: every other field takes its default.
pub fn config_for(bucket: &str) -> Config {
    Config {
        bucket: bucket.into(),
        region: None,
        endpoint_url: None,
        access_key_id: None,
        secret_access_key: None,
        session_token: None,
        prefix: None,
        presigned_expiry: None,
        use_ssl: None,
        verify_ssl: None,
        max_pool_connections: None,
        part_size: None,
        upload_checksum: None,
        copy_part_size: None,
        server_side_encryption: None,
        profile: None,
        max_attempts: None,
        retry_base_delay_ms: None,
        retry_max_delay_ms: None,
        connect_timeout_ms: None,
        first_byte_timeout_ms: None,
        between_bytes_timeout_ms: None,
        addressing: None,
    }
}
pub use runtime::bindings::exports::wasm_storages::storage::types::{
    AddressingStyle, Attributes, ByteRange, Config, CopyOptions, Entry, Error, GetOptions, InfoOptions, KmsEncryption, ListOptions, ObjectVersion,
    PendingUpload, PresignMethod, PutOptions, ReadConditions, Replacement, ServerSideEncryption, ServiceError, Span, StoredFile, UploadChecksum, UrlOptions,
    WriteCondition,
};

/// wasi:clocks' datetime, as the storage API's dates are.
pub use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

// The WIT's option records with every field at its default (wasmtime's bindings derive no
// `Default`): for `..` in literals.

pub fn no_attributes() -> Attributes {
    Attributes { cache_control: None, content_disposition: None, content_encoding: None, content_language: None, expires: None, storage_class: None }
}

pub fn no_conditions() -> ReadConditions {
    ReadConditions { if_match: None, if_none_match: None, if_modified_since: None, if_unmodified_since: None }
}

pub fn put_options() -> PutOptions {
    PutOptions { content_type: None, metadata: Vec::new(), size: None, condition: None, attributes: no_attributes(), tags: Vec::new() }
}

pub fn get_options(range: Option<ByteRange>) -> GetOptions {
    GetOptions { range, conditions: no_conditions(), version_id: None, parallel: false }
}

pub fn list_options(limit: Option<u32>) -> ListOptions {
    ListOptions { limit, delimiter: None, start_after: None }
}

pub fn url_options() -> UrlOptions {
    UrlOptions {
        method: None,
        expires_in: None,
        content_type: None,
        response_content_type: None,
        response_content_disposition: None,
        response_cache_control: None,
    }
}
