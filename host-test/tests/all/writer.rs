//! `store.writer`: an upload the caller writes piece by piece. The same outcomes as
//! `put-stream` — one PutObject or a multipart upload, all of the object or none of it —
//! with the caller as the source.

use crate::common;
use common::servers::Capability;

use std::sync::{Arc, Mutex};

use common::{Target, assert_no_pending_uploads, bytes, open, sha256, storage_error};
use host_test::sender::{Fault, Sent};
use host_test::{Error, HostOptions, PutOptions, Runtime, Storage};

const MIB: usize = 1 << 20;

fn opts() -> PutOptions {
    PutOptions {
        content_type: Some("text/plain".into()),
        metadata: vec![("origin".into(), "writer".into())],
        size: None,
        condition: None,
        attributes: host_test::no_attributes(),
        tags: Vec::new(),
    }
}

/// `data` in pieces of `piece` bytes.
fn pieces(data: &[u8], piece: usize) -> Vec<Vec<u8>> {
    data.chunks(piece).map(<[u8]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn small_writes_make_one_put_and_large_ones_a_multipart_upload() {
    let t = Target::new("writer").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(2);
    let sent = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let log = sent.clone();
    let host = HostOptions { observer: Some(Arc::new(move |s| log.lock().unwrap().push(s))), ..Default::default() };
    let mut s = Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap();

    // Exactly one part: still one PutObject (the writer waits for more before starting parts).
    let one = bytes(5 * MIB, 1);
    let stored = s.put_writer("one.bin", pieces(&one, 100_000), &opts(), true).await.unwrap().unwrap();
    assert_eq!(stored.size, one.len() as u64);
    assert!(!stored.etag.unwrap().contains('-'));
    assert_eq!(s.get_bytes("one.bin").await.unwrap(), one);
    assert!(sent.lock().unwrap().iter().all(|r| r.uri.query().is_none_or(|q| !q.contains("uploads"))), "no multipart upload for one part");
    let multipart = !common::memory_backend();

    // Four parts and change, written in odd-sized pieces, two parts in flight.
    let big = bytes(17 * MIB + 4321, 2);
    let stored = s.put_writer("big.bin", pieces(&big, 777_777), &opts(), true).await.unwrap().unwrap();
    assert_eq!(stored.size, big.len() as u64);
    assert!(!multipart || stored.etag.as_deref().unwrap().trim_matches('"').ends_with("-4"), "{:?}", stored.etag);
    let info = s.info("big.bin").await.unwrap();
    assert_eq!((info.content_type.as_deref(), info.metadata), (Some("text/plain"), vec![("origin".to_string(), "writer".to_string())]));
    let mut got = Vec::new();
    s.get("big.bin", |c| {
        let _: () = got.extend_from_slice(c);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(sha256(&got), sha256(&big));

    // Nothing written at all: an empty object.
    s.put_writer("empty.bin", Vec::new(), &opts(), true).await.unwrap();
    assert_eq!(s.info("empty.bin").await.unwrap().size, 0);
    assert_no_pending_uploads(&t, &mut s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unfinished_or_failed_writer_leaves_nothing() {
    let t = Target::new("writer-fail").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    let mut s = open(config.clone()).await.unwrap();
    let data = bytes(12 * MIB, 3);

    // Dropped before finish, after parts went out: aborted.
    assert!(s.put_writer("dropped.bin", pieces(&data, MIB), &opts(), false).await.unwrap().is_none());
    assert!(!s.exists("dropped.bin").await.unwrap());

    // A size that doesn't match what was written, short or long, on both paths (a long one
    // fails at the write that passes it).
    for (len, size) in [(1000, 1001), (1000, 999), (12 * MIB, 12 * MIB + 1), (12 * MIB, 6 * MIB)] {
        let sized = PutOptions { size: Some(size as u64), ..opts() };
        let e = storage_error(s.put_writer("sized.bin", pieces(&data[..len], MIB), &sized, true).await);
        assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
        assert!(!s.exists("sized.bin").await.unwrap());
    }

    // Every part refused: the write that hits the failure reports it, the upload is aborted.
    if common::skip_on_memory("faults are injected into wasi:http requests")
        || common::servers::skip_without(Capability::ChecksContentMd5, "parts damaged on the way to the server")
    {
        return;
    }
    let host = HostOptions { fault: Some(Fault::CorruptBody), ..Default::default() };
    let mut damaged = Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap();
    let e = storage_error(damaged.put_writer("damaged.bin", pieces(&data, MIB), &opts(), true).await);
    assert!(matches!(&e, Error::Service(s) if s.status == 400), "{e:?}");
    assert!(!s.exists("damaged.bin").await.unwrap());
    assert_no_pending_uploads(&t, &mut s).await;
}

/// A 64 MiB object written piece by piece through a guest capped at 24 MiB: the writer
/// holds at most max-pool-connections + 1 parts (here 3 × 5 MiB).
#[tokio::test(flavor = "multi_thread")]
async fn a_writer_uploads_in_constant_memory() {
    if common::skip_on_memory("the memory backend holds every object whole") {
        return;
    }
    const CAP: usize = 24 << 20;
    let t = Target::new("writer-memory").await;
    let mut config = t.config("");
    config.part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(2);
    let host = HostOptions { max_memory: Some(CAP), ..Default::default() };
    let mut s = Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap();
    let data = bytes(64 * MIB, 4);
    s.put_writer("big.bin", pieces(&data, 256 * 1024), &opts(), true).await.unwrap();
    assert!(s.peak_memory() <= CAP, "peak {}", s.peak_memory());
    eprintln!("writer: guest memory peak {:.1} MiB", s.peak_memory() as f64 / MIB as f64);
    let mut clean = open(t.config("")).await.unwrap();
    assert_eq!(sha256(&clean.get_bytes("big.bin").await.unwrap()), sha256(&data));
}
