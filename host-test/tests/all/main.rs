//! The integration suite, one binary (each test binary links wasmtime and the embedded S3
//! server: one link instead of fourteen). `cargo test --test all storage::` runs one file's
//! tests; see `common` for the server each test runs against.

mod common;

mod async_storage;
mod batch;
mod blobstore;
mod browsing;
mod cli;
mod cli_tree;
mod component;
mod conditional;
mod copies;
mod credentials;
mod encryption;
mod faults;
mod file_server;
mod integrity;
mod large;
mod p3;
mod parallel;
mod providers;
mod reliability;
mod storage;
mod versions;
mod writer;
