//! How the host sends the component's outgoing requests.
//!
//! - TLS policy: wasi:http gives the guest no say over certificates, so a store's
//!   `verify-ssl = false` is carried out here: with `HostOptions::insecure_tls` the host
//!   accepts any certificate for https requests.
//! - Keep-alive: with `HostOptions::connection_pool`, plain-http requests go through a
//!   pool of reused connections (TCP_NODELAY on) instead of one new connection each.
//! - Canned replies, for benchmarks that measure the component alone (signing, request
//!   building, XML) with the network taken out, and for request-shape tests.
//! - An observer told of every request: request-shape checks in tests, timings in the bench.
//! - A stop signal (an interrupted CLI transfer): from then on no more data leaves. Requests
//!   that carry a body are refused, and those still sending theirs are cut off (the server
//!   never gets a whole body, so it stores nothing); one whose body has all gone waits for
//!   its answer, so what the component reports is what the server did. Bodiless requests
//!   (a DELETE that cleans up) still go, so the component can abort what it started.
//! - Faults (`Fault`), in front of the real server: damaged request bodies, error storms,
//!   refused connections, slow answers, broken or hostile response bodies — fixed or at
//!   random from a seed — to prove the component and the server catch them. Never to fake
//!   a success.
//!
//! Everything else goes through wasmtime-wasi-http's default sender.

use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), Error>;

/// A reply the host gives instead of sending: status, headers, body.
pub type CannedReply = Arc<dyn Fn(&http::request::Parts) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync>;

/// A request the component sent, as the host saw it, and how it went.
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    /// Until the response's head arrived (or the send failed).
    pub took: std::time::Duration,
    /// `None`: no response.
    pub status: Option<u16>,
    /// The host damaged the response (`Fault::Random`) after the server sent it.
    pub damaged: bool,
}

/// Told of every request once its response head arrives (request-shape checks, timings).
pub type Observer = Arc<dyn Fn(Sent) + Send + Sync>;

/// What a randomly chosen request suffers under `Fault::Random`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mischief {
    /// `503 SlowDown`, and `500 InternalError` every other time: a storm.
    ServerErrors,
    /// The connection is refused.
    Refused,
    /// The response's body breaks off halfway (a reset, or a body shorter than its
    /// Content-Length: the host's HTTP client reports either as an error).
    BrokenBody,
    /// An XML response is replaced with hostile XML: deeply nested, huge, wrongly
    /// encoded, or not XML at all.
    HostileXml,
    /// The response takes longer than any sensible first-byte timeout.
    Slow,
    /// A response body disagrees with its Content-Length while the transfer looks fine:
    /// it ends early without an error, or the header says more or fewer bytes than come.
    /// (The host's HTTP client frames bodies by Content-Length; a host, proxy or runtime
    /// that doesn't is what this plays.)
    WrongLength,
    /// One bit of an object's bytes flips on the way, the length unchanged: only a
    /// checksum can tell.
    FlippedBit,
}

/// Damage done to requests on their way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Flip one bit of the first byte of every request body, as a bad link might.
    CorruptBody,
    /// Answer the first request whose path and query contain this text with S3's
    /// `400 ExpiredToken`, as a server does when temporary credentials are revoked;
    /// send everything else.
    ExpiredTokenOnce(&'static str),
    /// Answer the first `times` requests whose path and query contain `matching` with
    /// `status` and an S3 error document of `code` (and `Retry-After: 0`); send the rest.
    Status { status: u16, code: &'static str, times: usize, matching: &'static str },
    /// Answer the first `method` request whose path and query contain `matching` with
    /// `status` and an S3 error document of `code` and `message`, without sending it; send
    /// the rest. (A 200 with an `<Error>` is how CopyObject and CompleteMultipartUpload
    /// fail once they have started answering.)
    AnswerOnce { method: &'static str, matching: &'static str, status: u16, code: &'static str, message: &'static str },
    /// Fail the first `times` requests as if the connection were refused.
    Refuse { times: usize },
    /// Break off the body of the answer to the first request whose path and query contain
    /// this text, after the server has done the work.
    BreakOnce(&'static str),
    /// Send the first request whose path and query contain this text, let the server do the
    /// work, then lose its answer: the connection fails as if reset before the reply.
    LoseAnswerOnce(&'static str),
    /// Each request, independently with probability `percent`%, suffers `kind`; the
    /// choices follow `seed`, so a failing run can be replayed.
    Random { seed: u64, percent: u8, kind: Mischief },
    /// Hold every request this long before sending it (the guest's first-byte timeout
    /// still applies, as the host's sender would apply it).
    Delay(std::time::Duration),
}

/// Turns true when the host is stopping (see the module's docs).
pub type Stop = tokio::sync::watch::Receiver<bool>;

pub struct Hooks {
    pub insecure: bool,
    pub stop: Option<Stop>,
    pub canned: Option<CannedReply>,
    pub pool: Option<Pool>,
    pub observer: Option<Observer>,
    pub fault: Option<Fault>,
    /// Requests the fault has hit so far.
    pub fault_hits: usize,
}

type PooledClient = hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, WasiBody>;

/// Reused connections for plain-http requests.
#[derive(Clone)]
pub struct Pool(PooledClient);

impl Pool {
    /// Keeps up to `max_idle` idle connections per server.
    pub fn new(max_idle: usize) -> Self {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).pool_max_idle_per_host(max_idle).build(connector);
        Pool(client)
    }

    async fn send(&self, request: http::Request<WasiBody>, options: Option<RequestOptions>) -> SendResult {
        // The limits wasmtime's own sender applies (600 s unless the guest set them). The
        // pool connects inside `request`, so the connect timeout adds to the first byte's.
        let first_byte = options.and_then(|o| o.first_byte_timeout).unwrap_or(std::time::Duration::from_secs(600));
        let limit = first_byte + options.and_then(|o| o.connect_timeout).unwrap_or_default();
        let response = tokio::time::timeout(limit, self.0.request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(|e| Error::InternalError(Some(error_chain(&e))))?;
        Ok((response.map(|body| body.map_err(Error::Hyper).boxed_unsync()), Box::new(async { Ok(()) }) as IoFuture))
    }
}

impl WasiHttpHooks for Hooks {
    fn send_request(&mut self, request: http::Request<WasiBody>, options: Option<RequestOptions>, _fut: IoFuture) -> Box<dyn Future<Output = SendResult> + Send> {
        let insecure = self.insecure && request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let canned = self.canned.clone();
        let pool = self.pool.clone().filter(|_| request.uri().scheme() == Some(&http::uri::Scheme::HTTP));
        let mut canned = canned;
        let mut refuse = false;
        let mut delay = None;
        let mut damage: Option<Damage> = None;
        let mut lose = false;
        let matches = |text: &str| request.uri().path_and_query().is_some_and(|p| p.as_str().contains(text));
        let request = match self.fault {
            Some(Fault::CorruptBody) => corrupt_body(request),
            Some(Fault::ExpiredTokenOnce(text)) if self.fault_hits == 0 && matches(text) => {
                self.fault_hits += 1;
                canned = Some(s3_error(400, "ExpiredToken", "The provided token has expired."));
                request
            }
            Some(Fault::Status { status, code, times, matching }) if self.fault_hits < times && matches(matching) => {
                self.fault_hits += 1;
                canned = Some(s3_error(status, code, "injected by the host"));
                request
            }
            Some(Fault::AnswerOnce { method, matching, status, code, message }) if self.fault_hits == 0 && request.method().as_str() == method && matches(matching) => {
                self.fault_hits += 1;
                canned = Some(s3_error(status, code, message));
                request
            }
            Some(Fault::Refuse { times }) if self.fault_hits < times => {
                self.fault_hits += 1;
                refuse = true;
                request
            }
            Some(Fault::Delay(d)) => {
                delay = Some(d);
                request
            }
            Some(Fault::LoseAnswerOnce(text)) if self.fault_hits == 0 && matches(text) => {
                self.fault_hits += 1;
                lose = true;
                request
            }
            Some(Fault::BreakOnce(text)) if self.fault_hits == 0 && matches(text) => {
                self.fault_hits += 1;
                damage = Some(Damage::Break);
                request
            }
            Some(Fault::Random { seed, percent, kind }) => {
                self.fault_hits += 1;
                let mut x = seed ^ (self.fault_hits as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                for _ in 0..3 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                if x % 100 < u64::from(percent) {
                    match kind {
                        Mischief::ServerErrors if x % 2 == 0 => canned = Some(s3_error(503, "SlowDown", "Please reduce your request rate.")),
                        Mischief::ServerErrors => canned = Some(s3_error(500, "InternalError", "We encountered an internal error.")),
                        Mischief::Refused => refuse = true,
                        Mischief::BrokenBody => damage = Some(Damage::Break),
                        Mischief::HostileXml => damage = Some(Damage::Xml(x)),
                        Mischief::Slow => delay = Some(std::time::Duration::from_secs(30)),
                        Mischief::WrongLength => damage = Some(Damage::Length(x)),
                        Mischief::FlippedBit => damage = Some(Damage::Flip(x)),
                    }
                }
                request
            }
            _ => request,
        };
        // A HEAD's Content-Length is the object's size, not its body's: nothing to damage.
        let damage = damage.filter(|_| request.method() != http::Method::HEAD);
        let observed = self.observer.clone().map(|o| (o, request.method().clone(), request.uri().clone(), request.headers().clone()));
        let stop = self.stop.clone().filter(|_| carries_body(&request));
        let sent_whole = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let request = match stop {
            Some(_) => {
                let length = request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
                let whole = sent_whole.clone();
                request.map(|body| BodyExt::boxed_unsync(Watched { inner: body, left: length, whole }))
            }
            None => request,
        };
        let sending: std::pin::Pin<Box<dyn Future<Output = SendResult> + Send>> = match (refuse, delay) {
            (true, _) => Box::pin(async { Err(Error::ConnectionRefused) }),
            (false, Some(d)) => {
                let first_byte = options.and_then(|o| o.first_byte_timeout).unwrap_or(std::time::Duration::from_secs(600));
                Box::pin(async move {
                    tokio::time::timeout(first_byte, async move {
                        tokio::time::sleep(d).await;
                        send(request, options, insecure, canned, pool).await
                    })
                    .await
                    .map_err(|_| Error::ConnectionReadTimeout)?
                })
            }
            (false, None) => Box::pin(send(request, options, insecure, canned, pool)),
        };
        let sending: std::pin::Pin<Box<dyn Future<Output = SendResult> + Send>> = match stop {
            None => sending,
            Some(mut stop) => Box::pin(async move {
                let cut_off = async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                    if sent_whole.load(std::sync::atomic::Ordering::SeqCst) {
                        // The server may have it all: its answer says what it did.
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    sent = sending => sent,
                    () = cut_off => Err(Error::HttpRequestDenied),
                }
            }),
        };
        let sending: std::pin::Pin<Box<dyn Future<Output = SendResult> + Send>> = match (damage, lose) {
            (_, true) => Box::pin(async move {
                // The reply's head arrived, so the server has acted; the guest never hears.
                drop(sending.await?);
                Err(Error::ConnectionTerminated)
            }),
            (None, false) => sending,
            (Some(damage), false) => Box::pin(async move {
                let (response, io) = sending.await?;
                let (parts, body) = response.into_parts();
                let untouched = (parts.status, parts.headers.clone());
                let mut response = damage.apply(http::Response::from_parts(parts, body)).await;
                // Marked only when the damage applied (a body to damage, of the right kind).
                if response.status() != untouched.0 || *response.headers() != untouched.1 || damage.wraps(response.headers()) {
                    response.extensions_mut().insert(Damaged);
                }
                Ok((response, io))
            }),
        };
        let Some((observer, method, uri, headers)) = observed else {
            return Box::new(sending);
        };
        Box::new(async move {
            let start = std::time::Instant::now();
            let result = sending.await;
            let status = result.as_ref().ok().map(|(response, _)| response.status().as_u16());
            let damaged = result.as_ref().is_ok_and(|(response, _)| response.extensions().get::<Damaged>().is_some());
            observer(Sent { method, uri, headers, took: start.elapsed(), status, damaged });
            result
        })
    }
}

/// A request body that says when all of it has been handed to the connection: its end
/// polled, or its Content-Length's worth of bytes.
struct Watched {
    inner: WasiBody,
    left: Option<u64>,
    whole: Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            std::task::Poll::Ready(None) => true,
            std::task::Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                self.left = self.left.map(|left| left.saturating_sub(n));
                self.left == Some(0)
            }
            _ => false,
        };
        if ended {
            self.whole.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `request` sends data: a Content-Length above 0, or a PUT or POST without one.
fn carries_body(request: &http::Request<WasiBody>) -> bool {
    match request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok()) {
        Some(length) => length > 0,
        None => matches!(*request.method(), http::Method::PUT | http::Method::POST | http::Method::PATCH),
    }
}

async fn send(request: http::Request<WasiBody>, options: Option<RequestOptions>, insecure: bool, canned: Option<CannedReply>, pool: Option<Pool>) -> SendResult {
    if let Some(reply) = canned {
        return Ok(canned_reply(request, &*reply).await);
    }
    if let Some(pool) = pool {
        return pool.send(request, options).await;
    }
    if insecure {
        let limit = options.and_then(|o| o.first_byte_timeout).unwrap_or(std::time::Duration::from_secs(600));
        return tokio::time::timeout(limit, send_without_verification(request)).await.map_err(|_| Error::ConnectionReadTimeout)?;
    }
    let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
    Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
}

/// Marks a response the host damaged (for `Sent::damaged`).
#[derive(Clone, Copy)]
struct Damaged;

/// What `Mischief` does to a response.
#[derive(Clone, Copy)]
enum Damage {
    Break,
    /// The seed picks the kind of hostile XML.
    Xml(u64),
    /// The seed picks: cut short cleanly, or a Content-Length too high or too low.
    Length(u64),
    /// The seed picks the bit of an object's body to flip.
    Flip(u64),
}

impl Damage {
    /// Whether `apply` wraps the body of a response with these headers (changing no header).
    fn wraps(self, headers: &http::HeaderMap) -> bool {
        let length: usize = headers.get("content-length").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
        let is_xml = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("xml"));
        match self {
            Damage::Break => true,
            Damage::Length(x) => length > 0 && (x >> 8) % 3 == 0,
            Damage::Flip(_) => length > 0 && !is_xml,
            Damage::Xml(_) => false,
        }
    }

    /// The damaged response. The body is wrapped, never read here: the connection's I/O
    /// only runs once the response is handed back.
    async fn apply(self, response: http::Response<WasiBody>) -> http::Response<WasiBody> {
        let (mut parts, body) = response.into_parts();
        let length: usize = parts.headers.get("content-length").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
        let is_xml = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("xml"));
        match self {
            Damage::Break => http::Response::from_parts(parts, BodyExt::boxed_unsync(Broken { inner: body, passed: 0, limit: length / 2, clean: false })),
            Damage::Length(_) if length == 0 => http::Response::from_parts(parts, body),
            Damage::Length(x) => match (x >> 8) % 3 {
                0 => http::Response::from_parts(parts, BodyExt::boxed_unsync(Broken { inner: body, passed: 0, limit: length / 2, clean: true })),
                1 => {
                    parts.headers.insert("content-length", (length + 1 + (x >> 16) as usize % 1000).into());
                    http::Response::from_parts(parts, body)
                }
                _ => {
                    parts.headers.insert("content-length", (length - 1 - (x >> 16) as usize % length.min(1000)).into());
                    http::Response::from_parts(parts, body)
                }
            },
            // XML replies carry no checksum (TLS guards them): only object bytes are flipped.
            Damage::Flip(_) if length == 0 || is_xml => http::Response::from_parts(parts, body),
            Damage::Flip(x) => http::Response::from_parts(parts, flip_bit(body, (x >> 8) as usize % (length * 8))),
            Damage::Xml(x) => {
                if !is_xml {
                    return http::Response::from_parts(parts, body);
                }
                let hostile: bytes::Bytes = match x % 4 {
                    0 => "<a>".repeat(100_000).into(),
                    1 => format!("<ListBucketResult>{}</ListBucketResult>", "<Contents><Key>k</Key></Contents>".repeat(700_000)).into(),
                    2 => bytes::Bytes::from_static(b"\xff\xfe<\x00E\x00r\x00r\x00o\x00r\x00>\x00"),
                    _ => bytes::Bytes::from_static(b"<<<not xml at all &&&"),
                };
                parts.headers.insert("content-length", hostile.len().into());
                http::Response::from_parts(parts, http_body_util::Full::new(hostile).map_err(|never| match never {}).boxed_unsync())
            }
        }
    }
}

/// A body that breaks off after `limit` bytes, as a reset connection does, or (`clean`)
/// simply ends there.
struct Broken {
    inner: WasiBody,
    passed: usize,
    limit: usize,
    clean: bool,
}

impl http_body::Body for Broken {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Error>>> {
        use std::task::Poll;
        if self.passed >= self.limit {
            return Poll::Ready(if self.clean { None } else { Some(Err(Error::ConnectionTerminated)) });
        }
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    let take = data.len().min(self.limit - self.passed);
                    self.passed += take;
                    Poll::Ready(Some(Ok(http_body::Frame::data(data.slice(..take)))))
                }
                Err(other) => Poll::Ready(Some(Ok(other))),
            },
            Poll::Ready(None) => Poll::Ready(Some(Err(Error::ConnectionTerminated))),
            other => other,
        }
    }
}

/// A reply with `status` and an S3 `<Error>` document.
fn s3_error(status: u16, code: &'static str, message: &'static str) -> CannedReply {
    let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>");
    Arc::new(move |_: &http::request::Parts| (status, vec![("content-type", "application/xml".into()), ("content-length", xml.len().to_string()), ("retry-after", "0".into())], xml.clone().into_bytes()))
}

fn corrupt_body(request: http::Request<WasiBody>) -> http::Request<WasiBody> {
    let mut first = true;
    request.map(|body| {
        body.map_frame(move |frame| {
            frame.map_data(|data| {
                if !first || data.is_empty() {
                    return data;
                }
                first = false;
                let mut bytes = data.to_vec();
                bytes[0] ^= 1;
                bytes::Bytes::from(bytes)
            })
        })
        .boxed_unsync()
    })
}

/// `body` with bit `bit` (counted from the first byte's lowest) flipped.
fn flip_bit(body: WasiBody, bit: usize) -> WasiBody {
    let mut offset = 0;
    body.map_frame(move |frame| {
        frame.map_data(|data| {
            let start = offset;
            offset += data.len();
            if !(start..offset).contains(&(bit / 8)) {
                return data;
            }
            let mut bytes = data.to_vec();
            bytes[bit / 8 - start] ^= 1 << (bit % 8);
            bytes::Bytes::from(bytes)
        })
    })
    .boxed_unsync()
}

/// An error and its causes on one line (hyper-util's own message is just "client error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

async fn canned_reply(request: http::Request<WasiBody>, reply: &(dyn Fn(&http::request::Parts) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync)) -> (http::Response<WasiBody>, IoFuture) {
    let (parts, body) = request.into_parts();
    // Read the request body as a server would, so the guest's writes complete.
    let _ = body.collect().await;
    let (status, headers, bytes) = reply(&parts);
    let mut response = http::Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    let body = http_body_util::Full::new(bytes::Bytes::from(bytes)).map_err(|never| match never {}).boxed_unsync();
    let response = response.body(body).unwrap_or_else(|_| http::Response::new(http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync()));
    (response, Box::new(async { Ok(()) }))
}

async fn send_without_verification(mut request: http::Request<WasiBody>) -> SendResult {
    let authority = request.uri().authority().ok_or(Error::HttpRequestUriInvalid)?.clone();
    let address = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(443));
    let tcp = tokio::net::TcpStream::connect(&address).await.map_err(Error::Connect)?;
    tcp.set_nodelay(true).map_err(Error::Connect)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InternalError(Some(e.to_string())))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| Error::InternalError(Some(e.to_string())))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(Error::Tls)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(Error::Hyper)?;
    let conn = tokio::spawn(conn);
    // The request line carries only the path; the Host header names the server.
    *request.uri_mut() = request.uri().path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = sender.send_request(request).await.map_err(Error::Hyper)?;
    let io: IoFuture = Box::new(async move {
        match conn.await {
            Ok(result) => result.map_err(Error::Hyper),
            Err(join) => Err(Error::InternalError(Some(join.to_string()))),
        }
    });
    Ok((response.map(|body| body.map_err(Error::Hyper).boxed_unsync()), io))
}

/// Accepts any certificate but still checks the handshake signatures, so the connection
/// is encrypted to whoever answered — the meaning of `verify-ssl = false`.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
