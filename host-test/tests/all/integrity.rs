//! Uploads are integrity-checked: the server refuses a body damaged on its way, in every
//! `upload-checksum` mode, and nothing is left behind. The damage is done by the host's
//! send hook (`Fault::CorruptBody`); the refusal comes from the real server.
//!
//! Downloads are checked by the component: against Content-Length always, and against
//! the object's `x-amz-checksum-*` or MD5 ETag; the host damages the replies
//! (`Mischief::FlippedBit`, `Mischief::WrongLength`).

use crate::common;
use common::servers::Capability;

use std::sync::{Arc, Mutex};

use common::{Target, assert_no_pending_uploads, bytes, open, storage_error};
use host_test::sender::{Fault, Mischief, Sent};
use host_test::{Config, Error, PutOptions, Storage, UploadChecksum};

const MIB: usize = 1 << 20;

fn plain() -> PutOptions {
    PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() }
}

/// A store on `config` whose requests the host records, and damages when `fault` is set.
async fn recorded(config: Config, fault: Option<Fault>) -> (Storage, Arc<Mutex<Vec<Sent>>>) {
    common::recorded(config, fault).await
}

fn header<'a>(sent: &'a Sent, name: &str) -> Option<&'a str> {
    sent.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_carry_the_configured_checksum() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("checksum-shape").await;
    let data = bytes(3000, 5);
    for (mode, md5, payload_hash) in [
        // Base64 MD5 and hex SHA-256 of `data`, computed independently by the test.
        (UploadChecksum::ContentMd5, Some(md5_base64(&data)), "UNSIGNED-PAYLOAD".to_string()),
        (UploadChecksum::SignedSha256, None, common::sha256(&data)),
    ] {
        let mut config = t.config("");
        config.upload_checksum = Some(mode);
        let (mut s, sent) = recorded(config, None).await;
        s.put("k.bin", &data, &plain()).await.unwrap();
        let put = sent.lock().unwrap().iter().find(|r| r.method == "PUT").cloned().expect("a PUT was sent");
        assert_eq!(header(&put, "content-md5").map(str::to_string), md5, "{mode:?}");
        assert_eq!(header(&put, "x-amz-content-sha256"), Some(payload_hash.as_str()), "{mode:?}");
        let auth = header(&put, "authorization").unwrap();
        assert_eq!(auth.contains("content-md5;"), md5.is_some(), "Content-MD5 is signed: {auth}");
        assert_eq!(s.get_bytes("k.bin").await.unwrap(), data);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_damaged_in_transit_is_refused_in_every_mode() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    if common::servers::skip_without(Capability::ChecksContentMd5, "bodies damaged on the way to the server") {
        return;
    }
    let t = Target::new("damaged").await;
    for mode in [UploadChecksum::ContentMd5, UploadChecksum::SignedSha256] {
        let mut config = t.config("");
        config.upload_checksum = Some(mode);
        let data = bytes(10_000, 7);
        let (mut damaged, _) = recorded(config.clone(), Some(Fault::CorruptBody)).await;
        // S3 answers 400 (BadDigest, XAmzContentSHA256Mismatch); s3s-fs turns the failed
        // SHA-256 check of a signed payload into a 500. Either way: refused.
        match storage_error(damaged.put("k.bin", &data, &plain()).await) {
            Error::Service(e) if e.status == 400 || e.status == 500 => {}
            other => panic!("{mode:?}: expected the server to refuse the body, got {other:?}"),
        }
        let mut clean = open(config).await.unwrap();
        assert!(!clean.exists("k.bin").await.unwrap(), "{mode:?}: a refused body must leave no object");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_part_is_refused_and_the_upload_aborted() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    if common::servers::skip_without(Capability::ChecksContentMd5, "parts damaged on the way to the server") {
        return;
    }
    let t = Target::new("damaged-part").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    let (mut damaged, sent) = recorded(config.clone(), Some(Fault::CorruptBody)).await;
    let result = damaged.put_stream("big.bin", std::io::Cursor::new(bytes(6 * MIB, 9)), &plain()).await;
    assert!(matches!(storage_error(result), Error::Service(ref e) if e.status == 400));
    let part_statuses: Vec<_> = sent.lock().unwrap().iter().filter(|r| r.uri.query().is_some_and(|q| q.contains("partNumber="))).map(|r| r.status).collect();
    assert!(!part_statuses.is_empty() && part_statuses.iter().all(|s| *s == Some(400)), "parts: {part_statuses:?}");
    let mut clean = open(config).await.unwrap();
    assert!(!clean.exists("big.bin").await.unwrap());
    assert_no_pending_uploads(&t, &mut clean).await;
}

/// Every reply the host hands back suffers `kind`.
fn always(kind: Mischief) -> Option<Fault> {
    Some(Fault::Random { seed: 99, percent: 100, kind })
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_ask_for_checksums_and_check_the_md5_etag() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("download-md5").await;
    let data = bytes(200_000, 11);
    let mut clean = open(t.config("")).await.unwrap();
    clean.put("k.bin", &data, &plain()).await.unwrap();

    let (mut s, sent) = recorded(t.config(""), None).await;
    assert_eq!(s.get_bytes("k.bin").await.unwrap(), data);
    let mut got = Vec::new();
    s.get_checked("k.bin", |c| {
        let _: () = got.extend_from_slice(c);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(got, data);
    for get in sent.lock().unwrap().iter().filter(|r| r.method == "GET") {
        assert_eq!(header(get, "x-amz-checksum-mode"), Some("ENABLED"));
    }

    // One flipped bit, the length right: only the MD5 ETag tells.
    let (mut damaged, _) = recorded(t.config(""), always(Mischief::FlippedBit)).await;
    for e in [storage_error(damaged.get_bytes("k.bin").await), storage_error(damaged.get_checked("k.bin", |_| Ok(())).await)] {
        assert!(matches!(&e, Error::Transport(m) if m.contains("does not match its ETag (MD5)")), "{e:?}");
    }
    match storage_error(damaged.get_bytes("k.bin").await) {
        Error::Transport(m) => assert!(m.contains("after 3 attempts"), "a damaged download is fetched again: {m}"),
        other => panic!("{other:?}"),
    }
    // A failed check stays the answer: reading on never makes the body look complete.
    let (first, again) = damaged.read_then_again("k.bin", 1 << 16).await.unwrap();
    let (first, again) = (storage_error(first), storage_error(again));
    assert!(matches!(&first, Error::Transport(m) if m.contains("ETag (MD5)")), "{first:?}");
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_are_checked_against_the_objects_checksum() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("download-crc").await;
    let data = bytes(100_000, 12);
    let mut s = open(t.config("")).await.unwrap();
    // Stored by another client with a CRC32 (the AWS SDKs' default); the server checks the
    // header against the body before it stores.
    let crc = checksum::<s3s::crypto::Crc32>(&data);
    let reply = common::foreign_request(&t, "PUT", "crc.bin", &[("x-amz-checksum-crc32", &crc)], data.clone()).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(s.get_bytes("crc.bin").await.unwrap(), data);

    let (mut damaged, _) = recorded(t.config(""), always(Mischief::FlippedBit)).await;
    let checked_by = match common::servers::skip_without(Capability::KeepsHeaderChecksums, "the check against a CRC32 (the MD5 ETag is checked)") {
        true => "does not match its ETag (MD5)".to_string(),
        false => format!("does not match its x-amz-checksum-crc32: expected {crc}"),
    };
    match storage_error(damaged.get_bytes("crc.bin").await) {
        Error::Transport(m) => assert!(m.contains(&checked_by), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_longer_or_shorter_than_its_content_length_is_an_error() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("download-length").await;
    let data = bytes(50_000, 13);
    let mut clean = open(t.config("")).await.unwrap();
    clean.put("k.bin", &data, &plain()).await.unwrap();
    // Each request draws one of: cut short cleanly, header too high, header too low.
    for seed in 0..6 {
        let (mut damaged, _) = recorded(t.config(""), Some(Fault::Random { seed, percent: 100, kind: Mischief::WrongLength })).await;
        for e in [storage_error(damaged.get_bytes("k.bin").await), storage_error(damaged.get_checked("k.bin", |_| Ok(())).await)] {
            assert!(matches!(&e, Error::Transport(m) if m.contains("truncated") || m.contains("longer than its Content-Length")), "seed {seed}: {e:?}");
        }
        // A listing's XML is length-checked too.
        assert!(matches!(storage_error(damaged.list("", None).await), Error::Transport(_)), "seed {seed}");
    }
}

fn checksum<C: s3s::crypto::Checksum>(data: &[u8]) -> String {
    use base64::Engine as _;
    let mut c = C::new();
    c.update(data);
    base64::engine::general_purpose::STANDARD.encode(c.finalize())
}

fn md5_base64(data: &[u8]) -> String {
    use base64::Engine as _;
    use s3s::crypto::{Checksum as _, Md5};
    let mut md5 = Md5::new();
    md5.update(data);
    base64::engine::general_purpose::STANDARD.encode(md5.finalize())
}
