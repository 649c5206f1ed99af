//! Large objects: streaming uploads (single PutObject or concurrent multipart parts), with
//! nothing left behind when they fail.

use crate::common;

use std::pin::Pin;
use std::task::{Context, Poll};

use common::{Target, assert_no_pending_uploads, bytes, open, pending_uploads, sha256, storage_error};
use std::sync::{Arc, Mutex};

use host_test::sender::Sent;
use host_test::{Error, HostOptions, PutOptions, Runtime, Storage, UploadChecksum};
use tokio::io::{AsyncRead, ReadBuf};

const MIB: usize = 1 << 20;

fn opts() -> PutOptions {
    PutOptions {
        content_type: Some("application/x-test".into()),
        metadata: vec![("origin".into(), "stream".into())],
        size: None,
        condition: None,
        attributes: host_test::no_attributes(),
        tags: Vec::new(),
    }
}

/// Yields `len` bytes of `data`, then fails: a disk or network error in the middle.
struct FailingReader {
    data: Vec<u8>,
    at: usize,
    fail_at: usize,
}

impl AsyncRead for FailingReader {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.at >= self.fail_at {
            return Poll::Ready(Err(std::io::Error::other("source failed on purpose")));
        }
        let n = buf.remaining().min(self.fail_at - self.at).min(64 * 1024);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_round_trip_with_a_size_that_is_not_a_multiple_of_the_part_size() {
    let t = Target::new("multipart").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(3);
    let mut s = open(config).await.unwrap();
    let data = bytes(17 * MIB + 12_345, 21); // 4 parts: 5 + 5 + 5 + 2 MiB and change

    let stored = s.put_stream("big/file.bin", std::io::Cursor::new(data.clone()), &opts()).await.unwrap();
    assert_eq!((stored.key.as_str(), stored.size), ("big/file.bin", data.len() as u64));
    assert_eq!(stored.content_type.as_deref(), Some("application/x-test"));

    let info = s.info("big/file.bin").await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(info.metadata, [("origin".to_string(), "stream".to_string())]);
    let mut hasher_input = Vec::with_capacity(data.len());
    s.get("big/file.bin", |c| {
        let _: () = hasher_input.extend_from_slice(c);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(sha256(&hasher_input), sha256(&data));
    assert_no_pending_uploads(&t, &mut s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn short_and_empty_streams_are_single_puts() {
    let t = Target::new("short-stream").await;
    let mut s = t.store("").await;
    let data = bytes(100_000, 3);
    let stored = s.put_stream("small", std::io::Cursor::new(data.clone()), &opts()).await.unwrap();
    assert_eq!(stored.size, 100_000);
    assert_eq!(s.get_bytes("small").await.unwrap(), data);
    assert_eq!(s.info("small").await.unwrap().metadata.len(), 1);

    s.put_stream("empty", tokio::io::empty(), &opts()).await.unwrap();
    assert_eq!(s.info("empty").await.unwrap().size, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_fails_midway_leaves_no_object_and_no_pending_upload() {
    let t = Target::new("failing-source").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(2);
    let mut s = open(config).await.unwrap();

    // Midway through the third part, after two parts were uploaded.
    let reader = FailingReader { data: bytes(20 * MIB, 5), at: 0, fail_at: 12 * MIB };
    match storage_error(s.put_stream("doomed.bin", reader, &opts()).await) {
        Error::Transport(msg) => assert!(msg.contains("reading the data to upload failed"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert!(!s.exists("doomed.bin").await.unwrap(), "no partial object");
    assert_no_pending_uploads(&t, &mut s).await;

    // Failing inside the first part: nothing was started at all.
    let reader = FailingReader { data: bytes(MIB, 6), at: 0, fail_at: 1000 };
    assert!(matches!(storage_error(s.put_stream("doomed2.bin", reader, &opts()).await), Error::Transport(_)));
    assert!(!s.exists("doomed2.bin").await.unwrap());

    // Spliced (no checksum, size known): the host cuts the request short.
    let mut spliced = t.config("");
    spliced.upload_checksum = Some(UploadChecksum::None);
    let mut sp = open(spliced).await.unwrap();
    let reader = FailingReader { data: bytes(8 * MIB, 7), at: 0, fail_at: 3 * MIB };
    assert!(matches!(storage_error(sp.put_stream("doomed3.bin", reader, &sized(8 * MIB)).await), Error::Transport(_)));
    assert!(!sp.exists("doomed3.bin").await.unwrap());

    // A refused key or option fails before a byte is read.
    assert!(matches!(storage_error(s.put_stream("../x", tokio::io::empty(), &opts()).await), Error::InvalidKey(_)));
    let bad = PutOptions {
        content_type: None,
        metadata: vec![("bad name".into(), "v".into())],
        size: None,
        condition: None,
        attributes: host_test::no_attributes(),
        tags: Vec::new(),
    };
    assert!(matches!(storage_error(s.put_stream("x", tokio::io::empty(), &bad).await), Error::InvalidArgument(_)));
}

/// Deterministic pseudo-random bytes, generated as they are read, hashed on the way out.
struct Generated {
    left: u64,
    state: u64,
    hash: std::sync::Arc<std::sync::Mutex<sha2::Sha256>>,
}

impl AsyncRead for Generated {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        use sha2::Digest;
        let n = (buf.remaining() as u64).min(self.left).min(256 * 1024) as usize & !7;
        let n = if n == 0 { (buf.remaining() as u64).min(self.left) as usize } else { n };
        let mut chunk = Vec::with_capacity(n + 8);
        while chunk.len() < n {
            let mut x = self.state;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.state = x;
            chunk.extend_from_slice(&x.to_le_bytes());
        }
        chunk.truncate(n);
        self.hash.lock().unwrap().update(&chunk);
        buf.put_slice(&chunk);
        self.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// 256 MiB up and down through a component capped at 32 MiB of linear memory.
#[tokio::test(flavor = "multi_thread")]
async fn a_256_mib_object_streams_up_and_down_in_32_mib_of_guest_memory() {
    if common::skip_on_memory("the memory backend holds every object whole") {
        return;
    }
    use sha2::Digest;
    const SIZE: u64 = 256 << 20;
    const CAP: usize = 32 << 20;
    let t = Target::new("constant-memory").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(3);
    let host = host_test::HostOptions { max_memory: Some(CAP), ..Default::default() };
    let mut s = host_test::Storage::open(host_test::Runtime::shared().unwrap(), &host, config).await.unwrap();

    let hash = std::sync::Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
    let source = Generated { left: SIZE, state: 0x9e37_79b9_7f4a_7c15, hash: hash.clone() };
    let stored = s.put_stream("huge.bin", source, &opts()).await.unwrap();
    assert_eq!(stored.size, SIZE);
    let sent = format!("{:x}", hash.lock().unwrap().clone().finalize());

    let mut received = sha2::Sha256::new();
    let mut count = 0u64;
    s.get("huge.bin", |chunk| {
        received.update(chunk);
        count += chunk.len() as u64;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(count, SIZE);
    assert_eq!(format!("{:x}", received.finalize()), sent);
    let peak = s.peak_memory();
    eprintln!("guest linear memory peak: {:.1} MiB", peak as f64 / MIB as f64);
    assert!(peak <= CAP, "peak {peak}");
    s.delete("huge.bin").await.unwrap();
}

/// Never yields more after `len` bytes and never ends: an upload stuck on its source.
struct Stuck {
    left: usize,
}

impl AsyncRead for Stuck {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Pending;
        }
        let n = buf.remaining().min(self.left).min(64 * 1024);
        buf.put_slice(&vec![1u8; n]);
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

/// An instance killed mid-upload can't abort; `pending-uploads` finds what it left and
/// `abort-upload` releases it.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_left_by_a_killed_instance_can_be_found_and_aborted() {
    if common::skip_on_memory("the memory backend leaves nothing pending") {
        return;
    }
    let t = Target::new("killed").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    let mut doomed = open(config.clone()).await.unwrap();
    let options = opts();
    let upload = doomed.put_stream("orphan.bin", Stuck { left: 11 * MIB }, &options);
    assert!(tokio::time::timeout(std::time::Duration::from_secs(3), upload).await.is_err(), "the upload can't finish");
    drop(doomed); // the instance is gone without aborting

    let mut s = open(config).await.unwrap();
    let left = pending_uploads(&t, &mut s).await;
    assert_eq!(left.len(), 1, "{left:?}");
    if t.server.is_none() {
        let listed = s.pending_uploads("").await.unwrap();
        assert_eq!(listed[0].key, "orphan.bin");
        assert!(listed[0].initiated.is_some());
        assert!(s.pending_uploads("other/").await.unwrap().is_empty());
    }
    s.abort_upload("orphan.bin", &left[0]).await.unwrap();
    assert_no_pending_uploads(&t, &mut s).await;
    assert!(!s.exists("orphan.bin").await.unwrap());
}

/// A stream exactly one part long is one PutObject; one byte more makes two parts.
#[tokio::test(flavor = "multi_thread")]
async fn the_part_boundary_decides_between_put_and_multipart() {
    if common::skip_on_memory("S3's PutObject-or-multipart choice (ETag shapes)") {
        return;
    }
    let t = Target::new("boundary").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    let mut s = open(config).await.unwrap();
    let data = bytes(5 * MIB + 1, 8);

    let exact = s.put_stream("exact.bin", std::io::Cursor::new(data[..5 * MIB].to_vec()), &opts()).await.unwrap();
    let etag = exact.etag.unwrap();
    assert!(!etag.contains('-'), "a single PutObject has a plain MD5 ETag, got {etag}");
    assert_eq!(s.get_bytes("exact.bin").await.unwrap(), data[..5 * MIB]);

    let over = s.put_stream("over.bin", std::io::Cursor::new(data.clone()), &opts()).await.unwrap();
    let etag = over.etag.unwrap();
    assert!(etag.trim_matches('"').ends_with("-2"), "two parts, got {etag}");
    assert_eq!(over.size, data.len() as u64);
    assert_eq!(s.get_bytes("over.bin").await.unwrap(), data);
    assert_no_pending_uploads(&t, &mut s).await;
}

fn sized(size: usize) -> PutOptions {
    PutOptions { size: Some(size as u64), ..opts() }
}

/// With `upload-checksum = none` and a known size, the stream goes to the server as one
/// PutObject spliced by the host: the component holds none of it, so a 48 MiB object
/// passes through a guest capped at 4 MiB of linear memory.
#[tokio::test(flavor = "multi_thread")]
async fn a_sized_stream_is_spliced_into_one_put_without_entering_the_guest() {
    if common::skip_on_memory("splicing into an S3 request") {
        return;
    }
    let t = Target::new("spliced").await;
    let mut config = t.config("");
    config.upload_checksum = Some(UploadChecksum::None);
    config.part_size = Some(5 * MIB as u64);
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let host = HostOptions { max_memory: Some(4 * MIB), observer: Some(Arc::new(move |s: Sent| log.lock().unwrap().push(s))), ..Default::default() };
    let mut s = Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap();
    let data = bytes(48 * MIB + 7, 31);
    let stored = s.put_stream("spliced.bin", std::io::Cursor::new(data.clone()), &sized(data.len())).await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    assert!(s.peak_memory() <= 4 * MIB, "peak {}", s.peak_memory());
    {
        let sent = sent.lock().unwrap();
        let puts: Vec<_> = sent.iter().filter(|r| r.method == "PUT").collect();
        assert_eq!(puts.len(), 1, "one PutObject, no multipart: {:?}", sent.iter().map(|r| (&r.method, &r.uri)).collect::<Vec<_>>());
        assert_eq!(puts[0].headers.get("content-length").unwrap(), &data.len().to_string());
        assert_eq!(puts[0].headers.get("x-amz-content-sha256").unwrap(), "UNSIGNED-PAYLOAD");
        assert!(puts[0].headers.get("content-md5").is_none());
    }
    let mut got = Vec::with_capacity(data.len());
    s.get("spliced.bin", |c| {
        let _: () = got.extend_from_slice(c);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(sha256(&got), sha256(&data));
    assert_eq!(s.info("spliced.bin").await.unwrap().metadata, [("origin".to_string(), "stream".to_string())]);
}

/// A stream that is shorter or longer than its stated size stores nothing, whichever way
/// it goes: spliced, one buffered PutObject, or multipart.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_of_the_wrong_size_stores_nothing() {
    let t = Target::new("wrong-size").await;
    for (checksum, len) in
        [(UploadChecksum::None, 3 * MIB), (UploadChecksum::ContentMd5, 3 * MIB), (UploadChecksum::ContentMd5, 12 * MIB), (UploadChecksum::None, 0)]
    {
        let mut config = t.config("");
        config.upload_checksum = Some(checksum);
        config.part_size = Some(5 * MIB as u64);
        let mut s = open(config).await.unwrap();
        let data = bytes(len, 41);
        for stated in [len + 1, len.saturating_sub(1), len + MIB] {
            if stated == len {
                continue;
            }
            let result = s.put_stream("k.bin", std::io::Cursor::new(data.clone()), &sized(stated)).await;
            let e = storage_error(result);
            assert!(matches!(e, Error::InvalidArgument(_)), "{checksum:?} {len} as {stated}: {e:?}");
            assert!(!s.exists("k.bin").await.unwrap(), "{checksum:?}: {len} bytes stated as {stated} left an object");
        }
        assert_no_pending_uploads(&t, &mut s).await;
        // The right size goes through.
        s.put_stream("k.bin", std::io::Cursor::new(data.clone()), &sized(len)).await.unwrap();
        assert_eq!(s.get_bytes("k.bin").await.unwrap(), data, "{checksum:?} {len}");
        s.delete("k.bin").await.unwrap();
    }
}
