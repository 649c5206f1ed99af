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
    // The header each mode adds, its value computed independently by the test (s3s's
    // hashes), and the payload hash signed. No mode is the default: a local endpoint gets
    // CRC64NVME.
    for (mode, header_name, value, payload_hash) in [
        (None, "x-amz-checksum-crc64nvme", checksum::<s3s::crypto::Crc64Nvme>(&data), "UNSIGNED-PAYLOAD".to_string()),
        (Some(UploadChecksum::Crc64nvme), "x-amz-checksum-crc64nvme", checksum::<s3s::crypto::Crc64Nvme>(&data), "UNSIGNED-PAYLOAD".to_string()),
        (Some(UploadChecksum::Crc32c), "x-amz-checksum-crc32c", checksum::<s3s::crypto::Crc32c>(&data), "UNSIGNED-PAYLOAD".to_string()),
        (Some(UploadChecksum::ContentMd5), "content-md5", md5_base64(&data), "UNSIGNED-PAYLOAD".to_string()),
        (Some(UploadChecksum::SignedSha256), "x-amz-content-sha256", common::sha256(&data), common::sha256(&data)),
    ] {
        let mut config = t.config("");
        config.upload_checksum = mode;
        let (mut s, sent) = recorded(config, None).await;
        s.put("k.bin", &data, &plain()).await.unwrap();
        let put = sent.lock().unwrap().iter().find(|r| r.method == "PUT").cloned().expect("a PUT was sent");
        assert_eq!(header(&put, header_name), Some(value.as_str()), "{mode:?}");
        assert_eq!(header(&put, "x-amz-content-sha256"), Some(payload_hash.as_str()), "{mode:?}");
        let auth = header(&put, "authorization").unwrap();
        assert!(auth.contains(&format!("{header_name};")), "{mode:?}: the checksum is signed: {auth}");
        // One integrity header: R2 refuses two checksums in one request.
        let others =
            ["content-md5", "x-amz-checksum-crc64nvme", "x-amz-checksum-crc32c"].into_iter().filter(|h| *h != header_name && header(&put, h).is_some()).count();
        assert_eq!(others, 0, "{mode:?}: {:?}", put.headers);
        assert_eq!(s.get_bytes("k.bin").await.unwrap(), data);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_damaged_in_transit_is_refused_in_every_mode() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("damaged").await;
    for mode in [UploadChecksum::Crc64nvme, UploadChecksum::Crc32c, UploadChecksum::ContentMd5, UploadChecksum::SignedSha256] {
        let crc = matches!(mode, UploadChecksum::Crc64nvme | UploadChecksum::Crc32c);
        let checked_by = if crc { Capability::ChecksChecksumHeaders } else { Capability::ChecksContentMd5 };
        if common::servers::skip_without(checked_by, &format!("bodies damaged on the way to the server ({mode:?})")) {
            continue;
        }
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
    let t = Target::new("damaged-part").await;
    for mode in [UploadChecksum::Crc64nvme, UploadChecksum::ContentMd5] {
        let checked_by = if mode == UploadChecksum::ContentMd5 { Capability::ChecksContentMd5 } else { Capability::ChecksChecksumHeaders };
        if common::servers::skip_without(checked_by, &format!("parts damaged on the way to the server ({mode:?})")) {
            continue;
        }
        let mut config = t.config("");
        config.part_size = Some(5 * MIB as u64);
        config.upload_checksum = Some(mode);
        let (mut damaged, sent) = recorded(config.clone(), Some(Fault::CorruptBody)).await;
        let result = damaged.put_stream("big.bin", std::io::Cursor::new(bytes(6 * MIB, 9)), &plain()).await;
        assert!(matches!(storage_error(result), Error::Service(ref e) if e.status == 400), "{mode:?}");
        let part_statuses: Vec<_> =
            sent.lock().unwrap().iter().filter(|r| r.uri.query().is_some_and(|q| q.contains("partNumber="))).map(|r| r.status).collect();
        assert!(!part_statuses.is_empty() && part_statuses.iter().all(|s| *s == Some(400)), "{mode:?}: parts: {part_statuses:?}");
        let mut clean = open(config).await.unwrap();
        assert!(!clean.exists("big.bin").await.unwrap());
        assert_no_pending_uploads(&t, &mut clean).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_uploads_carry_the_whole_objects_crc_and_downloads_check_it() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("full-object").await;
    let data = bytes(11 * MIB + 123, 21);
    for (mode, name) in [(UploadChecksum::Crc64nvme, "x-amz-checksum-crc64nvme"), (UploadChecksum::Crc32c, "x-amz-checksum-crc32c")] {
        let mut config = t.config("");
        config.part_size = Some(5 * MIB as u64);
        config.upload_checksum = Some(mode);
        let (mut s, sent) = recorded(config.clone(), None).await;
        s.put_stream("big.bin", std::io::Cursor::new(data.clone()), &plain()).await.unwrap();
        let sent = sent.lock().unwrap().clone();
        // Declared FULL_OBJECT; each part carries its CRC, Complete the whole object's
        // (computed here by s3s, from the bytes: the component combines its parts').
        let create = sent.iter().find(|r| r.method == "POST" && r.uri.query() == Some("uploads")).expect("CreateMultipartUpload");
        assert_eq!(header(create, "x-amz-checksum-type"), Some("FULL_OBJECT"), "{mode:?}");
        let parts: Vec<&Sent> = sent.iter().filter(|r| r.uri.query().is_some_and(|q| q.contains("partNumber="))).collect();
        assert_eq!(parts.len(), 3, "{mode:?}");
        for (i, part) in parts.iter().enumerate() {
            let n: usize = part.uri.query().unwrap().split('&').find_map(|p| p.strip_prefix("partNumber=")).unwrap().parse().unwrap();
            let body = &data[(n - 1) * 5 * MIB..(n * 5 * MIB).min(data.len())];
            let want = if mode == UploadChecksum::Crc64nvme { checksum::<s3s::crypto::Crc64Nvme>(body) } else { checksum::<s3s::crypto::Crc32c>(body) };
            assert_eq!(header(part, name), Some(want.as_str()), "{mode:?} part {i}");
        }
        let complete = sent.iter().find(|r| r.method == "POST" && r.uri.query() != Some("uploads")).expect("CompleteMultipartUpload");
        let whole = if mode == UploadChecksum::Crc64nvme { checksum::<s3s::crypto::Crc64Nvme>(&data) } else { checksum::<s3s::crypto::Crc32c>(&data) };
        assert_eq!(header(complete, name), Some(whole.as_str()), "{mode:?}");
        assert_eq!(header(complete, "x-amz-checksum-type"), Some("FULL_OBJECT"), "{mode:?}");
        assert_eq!(complete.status, Some(200), "{mode:?}: the server accepted the whole object's CRC");
        // Read back whole, and with a bit flipped on the way: where the service keeps the
        // whole object's CRC, the flipped bit is caught though the ETag is a multipart one.
        let mut clean = open(config.clone()).await.unwrap();
        assert_eq!(common::sha256(&clean.get_bytes("big.bin").await.unwrap()), common::sha256(&data), "{mode:?}");
        if common::servers::skip_without(Capability::KeepsFullObjectChecksums, "a flipped bit in a multipart download") {
            continue;
        }
        let (mut damaged, _) = recorded(config, always(Mischief::FlippedBit)).await;
        match storage_error(damaged.get_checked("big.bin", |_| Ok(())).await) {
            Error::Transport(m) => assert!(m.contains(&format!("does not match its {name}: expected {whole}")), "{mode:?}: {m}"),
            other => panic!("{mode:?}: {other:?}"),
        }
    }
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
    // Stored with a Content-MD5 only: the server keeps no checksum, the ETag is the MD5.
    let mut md5_only = t.config("");
    md5_only.upload_checksum = Some(UploadChecksum::ContentMd5);
    let mut clean = open(md5_only).await.unwrap();
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
