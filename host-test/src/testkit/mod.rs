//! The test kit: what the integration tests, the demo and the bench run the component
//! against, kept apart from the host a user embeds (`runtime`, `sender`, `http_server`,
//! `command`). Behind the `testkit` feature (on by default; the CLI needs it): a host built
//! with `default-features = false` links no S3 server.
//!
//! - `s3_server`: the embedded S3 server (s3s + s3s-fs on loopback, SigV4 checked) and its
//!   key ring;
//! - `strict_fs`: the layer over s3s-fs that checks what S3 checks before storing
//!   (Content-MD5 of objects and parts, conditional writes);
//! - `credential_servers`: loopback stand-ins for STS, the container endpoint and IMDS.
//!
//! Fault injection is a layer of the sender (`sender::faults`), which a test switches on
//! through `HostOptions::fault`.

pub mod credential_servers;
pub mod s3_server;
pub mod strict_fs;
