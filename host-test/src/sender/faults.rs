//! Faults, in front of the real server: damaged request bodies, error storms, refused
//! connections, slow answers, broken or hostile response bodies — fixed or at random from a
//! seed — to prove the component and the server catch them. Never to fake a success.

use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, WasiBody};

use super::{CannedReply, Sending};

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

/// What a fault does to one request: answered by the host instead of the server, refused,
/// held, its answer damaged or lost.
#[derive(Default)]
pub(super) struct Plan {
    pub canned: Option<CannedReply>,
    pub refuse: bool,
    pub delay: Option<std::time::Duration>,
    pub damage: Option<Damage>,
    pub lose: bool,
}

/// Decides what `fault` does to `request`, counting in `hits` the requests it has hit (the
/// random ones follow the seed and that count, so a run replays exactly).
pub(super) fn plan(fault: Option<Fault>, hits: &mut usize, request: http::Request<WasiBody>) -> (http::Request<WasiBody>, Plan) {
    let mut plan = Plan::default();
    let Plan { canned, refuse, delay, damage, lose } = &mut plan;
    let matches = |text: &str| request.uri().path_and_query().is_some_and(|p| p.as_str().contains(text));
    let request = match fault {
        Some(Fault::CorruptBody) => corrupt_body(request),
        Some(Fault::ExpiredTokenOnce(text)) if *hits == 0 && matches(text) => {
            *hits += 1;
            *canned = Some(s3_error(400, "ExpiredToken", "The provided token has expired."));
            request
        }
        Some(Fault::Status { status, code, times, matching }) if *hits < times && matches(matching) => {
            *hits += 1;
            *canned = Some(s3_error(status, code, "injected by the host"));
            request
        }
        Some(Fault::AnswerOnce { method, matching, status, code, message }) if *hits == 0 && request.method().as_str() == method && matches(matching) => {
            *hits += 1;
            *canned = Some(s3_error(status, code, message));
            request
        }
        Some(Fault::Refuse { times }) if *hits < times => {
            *hits += 1;
            *refuse = true;
            request
        }
        Some(Fault::Delay(d)) => {
            *delay = Some(d);
            request
        }
        Some(Fault::LoseAnswerOnce(text)) if *hits == 0 && matches(text) => {
            *hits += 1;
            *lose = true;
            request
        }
        Some(Fault::BreakOnce(text)) if *hits == 0 && matches(text) => {
            *hits += 1;
            *damage = Some(Damage::Break);
            request
        }
        Some(Fault::Random { seed, percent, kind }) => {
            *hits += 1;
            let mut x = seed ^ (*hits as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            if x % 100 < u64::from(percent) {
                match kind {
                    Mischief::ServerErrors if x.is_multiple_of(2) => *canned = Some(s3_error(503, "SlowDown", "Please reduce your request rate.")),
                    Mischief::ServerErrors => *canned = Some(s3_error(500, "InternalError", "We encountered an internal error.")),
                    Mischief::Refused => *refuse = true,
                    Mischief::BrokenBody => *damage = Some(Damage::Break),
                    Mischief::HostileXml => *damage = Some(Damage::Xml(x)),
                    Mischief::Slow => *delay = Some(std::time::Duration::from_secs(30)),
                    Mischief::WrongLength => *damage = Some(Damage::Length(x)),
                    Mischief::FlippedBit => *damage = Some(Damage::Flip(x)),
                }
            }
            request
        }
        _ => request,
    };
    // A HEAD's Content-Length is the object's size, not its body's: nothing to damage.
    if request.method() == http::Method::HEAD {
        plan.damage = None;
    }
    (request, plan)
}

/// `sending`, with its answer damaged or lost as the plan says (after the server has
/// acted: the damage is done to what comes back).
pub(super) fn after(sending: Sending, damage: Option<Damage>, lose: bool) -> Sending {
    match (damage, lose) {
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
    }
}

/// Marks a response the host damaged (for `Sent::damaged`).
#[derive(Clone, Copy)]
pub(super) struct Damaged;

/// What `Mischief` does to a response.
#[derive(Clone, Copy)]
pub(super) enum Damage {
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

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Error>>> {
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
    Arc::new(move |_: &http::request::Parts| {
        (
            status,
            vec![("content-type", "application/xml".into()), ("content-length", xml.len().to_string()), ("retry-after", "0".into())],
            xml.clone().into_bytes(),
        )
    })
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
