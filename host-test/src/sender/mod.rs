//! How the host sends the component's outgoing requests: wasmtime-wasi-http's default
//! sender, with layers around it, each applied only when asked for (`HostOptions`):
//!
//! - TLS policy (`tls.rs`): wasi:http gives the guest no say over certificates, so a store's
//!   `verify-ssl = false` is carried out here: with `HostOptions::insecure_tls` the host
//!   accepts any certificate for https requests.
//! - Keep-alive (`pool.rs`): with `HostOptions::connection_pool`, requests go through a
//!   pool of reused connections (TCP_NODELAY on; https too, `tls.rs`) instead of one new
//!   connection each.
//! - Canned replies, for benchmarks that measure the component alone (signing, request
//!   building, XML) with the network taken out, and for request-shape tests.
//! - An observer told of every request: request-shape checks in tests, timings in the bench.
//! - A stop signal (an interrupted CLI transfer): from then on no more data leaves. Requests
//!   that carry a body are refused, and those still sending theirs are cut off (the server
//!   never gets a whole body, so it stores nothing); one whose body has all gone waits for
//!   its answer, so what the component reports is what the server did. Bodiless requests
//!   (a DELETE that cleans up) still go, so the component can abort what it started.
//! - Faults (`faults.rs`, `Fault`), in front of the real server: damaged request bodies,
//!   error storms, refused connections, slow answers, broken or hostile response bodies —
//!   fixed or at random from a seed — to prove the component and the server catch them.
//!   Never to fake a success. The fault decides first (`faults::plan`); its damage is done to
//!   what comes back (`faults::after`).
//! - A tally of the bytes sent (`HostOptions::uploaded`): what an upload's progress bar
//!   shows, the bytes that left rather than those the component has read ahead, a request
//!   that failed taking its bytes back.
//! - A simulated wide-area path (`shaping.rs`, `HostOptions::shaping`): round-trip delay
//!   and per-connection bandwidth, for benchmarks of parallel transfers and reuse.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

mod faults;
mod pool;
mod shaping;
mod tls;

use faults::Damaged;
pub use faults::{Fault, Mischief};
pub use pool::Pool;
pub use shaping::Shaping;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), Error>;
/// A request on its way: each layer wraps the one before.
type Sending = std::pin::Pin<Box<dyn Future<Output = SendResult> + Send>>;

/// A reply the host gives instead of sending: status, headers, body.
pub type CannedReply = Arc<Replier>;
/// What makes a canned reply: status, headers and body for a request's head.
pub type Replier = dyn Fn(&http::request::Parts) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync;

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
    /// The fault kept the request from the server (refused, or held past its timeout): the
    /// server never acted on it. A failure without this may have reached the server.
    pub held_back: bool,
}

/// Told of every request once its response head arrives (request-shape checks, timings).
pub type Observer = Arc<dyn Fn(Sent) + Send + Sync>;

/// Request body bytes sent, less those of requests that failed (see the module's docs).
pub type Tally = Arc<std::sync::atomic::AtomicU64>;

/// Turns true when the host is stopping (see the module's docs).
pub type Stop = tokio::sync::watch::Receiver<bool>;

pub struct Hooks {
    pub insecure: bool,
    pub stop: Option<Stop>,
    pub canned: Option<CannedReply>,
    pub pool: Option<Pool>,
    pub observer: Option<Observer>,
    pub fault: Option<Fault>,
    pub shaping: Option<Shaping>,
    pub uploaded: Option<Tally>,
    /// Requests the fault has hit so far.
    pub fault_hits: usize,
}

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let insecure = self.insecure && request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        // The fault, if any, decides first: what this request suffers.
        let (request, plan) = faults::plan(self.fault, &mut self.fault_hits, request);
        let canned = plan.canned.or_else(|| self.canned.clone());
        let (refuse, delay, damage, lose) = (plan.refuse, plan.delay, plan.damage, plan.lose);
        let may_hold_back = refuse || delay.is_some();
        let pool = self.pool.clone();
        let observed = self.observer.clone().map(|o| (o, request.method().clone(), request.uri().clone(), request.headers().clone()));
        let stop = self.stop.clone().filter(|_| carries_body(&request));
        let sent_whole = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let request = match stop {
            Some(_) => {
                let length = request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
                let whole = sent_whole.clone();
                // All of it has gone once its end is polled, or its Content-Length's worth.
                let mut left = length;
                let seen = move |n: Option<u64>| {
                    let ended = match n {
                        None => true,
                        Some(n) => {
                            left = left.map(|left| left.saturating_sub(n));
                            left == Some(0)
                        }
                    };
                    if ended {
                        whole.store(true, Ordering::SeqCst);
                    }
                };
                request.map(|body| BodyExt::boxed_unsync(Told { inner: body, seen }))
            }
            None => request,
        };
        let (request, tally) = match self.uploaded.clone() {
            Some(total) => {
                let this = Tally::default();
                let counted = (total.clone(), this.clone());
                let seen = move |n: Option<u64>| {
                    total.fetch_add(n.unwrap_or(0), Ordering::Relaxed);
                    this.fetch_add(n.unwrap_or(0), Ordering::Relaxed);
                };
                (request.map(|body| BodyExt::boxed_unsync(Told { inner: body, seen })), Some(counted))
            }
            None => (request, None),
        };
        // A simulated far server: the request's body throttled, half a round trip each way,
        // a round trip more for a connection not taken from the pool.
        let (request, shaping) = match self.shaping {
            Some(shape) => (request.map(|body| shape.throttle(body)), Some((shape, pool.is_none()))),
            None => (request, None),
        };
        let sending: Sending = match (refuse, delay) {
            (true, _) => Box::pin(async { Err(Error::ConnectionRefused) }),
            (false, _) if shaping.is_some() => {
                let (shape, new_connection) = shaping.expect("checked");
                Box::pin(async move {
                    let setup = if new_connection { shape.rtt } else { std::time::Duration::ZERO };
                    tokio::time::sleep(setup + shape.one_way()).await;
                    let (response, io) = send(request, options, insecure, canned, pool).await?;
                    tokio::time::sleep(shape.one_way()).await;
                    Ok((response.map(|body| shape.throttle(body)), io))
                })
            }
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
        let sending: Sending = match stop {
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
        let sending = faults::after(sending, damage, lose);
        let sending = match tally {
            None => sending,
            Some((total, this)) => Box::pin(async move {
                let result = sending.await;
                if !result.as_ref().is_ok_and(|(response, _)| response.status().is_success()) {
                    total.fetch_sub(this.swap(0, Ordering::Relaxed), Ordering::Relaxed);
                }
                result
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
            let held_back = may_hold_back && result.is_err();
            observer(Sent { method, uri, headers, took: start.elapsed(), status, damaged, held_back });
            result
        })
    }
}

/// A request body that tells `seen` what it hands to the connection: each data frame's
/// length, then `None` at its end.
struct Told<F> {
    inner: WasiBody,
    seen: F,
}

impl<F: FnMut(Option<u64>) + Unpin> http_body::Body for Told<F> {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(None) => (self.seen)(None),
            std::task::Poll::Ready(Some(Ok(frame))) => (self.seen)(Some(frame.data_ref().map_or(0, |d| d.len() as u64))),
            _ => {}
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

async fn send(
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    insecure: bool,
    canned: Option<CannedReply>,
    pool: Option<Pool>,
) -> SendResult {
    if let Some(reply) = canned {
        return Ok(canned_reply(request, &*reply).await);
    }
    let request = gathered(request).await?;
    if let Some(pool) = pool {
        return pool.send(request, options, insecure).await;
    }
    if insecure {
        let limit = options.and_then(|o| o.first_byte_timeout).unwrap_or(std::time::Duration::from_secs(600));
        return tokio::time::timeout(limit, tls::send_without_verification(request)).await.map_err(|_| Error::ConnectionReadTimeout)?;
    }
    let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
    Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
}

/// Bodies up to this size are gathered before the request goes (see [`gathered`]).
const GATHERED_BODY: u64 = 64 * 1024;

/// `request` with a small body (a Content-Length of at most [`GATHERED_BODY`]) gathered
/// first, so that it leaves with the headers. A WASI 0.3 guest's body is a stream whose
/// bytes reach the host only once the request is on its way: were the headers sent alone,
/// a server that answers at once and closes (403, 412 to a conditional PUT) would cut the
/// request short, and the guest would see a protocol error instead of its answer. A 0.2
/// guest's small body is written before the request is handed over, so it is there anyway.
async fn gathered(request: http::Request<WasiBody>) -> Result<http::Request<WasiBody>, Error> {
    let length = request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if !length.is_some_and(|n| n > 0 && n <= GATHERED_BODY) {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let body = http_body_util::Full::new(bytes).map_err(|never| match never {});
    Ok(http::Request::from_parts(parts, BodyExt::boxed_unsync(body)))
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

async fn canned_reply(request: http::Request<WasiBody>, reply: &Replier) -> (http::Response<WasiBody>, IoFuture) {
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
