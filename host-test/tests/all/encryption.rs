//! Server-side encryption: SSE-S3 and SSE-KMS asked for wherever an object is written,
//! SSE-C's key sent with every request that writes or reads an object's bytes (and as the
//! source's on copies), never printed. The shapes are checked on the embedded server; what
//! a customer key does, on servers that implement SSE-C (Garage).

use crate::common::{self, Log, Target, bytes, servers::Capability, sha256, storage_error};
use host_test::testkit::s3_server::EmbeddedS3;
use host_test::{Config, Error, KmsEncryption, ServerSideEncryption};

const MIB: usize = 1 << 20;
const KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

/// Every request's method, query and the value of `header` (if sent).
fn headers(log: &Log, header: &str) -> Vec<(String, String, Option<String>)> {
    log.lock()
        .unwrap()
        .iter()
        .map(|s| {
            let query = s.uri.query().unwrap_or("").split('&').next().unwrap_or("").split('=').next().unwrap_or("").to_string();
            (s.method.to_string(), query, s.headers.get(header).map(|v| v.to_str().unwrap().to_string()))
        })
        .collect()
}

/// A put, a multipart put-stream, a copy and a get, through a store with `encryption`.
async fn exercise(config: Config) -> Log {
    let (mut s, log) = common::recorded(config, None).await;
    s.put("small.bin", b"small", &host_test::put_options()).await.unwrap();
    s.put_stream("big.bin", std::io::Cursor::new(bytes(6 * MIB, 1)), &host_test::put_options()).await.unwrap();
    s.copy("small.bin", "copy.bin").await.unwrap();
    s.get_bytes("small.bin").await.unwrap();
    log
}

fn embedded_config(server: &EmbeddedS3, what: &str, encryption: ServerSideEncryption) -> Config {
    let mut config = server.config(what);
    config.part_size = Some(5 * MIB as u64);
    config.server_side_encryption = Some(encryption);
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_s3_and_kms_are_asked_for_where_objects_are_written() {
    if common::skip_on_memory("request shapes are S3's") {
        return;
    }
    // Always the embedded server: only the requests' shape is checked here.
    let server = EmbeddedS3::start().await.unwrap();
    let log = exercise(embedded_config(&server, "sse-s3", ServerSideEncryption::S3Managed)).await;
    let written = |log: &Log, header: &str| -> Vec<(String, String, Option<String>)> { headers(log, header) };
    for (method, query, value) in written(&log, "x-amz-server-side-encryption") {
        let writes = (method == "PUT" && query.is_empty()) || (method == "POST" && query == "uploads");
        assert_eq!(value.as_deref(), writes.then_some("AES256"), "{method} ?{query}");
    }
    let kms = ServerSideEncryption::Kms(KmsEncryption { key_id: Some("alias/app".into()), bucket_key: Some(true) });
    let log = exercise(embedded_config(&server, "sse-kms", kms)).await;
    for header in ["x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-bucket-key-enabled"] {
        let sent: Vec<_> = written(&log, header).into_iter().filter(|(_, _, v)| v.is_some()).map(|(m, q, v)| (m, q, v.unwrap())).collect();
        // PutObject, CreateMultipartUpload and CopyObject; never a part or a read.
        assert_eq!(sent.len(), 3, "{header}: {sent:?}");
    }
    assert_eq!(written(&log, "x-amz-server-side-encryption")[0].2.as_deref(), Some("aws:kms"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_key_goes_with_every_request_for_an_objects_bytes_and_never_in_a_message() {
    if common::skip_on_memory("request shapes are S3's") {
        return;
    }
    let server = EmbeddedS3::start().await.unwrap();
    let config = embedded_config(&server, "sse-c-shape", ServerSideEncryption::CustomerKey(KEY.to_vec()));
    let log = exercise(config.clone()).await;
    let key_b64 = aws_smithy_types::base64::encode(KEY);
    for (method, query, value) in headers(&log, "x-amz-server-side-encryption-customer-key") {
        // Every PUT (object, part, copy), CreateMultipartUpload, GET and HEAD; Complete too,
        // as S3 asks when the upload has a checksum (the default, and the only multipart
        // upload here).
        let carries = method == "PUT" || method == "GET" || method == "HEAD" || method == "POST";
        assert_eq!(value.as_deref(), carries.then_some(key_b64.as_str()), "{method} ?{query}");
    }
    let copy_source: Vec<_> = headers(&log, "x-amz-copy-source-server-side-encryption-customer-key").into_iter().filter(|(_, _, v)| v.is_some()).collect();
    assert_eq!(copy_source.len(), 1, "the copy names the source's key");

    // The key is never shown: not in a URL (there is none), not in an error.
    let mut s = common::open(config.clone()).await.unwrap();
    assert!(matches!(storage_error(s.url("small.bin", None).await), Error::Unsupported(_)));
    let mut short = config.clone();
    short.server_side_encryption = Some(ServerSideEncryption::CustomerKey(KEY[..16].to_vec()));
    let e = storage_error(common::open(short).await);
    assert!(matches!(&e, Error::InvalidConfig(m) if m.contains("16 bytes")), "{e:?}");
    assert!(!format!("{e:?}").contains("MDEyMzQ1") && !format!("{e:?}").contains("0123456789abcdef"));
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_under_a_customer_key_are_read_only_with_it() {
    if common::skip_on_memory("nothing is encrypted in memory") || common::servers::skip_without(Capability::CustomerKeys, "what a customer key does to reads")
    {
        return;
    }
    let t = Target::new("sse-c").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.copy_part_size = Some(5 * MIB as u64);
    config.server_side_encryption = Some(ServerSideEncryption::CustomerKey(KEY.to_vec()));
    let mut s = common::open(config.clone()).await.unwrap();
    let big = bytes(11 * MIB, 2);
    s.put("small.bin", b"secret", &host_test::put_options()).await.unwrap();
    s.put_stream("big.bin", std::io::Cursor::new(big.clone()), &host_test::put_options()).await.unwrap();
    assert_eq!(s.get_bytes("small.bin").await.unwrap(), b"secret");
    assert_eq!(sha256(&s.get_bytes("big.bin").await.unwrap()), sha256(&big));
    assert_eq!(s.info("big.bin").await.unwrap().size, big.len() as u64);
    // Copies, in one request and in parts, under the same key.
    s.copy("small.bin", "small-copy.bin").await.unwrap();
    s.copy("big.bin", "big-copy.bin").await.unwrap();
    assert_eq!(s.get_bytes("small-copy.bin").await.unwrap(), b"secret");
    assert_eq!(sha256(&s.get_bytes("big-copy.bin").await.unwrap()), sha256(&big));

    // Without the key, or with another, the service refuses to read.
    let mut plain = common::open(t.config("")).await.unwrap();
    let mut other = config.clone();
    other.server_side_encryption = Some(ServerSideEncryption::CustomerKey(vec![9; 32]));
    let mut wrong = common::open(other).await.unwrap();
    for e in [storage_error(plain.get_bytes("small.bin").await), storage_error(wrong.get_bytes("small.bin").await)] {
        assert!(matches!(&e, Error::Service(_) | Error::AccessDenied(_)), "{e:?}");
        assert!(!format!("{e:?}").contains(&aws_smithy_types::base64::encode(KEY)));
    }
}
