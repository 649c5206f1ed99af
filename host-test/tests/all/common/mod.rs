//! What every integration test shares: the server to run against and fresh stores on it.
//!
//! By default each test starts its own embedded S3 server (s3s-fs, SigV4 checked). With
//! `S3_TEST_ENDPOINT`, `S3_TEST_ACCESS_KEY`, `S3_TEST_SECRET_KEY`, `S3_TEST_BUCKET` (and
//! optionally `S3_TEST_REGION`) set, every test runs against that server instead (Garage,
//! MinIO, AWS...), each under a key prefix of its own so runs never collide. With
//! `STORAGE_BACKEND=memory`, against the memory backend: tests of S3 itself (request
//! shapes, presigned URLs fetched over HTTP, faults in the wire) skip, saying so.

#![allow(dead_code)]

pub mod servers;

use std::sync::atomic::{AtomicU32, Ordering};

use host_test::testkit::s3_server::{self, EmbeddedS3};
use host_test::{Config, Error, Failure, HostOptions, Runtime, Storage};

pub struct Target {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
    pub region: String,
    /// Where this test's keys live (ends with `/`).
    pub root: String,
    pub server: Option<EmbeddedS3>,
}

impl Target {
    pub async fn new(test: &str) -> Target {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let run = format!("{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let root = format!("it-{}-{run}/{test}/", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
        if memory_backend() {
            return Target {
                endpoint: "memory://".into(),
                access_key: "memory".into(),
                secret_key: "memory".into(),
                bucket: "memory-bucket".into(),
                region: "us-east-1".into(),
                root,
                server: None,
            };
        }
        match std::env::var("S3_TEST_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => {
                let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("S3_TEST_ENDPOINT is set, so {name} must be too"));
                Target {
                    endpoint,
                    access_key: var("S3_TEST_ACCESS_KEY"),
                    secret_key: var("S3_TEST_SECRET_KEY"),
                    bucket: var("S3_TEST_BUCKET"),
                    region: std::env::var("S3_TEST_REGION").unwrap_or_else(|_| "us-east-1".into()),
                    root,
                    server: None,
                }
            }
            _ => {
                let server = EmbeddedS3::start().await.expect("starting the embedded S3 server");
                Target {
                    endpoint: server.endpoint.clone(),
                    access_key: s3_server::ACCESS_KEY.into(),
                    secret_key: s3_server::SECRET_KEY.into(),
                    bucket: s3_server::BUCKET.into(),
                    region: s3_server::REGION.into(),
                    root,
                    server: Some(server),
                }
            }
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.server.is_some()
    }

    /// A config for this target with the store prefix `root` + `prefix`.
    pub fn config(&self, prefix: &str) -> Config {
        let mut config = bare_config(&self.bucket);
        config.region = Some(self.region.clone());
        config.endpoint_url = Some(self.endpoint.clone());
        config.access_key_id = Some(self.access_key.clone());
        config.secret_access_key = Some(self.secret_key.clone());
        config.prefix = Some(format!("{}{prefix}", self.root));
        config
    }

    pub async fn store(&self, prefix: &str) -> Storage {
        open(self.config(prefix)).await.expect("opening the store")
    }
}

/// Sends `method` for `key` under the target's root like another S3 client would: signed
/// with aws-sigv4 here, carrying `headers` (all signed, as S3 requires of `x-amz-*`).
#[allow(dead_code)]
pub async fn foreign_request(t: &Target, method: &str, key: &str, headers: &[(&str, &str)], body: Vec<u8>) -> host_test::http_client::Reply {
    let url = format!("{}/{}/{}{}", t.endpoint.trim_end_matches('/'), t.bucket, t.root, key);
    signed_request(t, method, &url, headers, body).await
}

/// `method` to `url` on the target's server, signed with the target's key as any S3 client
/// would sign it: for what the storage API doesn't do (bucket settings).
pub async fn signed_request(t: &Target, method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> host_test::http_client::Reply {
    use aws_sigv4::http_request::{PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new(&t.access_key, &t.secret_key, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&t.region)
        .name("s3")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let authority = url.split('/').nth(2).unwrap().to_string();
    let mut all: Vec<(&str, &str)> = vec![("host", &authority)];
    all.extend_from_slice(headers);
    let signable = SignableRequest::new(method, url, all.iter().copied(), SignableBody::Bytes(&body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (signed, _) = instructions.into_parts();
    let signed: Vec<(String, String)> = signed.into_iter().map(|h| (h.name().to_string(), h.value().to_string())).collect();
    let mut send: Vec<(&str, &str)> = headers.to_vec();
    send.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    host_test::http_client::request(method, url, &send, body).await.unwrap()
}

/// What the host's sender saw of each request, in order.
pub type Log = std::sync::Arc<std::sync::Mutex<Vec<host_test::sender::Sent>>>;

/// A store on `config` whose requests are recorded (and suffer `fault`, if any).
pub async fn recorded(config: Config, fault: Option<host_test::sender::Fault>) -> (Storage, Log) {
    let log: Log = Log::default();
    let sink = log.clone();
    let host = HostOptions { fault, observer: Some(std::sync::Arc::new(move |s| sink.lock().unwrap().push(s))), ..Default::default() };
    (Storage::open(Runtime::shared().expect("loading the component"), &host, config).await.expect("opening the store"), log)
}

/// `app` composed with `plug` (`wac plug`) by the script users run, `examples/compose.sh`.
pub fn compose(app: &str, plug: &std::path::Path) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("composed.wasm");
    let status = std::process::Command::new(root.join("examples/compose.sh"))
        .arg(app)
        .arg(plug)
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running examples/compose.sh");
    assert!(status.success(), "examples/compose.sh failed");
    std::fs::read(&path).unwrap()
}

/// A bucket name no other test or run uses: `ws-WHAT-<time>-<pid>-<n>`.
pub fn unique_bucket(t: &Target, what: &str) -> String {
    format!("ws-{what}-{}", t.root.split('/').next().unwrap().trim_start_matches("it-"))
}

/// Whether `created` (what `create-bucket` answered) is success. False, after saying the
/// test skips, when a server other than the embedded one doesn't let this key create
/// buckets; any other failure fails the test.
pub fn bucket_created(t: &Target, created: Result<(), Failure>) -> bool {
    match created {
        Ok(()) => true,
        Err(Failure::Storage(Error::AccessDenied(e))) if !t.is_embedded() => {
            eprintln!("skipped: this server's key may not create buckets: {e:?}");
            false
        }
        Err(e) => panic!("{e:?}"),
    }
}

/// The suite runs against the memory backend (`STORAGE_BACKEND=memory`).
pub fn memory_backend() -> bool {
    std::env::var("STORAGE_BACKEND").as_deref() == Ok("memory")
}

/// True, after saying why, when the test is about S3 itself and the backend is memory.
pub fn skip_on_memory(why: &str) -> bool {
    if memory_backend() {
        eprintln!("skipped on the memory backend: {why}");
    }
    memory_backend()
}

pub fn bare_config(bucket: &str) -> Config {
    host_test::config_for(bucket)
}

pub async fn open(config: Config) -> Result<Storage, Failure> {
    Storage::open(Runtime::shared().expect("loading the component"), &HostOptions::default(), config).await
}

/// The component's typed error, failing the test on success or on a host failure.
pub fn storage_error<T: std::fmt::Debug>(result: Result<T, Failure>) -> Error {
    match result {
        Err(Failure::Storage(e)) => e,
        other => panic!("expected a storage error, got {other:?}"),
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// Pending multipart uploads (their ids), through ListMultipartUploads.
pub async fn pending_uploads(_t: &Target, s: &mut Storage) -> Vec<String> {
    s.pending_uploads("").await.unwrap().into_iter().map(|u| u.upload_id).collect()
}

pub async fn assert_no_pending_uploads(t: &Target, s: &mut Storage) {
    let left = pending_uploads(t, s).await;
    assert!(left.is_empty(), "pending multipart uploads left: {left:?}");
}

/// A server whose listing stalls once (fault injection: no network, every request is
/// answered here): the first page holds `{prefix}a` and a continuation token; the first
/// request for the next page answers with that same token (no progress) and `{prefix}x`;
/// the next one, `{prefix}b` and the end. Anything but a listing is refused (400).
pub fn listing_that_stalls_once(prefix: &str) -> host_test::sender::CannedReply {
    let prefix = prefix.to_string();
    let stalled = std::sync::atomic::AtomicBool::new(false);
    std::sync::Arc::new(move |parts: &http::request::Parts| {
        let query = parts.uri.query().unwrap_or("");
        let page = |key: &str, truncated: bool| {
            let token = if truncated { "<NextContinuationToken>t</NextContinuationToken>" } else { "" };
            format!(
                "<ListBucketResult><IsTruncated>{truncated}</IsTruncated>{token}<Contents><Key>{prefix}{key}</Key><Size>1</Size></Contents></ListBucketResult>"
            )
        };
        let body = match query {
            q if !q.contains("list-type=2") => return (400, vec![("content-length", "0".to_string())], Vec::new()),
            q if !q.contains("continuation-token=") => page("a", true),
            _ if !stalled.swap(true, Ordering::SeqCst) => page("x", true),
            _ => page("b", false),
        };
        (200, vec![("content-type", "application/xml".to_string()), ("content-length", body.len().to_string())], body.into_bytes())
    })
}

/// A TCP proxy on 127.0.0.1 in front of `endpoint`'s host and port that passes at most
/// `rate` bytes a second each way: a slow network, so that a transfer can be interrupted
/// halfway. Returns the endpoint to use instead (same scheme).
pub async fn slow_proxy(endpoint: &str, rate: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (scheme, authority) = endpoint.split_once("://").unwrap();
    let target = authority.trim_end_matches('/').to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&target).await else { continue };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            for (mut from, mut to) in [
                (
                    Box::new(client_read) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                    Box::new(server_write) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                ),
                (Box::new(server_read), Box::new(client_write)),
            ] {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; (rate / 20).max(1)];
                    while let Ok(n) = from.read(&mut buf).await {
                        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_secs_f64(n as f64 / rate as f64)).await;
                    }
                    let _ = to.shutdown().await;
                });
            }
        }
    });
    format!("{scheme}://{local}")
}

/// Holds whoever arrives until `n` have (or 5 s have passed), and counts the most that
/// waited together: how many requests were in flight at once.
#[derive(Clone)]
pub struct Barrier {
    n: usize,
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    all_here: std::sync::Arc<tokio::sync::Notify>,
}

impl Barrier {
    pub fn new(n: usize) -> Barrier {
        Barrier { n, waiting: Default::default(), most: Default::default(), all_here: Default::default() }
    }

    /// Counts in, then waits for the rest.
    pub async fn arrive(&self) {
        use std::sync::atomic::Ordering;
        // Listening before counting in: the last to arrive can't wake us too early.
        let notified = self.all_here.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        if now >= self.n {
            self.all_here.notify_waiters();
        } else {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), notified).await;
        }
    }

    /// The most that waited together.
    pub fn most(&self) -> usize {
        self.most.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A TCP proxy on 127.0.0.1 in front of `endpoint`'s host and port that forwards no
/// connection until `n` are open (a [`Barrier`]): the endpoint to use instead (same
/// scheme), and the barrier, which says how many connections waited together. With a new
/// connection per request, that is how many requests were in flight at once.
pub async fn barrier_proxy(endpoint: &str, n: usize) -> (String, Barrier) {
    let (scheme, authority) = endpoint.split_once("://").unwrap();
    let target = authority.trim_end_matches('/').to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let barrier = Barrier::new(n);
    let held = barrier.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (barrier, target) = (held.clone(), target.clone());
            tokio::spawn(async move {
                barrier.arrive().await;
                let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (format!("{scheme}://{local}"), barrier)
}
