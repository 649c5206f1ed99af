//! The wasmtime host for the wasm-storages component.
//!
//! - [`runtime`]: loads the component once (precompiled and cached on disk), gives it WASI
//!   and wasi:http, and calls its `storage` interface. No S3 logic lives here.
//! - [`s3_server`]: the embedded S3 server (s3s + s3s-fs, SigV4 checked) tests and the demo use.
//! - [`sender`]: how the component's requests leave the host: TLS policy (`verify-ssl`),
//!   the keep-alive pool, canned replies for benchmarks.
//! - [`http_client`]: a plain HTTP client, for fetching presigned URLs like a browser would.
//! - [`http_server`]: serves a `wasi:http` component (the file-server example) over HTTP.
//! - [`bench`]: `storage-host bench`.
//!
//! Native only: built for a wasm target (`cargo build --target wasm32-wasip2` at the
//! workspace root), this crate is empty.
#![cfg(not(target_family = "wasm"))]

pub mod bench;
pub mod command;
pub mod credential_servers;
pub mod http_client;
pub mod http_server;
pub mod runtime;
pub mod s3_server;
pub mod sender;
pub mod strict_fs;

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
    AddressingStyle, ByteRange, Config, Error, GetOptions, ListOptions, PendingUpload, PresignMethod, PutOptions, ServiceError, Span, StoredFile, UploadChecksum, UrlOptions, WriteCondition,
};
