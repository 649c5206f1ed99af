//! Conditional writes: create-only (`If-None-Match: *`) and compare-and-swap (`If-Match`),
//! for single and multipart uploads, decided by the server; and a server that ignores the
//! conditions is found out before anything is written.

use crate::common;

use std::sync::{Arc, Mutex};

use common::{Target, assert_no_pending_uploads, bytes, open};
use host_test::sender::Sent;
use host_test::{Error, Failure, PutOptions, Storage, WriteCondition};

fn with(condition: Option<WriteCondition>) -> PutOptions {
    PutOptions { content_type: None, metadata: vec![], size: None, condition, attributes: host_test::no_attributes(), tags: Vec::new() }
}

fn absent() -> PutOptions {
    with(Some(WriteCondition::IfAbsent))
}

fn matching(etag: &str) -> PutOptions {
    with(Some(WriteCondition::IfMatch(etag.into())))
}

fn storage_error<T: std::fmt::Debug>(r: Result<T, Failure>) -> Error {
    common::storage_error(r)
}

/// Servers that don't honour conditions (found by the probe) can't run these tests; the
/// embedded one must.
fn skip_if_unsupported(t: &Target, e: &Error) -> bool {
    if let Error::Unsupported(why) = e {
        assert!(!t.is_embedded(), "the embedded server honours conditions: {why}");
        eprintln!("skipped: {why}");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn create_only_writes_once() {
    let t = Target::new("if-absent").await;
    let mut s = t.store("").await;
    match s.put("k", b"first", &absent()).await {
        Ok(_) => {}
        Err(Failure::Storage(e)) if skip_if_unsupported(&t, &e) => return,
        Err(e) => panic!("{e:?}"),
    }
    assert!(matches!(storage_error(s.put("k", b"second", &absent()).await), Error::AlreadyExists(ref k) if k == "k"));
    assert_eq!(s.get_bytes("k").await.unwrap(), b"first");

    // Multipart too: the condition travels on CompleteMultipartUpload; the refused upload
    // is aborted.
    let mut config = t.config("");
    config.part_size = Some(5 << 20);
    let mut big = open(config).await.unwrap();
    let data = bytes((11 << 20) + 1, 3);
    big.put_stream("big", std::io::Cursor::new(data.clone()), &absent()).await.unwrap();
    assert!(
        matches!(storage_error(big.put_stream("big", std::io::Cursor::new(bytes(6 << 20, 4)), &absent()).await), Error::AlreadyExists(ref k) if k == "big")
    );
    assert_eq!(common::sha256(&big.get_bytes("big").await.unwrap()), common::sha256(&data));
    assert_no_pending_uploads(&t, &mut big).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_and_swap_on_the_etag() {
    let t = Target::new("if-match").await;
    let mut s = t.store("").await;
    let first = s.put("k", b"v1", &with(None)).await.unwrap().etag.unwrap();
    let second = match s.put("k", b"v2", &matching(&first)).await {
        Ok(stored) => stored.etag.unwrap(),
        Err(Failure::Storage(e)) if skip_if_unsupported(&t, &e) => return,
        Err(e) => panic!("{e:?}"),
    };
    // The first ETag is stale now: the swap is refused and v2 stays.
    assert!(matches!(storage_error(s.put("k", b"v3", &matching(&first)).await), Error::PreconditionFailed(ref k) if k == "k"));
    assert_eq!(s.get_bytes("k").await.unwrap(), b"v2");
    // Quotes are optional.
    s.put("k", b"v4", &matching(second.trim_matches('"'))).await.unwrap();
    assert_eq!(s.get_bytes("k").await.unwrap(), b"v4");
    // Nothing stored: nothing to match.
    assert!(matches!(storage_error(s.put("absent", b"x", &matching(&first)).await), Error::PreconditionFailed(ref k) if k == "absent"));
    assert!(!s.exists("absent").await.unwrap());
    assert!(matches!(storage_error(s.put("k", b"x", &matching("bad\"etag")).await), Error::InvalidArgument(_)));
}

async fn recorded(t: &Target) -> (Storage, Arc<Mutex<Vec<Sent>>>) {
    common::recorded(t.config(""), None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_is_asked_once_whether_it_honours_conditions() {
    if common::skip_on_memory("the probe is the S3 component's: memory honours conditions by construction") {
        return;
    }
    let t = Target::new("probe").await;
    let (mut s, log) = recorded(&t).await;
    if let Err(Failure::Storage(e)) = s.put("a", b"x", &absent()).await {
        assert!(skip_if_unsupported(&t, &e), "{e:?}");
        return;
    }
    s.put("b", b"x", &absent()).await.unwrap();
    let probes: Vec<_> =
        log.lock().unwrap().iter().filter(|r| r.uri.path().contains(".wasm-storages-probe-")).map(|r| (r.method.to_string(), r.status)).collect();
    assert_eq!(probes, [("PUT".into(), Some(200)), ("PUT".into(), Some(412)), ("PUT".into(), Some(412)), ("DELETE".into(), Some(204))]);
    assert_eq!(s.list("", None).await.unwrap().iter().map(|f| f.key.clone()).collect::<Vec<_>>(), ["a", "b"], "the probe object is gone");
}

/// Always against an embedded server told to ignore conditions.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_ignores_conditions_is_reported_and_nothing_is_written() {
    if common::skip_on_memory("it plays an S3 server that ignores conditions") {
        return;
    }
    use host_test::testkit::s3_server::{EmbeddedS3, ServerOptions};
    let server = EmbeddedS3::start_with(ServerOptions { ignore_conditions: true, ..Default::default() }).await.unwrap();
    let mut s = open(server.config("ignored/")).await.unwrap();
    s.put("k", b"original", &with(None)).await.unwrap();
    for options in [absent(), matching("\"0123\"")] {
        let e = storage_error(s.put("k", b"overwrite?", &options).await);
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        let e = storage_error(s.put_stream("k", std::io::Cursor::new(b"overwrite?".to_vec()), &options).await);
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
    }
    assert_eq!(s.get_bytes("k").await.unwrap(), b"original");
    assert_eq!(s.list("", None).await.unwrap().len(), 1, "the probe object is gone");
}

/// Values a caller gives that go into a header or a URL are bounded: past the bound they
/// are `invalid-argument`, never a header the host refuses by trapping (wasmtime's limit on
/// a request's headers is 128 KiB).
#[tokio::test(flavor = "multi_thread")]
async fn oversized_etags_and_upload_ids_are_invalid_arguments() {
    let t = Target::new("oversized-args").await;
    let mut s = t.store("").await;
    for len in [1025usize, 200 * 1024] {
        let etag = "e".repeat(len);
        assert!(matches!(storage_error(s.put("k", b"x", &matching(&etag)).await), Error::InvalidArgument(m) if m.contains("at most")), "{len}");
        assert!(matches!(storage_error(s.put_writer("k", [b"x".to_vec()], &matching(&etag), true).await), Error::InvalidArgument(_)), "{len}");
    }
    // The rule is shared (`rules.rs`): both backends refuse the same ids alike.
    for len in [4097usize, 200 * 1024] {
        let id = "u".repeat(len);
        assert!(matches!(storage_error(s.abort_upload("k", &id).await), Error::InvalidArgument(m) if m.contains("upload id")), "{len}");
    }
    assert!(!s.exists("k").await.unwrap());
}
