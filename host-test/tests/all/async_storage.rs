//! The WASI 0.3 build's own capabilities, whatever backend the suite runs on (it runs the
//! whole suite itself with `STORAGE_BACKEND=p3`): many operations in flight on one instance,
//! streams both ways, and a checked stream whose future says whether the body was whole.

use host_test::{Error, HostOptions, Runtime, Storage};

use host_test::put_options as plain;

use crate::common::{self, Target, barrier_proxy, bytes, open};

/// A store on the 0.3 build.
async fn open_p3(config: host_test::Config, host: &HostOptions) -> Storage {
    Storage::open(Runtime::p3().unwrap(), host, config).await.unwrap()
}

/// 64 GETs from one call each, all in flight on one instance at once: a proxy in front of
/// the server forwards none until all 64 connections are open. (The 0.2 build runs them
/// one after another: its exports block.)
#[tokio::test(flavor = "multi_thread")]
async fn one_instance_has_many_operations_in_flight() {
    if common::skip_on_memory("it counts connections to an S3 server") {
        return;
    }
    let t = Target::new("p3-many").await;
    let mut clean = open(t.config("")).await.unwrap();
    let keys: Vec<String> = (0..64).map(|i| format!("many/{i}.bin")).collect();
    for (i, key) in keys.iter().enumerate() {
        clean.put(key, &bytes(1024, i as u64), &plain()).await.unwrap();
    }
    let (endpoint, barrier) = barrier_proxy(&t.endpoint, keys.len()).await;
    let mut config = t.config("");
    config.endpoint_url = Some(endpoint);
    let mut s = open_p3(config, &HostOptions::default()).await;
    let got = s.get_bytes_many(&keys).await.unwrap();
    for (i, body) in got.into_iter().enumerate() {
        assert_eq!(body.unwrap(), bytes(1024, i as u64), "{}", keys[i]);
    }
    assert_eq!(barrier.most(), keys.len(), "all 64 requests waited at the proxy together");
}

/// Uploads from several streams at once on one instance, each a multipart upload with its
/// parts in flight: every object whole.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_stream_uploads_on_one_instance_store_every_object_whole() {
    if common::skip_on_memory("the memory backend has no parts") {
        return;
    }
    let t = Target::new("p3-puts").await;
    let mut config = t.config("");
    config.part_size = Some(5 << 20);
    let mut s = open_p3(config, &HostOptions::default()).await;
    let items: Vec<(String, Vec<u8>)> = (0..4).map(|i| (format!("up/{i}.bin"), bytes(11 << 20, 40 + i as u64))).collect();
    let readers =
        items.iter().map(|(k, d)| (k.clone(), Box::new(std::io::Cursor::new(d.clone())) as Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>)).collect();
    let stored = s.put_stream_many(readers, &plain()).await.unwrap();
    let mut clean = open(t.config("")).await.unwrap();
    for ((key, data), file) in items.iter().zip(stored) {
        assert_eq!(file.unwrap().size, data.len() as u64);
        assert_eq!(clean.get_bytes(key).await.unwrap(), *data, "{key}");
    }
}

/// `checked-stream` carries the object's bytes and its future says `ok` once they passed
/// their checks; a damaged transfer's future says why not.
#[tokio::test(flavor = "multi_thread")]
async fn a_checked_stream_says_whether_the_body_was_whole() {
    if common::skip_on_memory("checksums of S3 transfers") {
        return;
    }
    let t = Target::new("p3-checked").await;
    let data = bytes(3 << 20, 9);
    let mut clean = open(t.config("")).await.unwrap();
    clean.put("k.bin", &data, &plain()).await.unwrap();
    let mut s = open_p3(t.config(""), &HostOptions::default()).await;
    let (got, verdict) = s.get_checked_stream("k.bin").await.unwrap();
    assert!(verdict.is_ok(), "{verdict:?}");
    assert!(got == data, "the stream carried other bytes");
    // One bit flipped on the way, the length unchanged: only the checksum can tell.
    let host = HostOptions {
        fault: Some(host_test::sender::Fault::Random { seed: 3, percent: 100, kind: host_test::sender::Mischief::FlippedBit }),
        ..Default::default()
    };
    let mut damaged = open_p3(t.config(""), &host).await;
    let (got, verdict) = damaged.get_checked_stream("k.bin").await.unwrap();
    // Its last byte held back for the verdict: the stream ended short.
    assert!(got.len() < data.len(), "a damaged stream carried all {} bytes", got.len());
    match verdict {
        Err(Error::Transport(m)) => assert!(m.contains("does not match"), "{m}"),
        other => panic!("expected the damage reported, got {other:?}"),
    }
}
