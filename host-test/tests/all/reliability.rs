//! Retries and timeouts, with faults injected by the host's send hook (`Fault`) in front
//! of the real server: what is worth another attempt gets one, with backoff, up to
//! `max-attempts`; what isn't fails at once; errors say how many attempts were made.

use crate::common;
use common::servers::Capability;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Target, bytes};
use host_test::sender::{Fault, Sent};
use host_test::{Config, Error, Failure, HostOptions, PutOptions, Runtime, Storage};

type Log = Arc<Mutex<Vec<Sent>>>;

async fn faulty(config: Config, fault: Fault) -> (Storage, Log) {
    let log: Log = Arc::default();
    let sink = log.clone();
    let host = HostOptions { fault: Some(fault), observer: Some(Arc::new(move |s| sink.lock().unwrap().push(s))), ..Default::default() };
    (Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap(), log)
}

/// Quick retries, so tests don't wait out production backoff.
fn quick(t: &Target, prefix: &str) -> Config {
    let mut c = t.config(prefix);
    c.retry_base_delay_ms = Some(1);
    c.retry_max_delay_ms = Some(20);
    c
}

fn plain() -> PutOptions {
    PutOptions { content_type: None, metadata: vec![], size: None, condition: None, attributes: host_test::no_attributes(), tags: Vec::new() }
}

fn statuses(log: &Log, method: &str) -> Vec<Option<u16>> {
    log.lock().unwrap().iter().filter(|s| s.method == method).map(|s| s.status).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_storm_shorter_than_the_attempts_is_ridden_out() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("storm-short").await;
    let (mut s, log) = faulty(quick(&t, ""), Fault::Status { status: 503, code: "SlowDown", times: 2, matching: "" }).await;
    s.put("k", b"survived", &plain()).await.unwrap();
    assert_eq!(statuses(&log, "PUT"), [Some(503), Some(503), Some(200)]);
    assert_eq!(s.get_bytes("k").await.unwrap(), b"survived");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_longer_than_the_attempts_fails_saying_so() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("storm-long").await;
    let (mut s, log) = faulty(quick(&t, ""), Fault::Status { status: 500, code: "InternalError", times: 100, matching: "" }).await;
    match s.put("k", b"x", &plain()).await {
        Err(Failure::Storage(Error::Service(e))) => {
            assert_eq!((e.status, e.code.as_str()), (500, "InternalError"));
            assert!(e.message.ends_with("(after 3 attempts)"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(statuses(&log, "PUT").len(), 3, "the default max-attempts");
    let mut clean = common::open(t.config("")).await.unwrap();
    assert!(!clean.exists("k").await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_never_retried() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("client-error").await;
    let (mut s, log) = faulty(quick(&t, ""), Fault::Status { status: 400, code: "InvalidArgument", times: 100, matching: "" }).await;
    match s.put("k", b"x", &plain()).await {
        Err(Failure::Storage(Error::Service(e))) => assert!(e.code == "InvalidArgument" && !e.message.contains("attempts"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(statuses(&log, "PUT"), [Some(400)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_connections_are_retried() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("refused").await;
    let (mut s, log) = faulty(quick(&t, ""), Fault::Refuse { times: 2 }).await;
    s.put("k", b"x", &plain()).await.unwrap();
    assert_eq!(statuses(&log, "PUT"), [None, None, Some(200)]);

    // With retries off, the first refusal is the answer.
    let mut once = quick(&t, "");
    once.max_attempts = Some(1);
    let (mut s, _) = faulty(once, Fault::Refuse { times: 1 }).await;
    match s.put("k", b"x", &plain()).await {
        Err(Failure::Storage(Error::Transport(m))) => assert!(m.contains("refused") && !m.contains("attempts"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_part_is_retried_alone() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("part-retry").await;
    let mut config = quick(&t, "");
    config.part_size = Some(5 << 20);
    let (mut s, log) = faulty(config, Fault::Status { status: 500, code: "InternalError", times: 2, matching: "partNumber=2&" }).await;
    let data = bytes((12 << 20) + 3, 77);
    s.put_stream("big", std::io::Cursor::new(data.clone()), &plain()).await.unwrap();
    let parts: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r.uri.query()?.split('&').next()?.to_string(), r.status)))
        .filter(|(q, _)| q.starts_with("partNumber="))
        .collect();
    let part = |n: &str| parts.iter().filter(|(q, _)| q == n).map(|(_, s)| *s).collect::<Vec<_>>();
    assert_eq!(part("partNumber=1"), [Some(200)]);
    assert_eq!(part("partNumber=2"), [Some(500), Some(500), Some(200)]);
    assert_eq!(part("partNumber=3"), [Some(200)]);
    assert_eq!(common::sha256(&s.get_bytes("big").await.unwrap()), common::sha256(&data));

    // A part that keeps failing fails the upload, which is aborted: nothing remains.
    let mut config = quick(&t, "");
    config.part_size = Some(5 << 20);
    let (mut s, _) = faulty(config, Fault::Status { status: 503, code: "SlowDown", times: 100, matching: "partNumber=2&" }).await;
    match s.put_stream("doomed", std::io::Cursor::new(data), &plain()).await {
        Err(Failure::Storage(Error::Service(e))) => assert!(e.code == "SlowDown" && e.message.ends_with("(after 3 attempts)"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    let mut clean = common::open(t.config("")).await.unwrap();
    assert!(!clean.exists("doomed").await.unwrap());
    common::assert_no_pending_uploads(&t, &mut clean).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_slower_than_the_first_byte_timeout_times_out() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("slow").await;
    let mut config = quick(&t, "");
    config.first_byte_timeout_ms = Some(100);
    config.max_attempts = Some(2);
    let (mut s, log) = faulty(config, Fault::Delay(Duration::from_secs(5))).await;
    let started = std::time::Instant::now();
    match s.put("k", b"x", &plain()).await {
        Err(Failure::Storage(Error::Transport(m))) => assert!(m.contains("timed out") && m.ends_with("(after 2 attempts)"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the timeout, not the delay, ended it: {:?}", started.elapsed());
    assert_eq!(statuses(&log, "PUT"), [None, None]);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_and_timeout_settings_are_checked() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("retry-config").await;
    for (why, edit) in [
        ("max-attempts", Box::new(|c: &mut Config| c.max_attempts = Some(0)) as Box<dyn Fn(&mut Config)>),
        ("max-attempts", Box::new(|c: &mut Config| c.max_attempts = Some(11))),
        ("retry-base-delay-ms", Box::new(|c: &mut Config| c.retry_base_delay_ms = Some(30_000))),
        ("connect-timeout-ms", Box::new(|c: &mut Config| c.connect_timeout_ms = Some(0))),
    ] {
        let mut c = t.config("");
        edit(&mut c);
        match common::open(c).await {
            Err(Failure::Storage(Error::InvalidConfig(m))) => assert!(m.contains(why), "{m}"),
            other => panic!("{why}: {other:?}"),
        }
    }
}

/// The answer to CompleteMultipartUpload is lost after the server completed the upload:
/// the retry finds no such upload, and the component checks the object is there, whole,
/// instead of reporting a failure.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_complete_is_not_a_failure() {
    if common::skip_on_memory("retries and timeouts of S3 requests") {
        return;
    }
    let t = Target::new("lost-complete").await;
    let mut config = quick(&t, "");
    config.part_size = Some(5 << 20);
    let (mut s, log) = faulty(config, Fault::BreakOnce("?uploadId=")).await;
    let data = bytes((11 << 20) + 5, 99);
    let stored = s.put_stream("big", std::io::Cursor::new(data.clone()), &plain()).await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    let completes: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST" && r.uri.query().is_some_and(|q| q.starts_with("uploadId=")))
        .map(|r| (r.status, r.damaged))
        .collect();
    assert_eq!(completes.len(), 2, "{completes:?}");
    assert_eq!(completes[0], (Some(200), true));
    assert_eq!(common::sha256(&s.get_bytes("big").await.unwrap()), common::sha256(&data));
}

/// CreateBucket and DeleteBucket whose answers are lost: the retry finds the bucket already
/// made (`BucketAlreadyOwnedByYou`) or already gone (`NoSuchBucket`), which is success.
#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_to_bucket_requests_are_not_failures() {
    if common::skip_on_memory("retries of S3 requests") {
        return;
    }
    let t = Target::new("lost-bucket").await;
    let mut config = quick(&t, "");
    let name = common::unique_bucket(&t, "lost");
    config.bucket = name.clone();
    let leaked: &'static str = name.leak();
    let (mut s, log) = faulty(config.clone(), Fault::LoseAnswerOnce(leaked)).await;
    if !common::bucket_created(&t, s.create_bucket().await) {
        return;
    }
    if common::servers::lacks(Capability::RefusesRecreatingOwnedBuckets).is_some() {
        assert_eq!(statuses(&log, "PUT"), vec![None, Some(200)], "the first answer lost, the retry re-created it");
    } else {
        assert_eq!(statuses(&log, "PUT"), vec![None, Some(409)], "the first answer lost, the retry told it exists");
        // Without a retry, an existing bucket is still `already-exists`.
        assert!(matches!(common::storage_error(s.create_bucket().await), Error::AlreadyExists(_)));
    }

    let (mut s, log) = faulty(config, Fault::LoseAnswerOnce(leaked)).await;
    s.delete_bucket().await.unwrap();
    assert_eq!(statuses(&log, "DELETE"), vec![None, Some(404)], "the first answer lost, the retry told it is gone");
    match common::storage_error(s.delete_bucket().await) {
        Error::Service(e) => assert_eq!(e.code, "NoSuchBucket"),
        other => panic!("{other:?}"),
    }
}

/// A listing whose server stops making progress fails; asked again, it asks for the same
/// page, so a server that recovers loses no key, and a listing is never cut short as if
/// it had ended.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_listing_fails_and_resumes_where_it_stopped() {
    if common::skip_on_memory("S3 listings") {
        return;
    }
    let host = HostOptions { canned: Some(common::listing_that_stalls_once("")), ..Default::default() };
    let mut config = common::bare_config("bucket");
    (config.endpoint_url, config.access_key_id, config.secret_access_key) = (Some("http://127.0.0.1:9".into()), Some("AKID".into()), Some("secret".into()));
    let mut s = Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap();
    let answers = s.next_pages("", 4).await.unwrap();
    assert_eq!(answers[0].as_ref().unwrap(), &Some(vec!["a".to_string()]));
    match &answers[1] {
        Err(Failure::Storage(Error::Transport(why))) => assert!(why.contains("without progress"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(answers[2].as_ref().unwrap(), &Some(vec!["b".to_string()]), "the page after the stall, not the end");
    assert_eq!(answers[3].as_ref().unwrap(), &None);
}

/// A 200 whose body is an S3 `<Error>` (CopyObject and CompleteMultipartUpload fail so
/// after they started answering) is that error, and one worth retrying is retried.
#[tokio::test(flavor = "multi_thread")]
async fn an_error_inside_a_200_is_retried_like_any_other() {
    if common::skip_on_memory("retries of S3 requests") {
        return;
    }
    let t = Target::new("error-in-200").await;
    let fault = Fault::AnswerOnce { method: "PUT", matching: "copied", status: 200, code: "InternalError", message: "We encountered an internal error." };
    let (mut s, log) = faulty(quick(&t, ""), fault).await;
    s.put("original", b"data", &plain()).await.unwrap();
    s.copy("original", "copied").await.unwrap();
    assert_eq!(s.get_bytes("copied").await.unwrap(), b"data");
    let copies = log.lock().unwrap().iter().filter(|r| r.method == "PUT" && r.headers.contains_key("x-amz-copy-source")).count();
    assert_eq!(copies, 2, "the copy answered 200 + InternalError was sent again");

    let mut config = quick(&t, "");
    config.part_size = Some(5 << 20);
    let fault = Fault::AnswerOnce { method: "POST", matching: "uploadId=", status: 200, code: "SlowDown", message: "Please reduce your request rate." };
    let (mut s, log) = faulty(config, fault).await;
    let data = bytes(11 << 20, 41);
    s.put_stream("multipart", std::io::Cursor::new(data.clone()), &plain()).await.unwrap();
    assert_eq!(common::sha256(&s.get_bytes("multipart").await.unwrap()), common::sha256(&data));
    assert_eq!(statuses(&log, "POST").len(), 3, "create, then complete twice");

    // Not worth another attempt: the error at once.
    let fault = Fault::AnswerOnce { method: "PUT", matching: "denied", status: 200, code: "AccessDenied", message: "no" };
    let (mut s, _) = faulty(quick(&t, ""), fault).await;
    assert!(matches!(common::storage_error(s.copy("original", "denied").await), Error::AccessDenied(e) if e.status == 200));
}

/// Whether a request was sent again is counted, never read back from an error's text: a
/// server whose message looks like our "(after N attempts)" fakes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn retry_counts_are_data_not_text() {
    if common::skip_on_memory("retries of S3 requests") {
        return;
    }
    let t = Target::new("retry-text").await;
    let fault = Fault::AnswerOnce { method: "PUT", matching: "", status: 409, code: "BucketAlreadyOwnedByYou", message: "Yours already (after 2 attempts)" };
    let (mut s, log) = faulty(quick(&t, ""), fault).await;
    assert!(matches!(common::storage_error(s.create_bucket().await), Error::AlreadyExists(_)));
    assert_eq!(statuses(&log, "PUT"), vec![Some(409)], "one attempt");
}

/// A canned ListObjectsV2 server: `page(token)` gives the keys and the next token of the
/// page asked for with `token` (`None`: the first page).
fn lister(page: impl Fn(Option<&str>) -> (Vec<String>, Option<String>) + Send + Sync + 'static) -> host_test::sender::CannedReply {
    Arc::new(move |parts: &http::request::Parts| {
        let query = parts.uri.query().unwrap_or("");
        let token = query.split('&').find_map(|p| p.strip_prefix("continuation-token="));
        let (keys, next) = page(token);
        let contents: String = keys.iter().map(|k| format!("<Contents><Key>{k}</Key><Size>1</Size></Contents>")).collect();
        let body = match next {
            Some(next) => {
                format!("<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>{next}</NextContinuationToken>{contents}</ListBucketResult>")
            }
            None => format!("<ListBucketResult><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"),
        };
        (200, vec![("content-type", "application/xml".to_string()), ("content-length", body.len().to_string())], body.into_bytes())
    })
}

async fn canned_store(canned: host_test::sender::CannedReply) -> Storage {
    let host = HostOptions { canned: Some(canned), ..Default::default() };
    let mut config = common::bare_config("bucket");
    (config.endpoint_url, config.access_key_id, config.secret_access_key) = (Some("http://127.0.0.1:9".into()), Some("AKID".into()), Some("secret".into()));
    Storage::open(Runtime::shared().unwrap(), &host, config).await.unwrap()
}

/// A server whose continuation tokens go round in a loop (A, B, A, B, ...; or longer)
/// makes the listing fail after a bounded number of pages, never run forever.
#[tokio::test(flavor = "multi_thread")]
async fn listings_whose_tokens_go_round_in_a_loop_end_with_an_error() {
    if common::skip_on_memory("S3 listings") {
        return;
    }
    for cycle in [2usize, 3, 17] {
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = asked.clone();
        let mut s = canned_store(lister(move |token| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let n: usize = token.map_or(0, |t| t.trim_start_matches('t').parse().unwrap());
            (vec![format!("key-{n}")], Some(format!("t{}", (n + 1) % cycle)))
        }))
        .await;
        match s.list("", None).await {
            Err(Failure::Storage(Error::Transport(why))) => assert!(why.contains("loop"), "{why}"),
            other => panic!("cycle of {cycle}: {other:?}"),
        }
        let pages = asked.load(std::sync::atomic::Ordering::Relaxed);
        assert!(pages <= 3 * cycle + 2, "cycle of {cycle} caught only after {pages} pages");
    }
}

/// ListMultipartUploads likewise: markers that go round end in an error.
#[tokio::test(flavor = "multi_thread")]
async fn pending_upload_listings_that_go_round_end_with_an_error() {
    if common::skip_on_memory("S3 listings") {
        return;
    }
    let mut s = canned_store(Arc::new(|parts: &http::request::Parts| {
        let query = parts.uri.query().unwrap_or("");
        let at = query.split('&').find_map(|p| p.strip_prefix("key-marker=")).unwrap_or("b");
        let next = if at == "a" { "b" } else { "a" };
        let body = format!("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>{next}</NextKeyMarker><NextUploadIdMarker>u-{next}</NextUploadIdMarker><Upload><Key>{next}</Key><UploadId>u-{next}</UploadId></Upload></ListMultipartUploadsResult>");
        (200, vec![("content-type", "application/xml"), ("content-length", &*body.len().to_string())].into_iter().map(|(k, v)| (k, v.to_string())).collect(), body.into_bytes())
    }))
    .await;
    match s.pending_uploads("").await {
        Err(Failure::Storage(Error::Transport(why))) => assert!(why.contains("loop"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// Keys a server lists are held to the rules the caller's are: one that would escape the
/// store's prefix (`../../etc/passwd`, `a//b`, a control character) is an error, never
/// handed on; a folder marker (`dir/`) is no file and is passed over.
#[tokio::test(flavor = "multi_thread")]
async fn keys_a_server_lists_are_checked_like_the_callers() {
    if common::skip_on_memory("S3 listings") {
        return;
    }
    let mut s = canned_store(lister(|_| (vec!["dir/".into(), "fine".into()], None))).await;
    assert_eq!(s.list("", None).await.unwrap().into_iter().map(|f| f.key).collect::<Vec<_>>(), ["fine"]);
    for hostile in ["../../etc/passwd", "a//b", "a/./b", "/abs", "\u{FF0E}\u{FF0E}/x", "ctl\u{1b}[2J"] {
        let mut s = canned_store(lister(move |_| (vec!["fine".into(), hostile.to_string()], None))).await;
        match s.list("", None).await {
            Err(Failure::Storage(Error::Transport(why))) => {
                assert!(why.contains("not a valid key"), "{hostile}: {why}");
                assert!(!why.contains('\u{1b}'), "{why:?}");
            }
            other => panic!("{hostile}: {other:?}"),
        }
    }
}
