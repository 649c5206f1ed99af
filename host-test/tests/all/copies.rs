//! Copies past `copy-part-size` (5 GiB by default, CopyObject's limit; 5 MiB here): a
//! multipart copy done by the server, range by range, whatever the object's content type,
//! metadata and attributes, and aborted on any failure. A copy of a real object over 5 GiB
//! runs against Garage with `S3_TEST_HUGE_COPY=1`.

use crate::common::{self, Log, Target, assert_no_pending_uploads, bytes, sha256, storage_error};
use host_test::sender::Fault;
use host_test::{Attributes, CopyOptions, Error, PutOptions, Replacement};

const MIB: usize = 1 << 20;

fn described() -> PutOptions {
    PutOptions {
        content_type: Some("video/mp4".into()),
        metadata: vec![("original-name".into(), "clip.mp4".into())],
        attributes: Attributes { cache_control: Some("max-age=60".into()), ..host_test::no_attributes() },
        ..host_test::put_options()
    }
}

/// The UploadPartCopy requests the log holds: their part numbers, source ranges and
/// whether each named the source's ETag.
fn part_copies(log: &Log) -> Vec<(String, String, bool)> {
    let log = log.lock().unwrap();
    let mut parts: Vec<(String, String, bool)> = log
        .iter()
        .filter(|s| s.method == "PUT" && s.headers.contains_key("x-amz-copy-source-range"))
        .map(|s| {
            let number = s.uri.query().unwrap_or("").split('&').find_map(|p| p.strip_prefix("partNumber=")).unwrap_or("").to_string();
            let range = s.headers["x-amz-copy-source-range"].to_str().unwrap().to_string();
            (number, range, s.headers.contains_key("x-amz-copy-source-if-match"))
        })
        .collect();
    parts.sort();
    parts.dedup();
    parts
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_past_the_copy_part_size_are_copied_in_parts_by_the_server() {
    if common::skip_on_memory("the memory backend copies in memory, whatever the size") {
        return;
    }
    let t = Target::new("copy-parts").await;
    let mut config = t.config("");
    config.copy_part_size = Some(5 * MIB as u64);
    config.max_pool_connections = Some(2);
    let data = bytes(12 * MIB + 3, 21);
    let mut s = common::open(config.clone()).await.unwrap();
    s.put_stream("clip.mp4", std::io::Cursor::new(data.clone()), &described()).await.unwrap();

    let (mut copier, log) = common::recorded(config.clone(), None).await;
    let copied = copier.copy("clip.mp4", "copy.mp4").await.unwrap();
    let whole = 5 * MIB;
    assert_eq!(
        part_copies(&log),
        [
            ("1".to_string(), format!("bytes=0-{}", whole - 1), true),
            ("2".to_string(), format!("bytes={whole}-{}", 2 * whole - 1), true),
            ("3".to_string(), format!("bytes={}-{}", 2 * whole, data.len() - 1), true),
        ]
    );
    // No object bytes went through the component: every request body was empty or XML.
    let uploaded: u64 = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "PUT")
        .filter_map(|s| s.headers.get("content-length"))
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(uploaded, 0);
    assert_eq!((copied.size, copied.content_type.as_deref()), (data.len() as u64, Some("video/mp4")));
    let info = s.info("copy.mp4").await.unwrap();
    assert_eq!(info.metadata, [("original-name".to_string(), "clip.mp4".to_string())]);
    assert_eq!((info.content_type.as_deref(), info.attributes.cache_control.as_deref()), (Some("video/mp4"), Some("max-age=60")));
    assert!(info.etag.as_deref().is_some_and(|e| e.trim_matches('"').ends_with("-3")), "a multipart ETag: {:?}", info.etag);
    assert_eq!(sha256(&s.get_bytes("copy.mp4").await.unwrap()), sha256(&data));
    // Onto itself, unchanged: nothing is copied, whatever the size.
    let before = part_copies(&log).len();
    let same = copier.copy("copy.mp4", "copy.mp4").await.unwrap();
    assert_eq!((part_copies(&log).len(), same.etag.as_deref()), (before, info.etag.as_deref()));

    // Replaced instead of kept; a move leaves no source.
    let replace =
        Replacement { content_type: Some("application/octet-stream".into()), metadata: vec![], attributes: host_test::no_attributes(), tags: Vec::new() };
    let replaced = s.copy_with("clip.mp4", "raw.bin", &CopyOptions { replace: Some(replace) }).await.unwrap();
    assert_eq!((replaced.content_type.as_deref(), replaced.metadata.len()), (Some("application/octet-stream"), 0));
    let info = s.info("raw.bin").await.unwrap();
    assert_eq!((info.metadata.len(), info.attributes.cache_control), (0, None));
    s.move_("copy.mp4", "moved.mp4").await.unwrap();
    assert!(!s.exists("copy.mp4").await.unwrap());
    assert_eq!(sha256(&s.get_bytes("moved.mp4").await.unwrap()), sha256(&data));
    assert_no_pending_uploads(&t, &mut s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_copy_that_fails_aborts_the_copy_and_a_passing_fault_is_retried() {
    if common::skip_on_memory("faults are injected into wasi:http requests") {
        return;
    }
    let t = Target::new("copy-parts-fail").await;
    let mut config = t.config("");
    config.copy_part_size = Some(5 * MIB as u64);
    config.retry_base_delay_ms = Some(1);
    let data = bytes(11 * MIB, 22);
    let mut s = common::open(config.clone()).await.unwrap();
    s.put("src.bin", &data, &host_test::put_options()).await.unwrap();

    // Refused: not retried; the upload is aborted, nothing appears.
    let refuse = Fault::Status { status: 403, code: "AccessDenied", times: 1, matching: "partNumber=2" };
    let (mut failing, _) = common::recorded(config.clone(), Some(refuse)).await;
    assert!(matches!(storage_error(failing.copy("src.bin", "dst.bin").await), Error::AccessDenied(_)));
    assert!(!s.exists("dst.bin").await.unwrap());
    assert_no_pending_uploads(&t, &mut s).await;

    // A 503, and a 200 that turns out an error: each part retried on its own.
    for fault in [
        Fault::Status { status: 503, code: "SlowDown", times: 1, matching: "partNumber=3" },
        Fault::AnswerOnce { method: "PUT", matching: "partNumber=1", status: 200, code: "InternalError", message: "copy failed after it began" },
    ] {
        let (mut flaky, _) = common::recorded(config.clone(), Some(fault)).await;
        flaky.copy("src.bin", "dst.bin").await.unwrap();
        assert_eq!(sha256(&s.get_bytes("dst.bin").await.unwrap()), sha256(&data), "{fault:?}");
    }
    assert_no_pending_uploads(&t, &mut s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn small_copies_name_the_source_etag_and_keep_its_storage_class() {
    if common::skip_on_memory("request shapes are S3's") {
        return;
    }
    let t = Target::new("copy-small").await;
    let (mut s, log) = common::recorded(t.config(""), None).await;
    s.put("a.txt", b"a", &described()).await.unwrap();
    let etag = s.info("a.txt").await.unwrap().etag.unwrap();
    let copied = s.copy("a.txt", "b.txt").await.unwrap();
    assert_eq!((copied.size, copied.content_type.as_deref(), copied.metadata.len()), (1, Some("video/mp4"), 1));
    assert!(copied.etag.is_some() && copied.last_modified.is_some(), "{copied:?}");
    let log = log.lock().unwrap();
    let copy = log.iter().find(|s| s.method == "PUT" && s.headers.contains_key("x-amz-copy-source")).unwrap();
    assert_eq!(copy.headers["x-amz-copy-source-if-match"].to_str().unwrap(), etag);
    assert_eq!(copy.headers["x-amz-metadata-directive"].to_str().unwrap(), "COPY");
}

/// A real object over 5 GiB, copied on the server: what CopyObject can't do.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_over_5_gib_is_copied() {
    if std::env::var("S3_TEST_HUGE_COPY").as_deref() != Ok("1") {
        eprintln!("skipped: set S3_TEST_HUGE_COPY=1 to upload and copy a 5.1 GiB object (minutes; ~11 GB of disk on the server)");
        return;
    }
    let t = Target::new("copy-huge").await;
    let mut config = t.config("");
    config.part_size = Some(64 << 20);
    config.upload_checksum = Some(host_test::UploadChecksum::None);
    let mut s = common::open(config).await.unwrap();
    let size: u64 = (5 << 30) + (100 << 20);
    // A stream of `size` bytes made on the fly: the host never holds it.
    let source = tokio::io::AsyncReadExt::take(tokio::io::repeat(0x5a), size);
    let started = std::time::Instant::now();
    s.put_stream("huge.bin", source, &described()).await.unwrap();
    eprintln!("uploaded {size} bytes in {:.1} s", started.elapsed().as_secs_f64());
    let started = std::time::Instant::now();
    let copied = s.copy("huge.bin", "huge-copy.bin").await.unwrap();
    eprintln!("copied in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(copied.size, size);
    let info = s.info("huge-copy.bin").await.unwrap();
    assert_eq!((info.size, info.content_type.as_deref()), (size, Some("video/mp4")));
    // The last bytes arrived where they belong.
    let (_, span) = s
        .get_range("huge-copy.bin", Some(host_test::ByteRange::Last(1 << 20)), |c| {
            assert!(c.iter().all(|b| *b == 0x5a));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(span.map(|s| s.end), Some(size));
    s.delete_many(&["huge.bin".into(), "huge-copy.bin".into()]).await.unwrap();
}
