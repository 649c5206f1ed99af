//! The raw wasi:http calls, and nothing else: send a request, wait for the response,
//! read or hand over its body. What the bytes mean (checksums, S3 errors, retries) is the
//! business of `client` and `verify` above.
//!
//! Why not `wstd`: it would add ~130 KB to a component whose budget is 512 KB, and the
//! streaming `get` needs the raw `incoming-body` resources anyway to pass the response
//! stream through to the caller untouched. A request in flight is a future of its
//! response, driven by the executor in `reactor`.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};

use wasip2::io::poll::Pollable;
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use super::reactor::wait_on;

use crate::error::{Error, transport};
pub use crate::sys::message::{Request, Response, Timeouts};

/// A response body's bytes, handed to the caller as they are.
pub type BodyStream = InputStream;

/// What a [`Response`] holds of the host's.
pub type RawResponse = IncomingResponse;

/// Reads of response bodies go in chunks of this size.
const READ_CHUNK: u64 = 64 * 1024;

/// A response body being read. Field order is drop order: the stream is a child of the
/// body, which is a child of the response.
pub struct Body {
    readable: Option<Rc<Pollable>>,
    stream: Option<InputStream>,
    _body: IncomingBody,
    _response: IncomingResponse,
}

/// Sends `req` with `body`; the response, once here.
pub async fn send(req: Request<'_>, body: Option<&[u8]>) -> Result<Response, Error> {
    start(req, body)?.await
}

/// A request on its way: its body being written, then its response awaited. Field order
/// is drop order (children first).
struct InFlight<B: AsRef<[u8]>> {
    /// `scheme://authority`, to say where a request failed.
    target: String,
    writer: Option<BodyWriter<B>>,
    write_error: Option<Error>,
    answered: Rc<Pollable>,
    future: FutureIncomingResponse,
    head: bool,
}

struct BodyWriter<B> {
    room: Rc<Pollable>,
    stream: OutputStream,
    out_body: OutgoingBody,
    data: B,
    written: usize,
}

/// The wasi:http request for `req`, with its body and the body's stream.
fn outgoing(req: &Request) -> Result<(OutgoingRequest, OutgoingBody, OutputStream), Error> {
    req.check_limits()?;
    let request = OutgoingRequest::new(fields(req)?);
    address(&request, req)?;
    let invalid = |what: &str| transport(format!("the host refused the request {what}"));
    let out_body = request.body().map_err(|_| invalid("body"))?;
    let stream = out_body.write().map_err(|_| invalid("body stream"))?;
    Ok((request, out_body, stream))
}

/// Sends `req` with exactly `len` bytes of `source` as its body (its Content-Length must
/// say `len`). The host splices them from stream to stream: they never enter the
/// component, except the last byte, which is read here to make sure the source ends
/// there. A source shorter or longer than `len` aborts the request before it is complete,
/// so the server stores nothing.
/// (The splice blocks: the WASI 0.2 build runs one operation at a time.)
pub async fn send_spliced(req: Request<'_>, source: InputStream, len: u64) -> Result<Response, Error> {
    let (request, out_body, stream) = outgoing(&req)?;
    let future = outgoing_handler::handle(request, options(&req)).map_err(|code| failed_at(&req.target(), code))?;
    let mut flight: InFlight<&[u8]> = InFlight::new(req.target(), None, future, false);
    let spliced = splice_exactly(&stream, &source, len);
    drop(stream);
    match spliced {
        Ok(()) => OutgoingBody::finish(out_body, None).map_err(error_code)?,
        Err(e) => {
            // Unfinished, the body is abandoned: the host cuts the request short.
            drop(out_body);
            // A connection that failed may be a server that stopped reading to answer
            // (403...): its answer explains more. A wrong-sized stream is the caller's.
            if matches!(e, Error::InvalidArgument(_)) || !flight.answered.ready() {
                return Err(e);
            }
            flight.write_error = Some(e);
        }
    }
    flight.await
}

fn splice_exactly(out: &OutputStream, source: &InputStream, len: u64) -> Result<(), Error> {
    let short = |sent: u64| Error::InvalidArgument(format!("the stream ended after {sent} bytes, short of the {len} its size says; nothing was stored"));
    let mut sent = 0;
    while sent + 1 < len {
        match out.blocking_splice(source, len - 1 - sent) {
            Ok(n) => sent += n,
            // Either side may have closed: the connection, or the source, too soon.
            Err(StreamError::Closed) if out.check_write().is_err() => return Err(transport(format!("the connection closed after {sent} of {len} bytes"))),
            Err(StreamError::Closed) => return Err(short(sent)),
            Err(e) => return Err(stream_error(e)),
        }
    }
    // Hold the last byte back until the source has proved to end: a longer source must
    // leave the request one byte short, never complete.
    let last = match len {
        0 => Vec::new(),
        _ => source.blocking_read(1).map_err(|_| short(sent))?,
    };
    match source.blocking_read(1) {
        Err(StreamError::Closed) => {}
        Ok(_) => return Err(Error::InvalidArgument(format!("the stream is longer than the {len} bytes its size says; nothing was stored"))),
        Err(e) => return Err(transport(format!("reading the data to upload failed: {}", crate::error::message(&stream_error(e))))),
    }
    if !last.is_empty() {
        out.blocking_write_and_flush(&last).map_err(stream_error)?;
    }
    Ok(())
}

/// Hands `req` to the host. A body that fits the host's buffer goes in before the request
/// is handed over, so headers and body leave together: a server that refuses the request
/// (403) then answers a complete request instead of closing on a half-sent one. A larger
/// body is written by [`InFlight::pump`]: the host only drains it once the request is in
/// flight, so writing it all first would block forever.
fn start<B: AsRef<[u8]>>(req: Request, body: Option<B>) -> Result<InFlight<B>, Error> {
    let (request, out_body, stream) = outgoing(&req)?;
    let head = req.method == "HEAD";

    let len = body.as_ref().map_or(0, |b| b.as_ref().len());
    let fits = stream.check_write().is_ok_and(|budget| usize::try_from(budget).unwrap_or(usize::MAX) >= len);
    if fits {
        let written = match &body {
            Some(b) if len > 0 => stream.write(b.as_ref()).map_err(stream_error),
            _ => Ok(()),
        };
        drop(stream);
        written?;
        OutgoingBody::finish(out_body, None).map_err(error_code)?;
        let future = outgoing_handler::handle(request, options(&req)).map_err(|code| failed_at(&req.target(), code))?;
        return Ok(InFlight::new(req.target(), None, future, head));
    }
    let future = outgoing_handler::handle(request, options(&req)).map_err(|code| failed_at(&req.target(), code))?;
    match body {
        Some(data) => {
            let room = Rc::new(stream.subscribe());
            Ok(InFlight::new(req.target(), Some(BodyWriter { room, stream, out_body, data, written: 0 }), future, head))
        }
        // Unreachable: an empty body always fits.
        None => Err(transport("the host's request buffer takes no bytes")),
    }
}

/// A request in flight is a future of its response: it writes what the host takes of its
/// body, and waits on the response and, while writing, on room in the body stream (a
/// server may answer, say 403, and stop reading before the body is complete).
impl<B: AsRef<[u8]> + Unpin> Future for InFlight<B> {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if this.pump() {
                continue;
            }
            if let Some(response) = this.poll_response() {
                return Poll::Ready(response);
            }
            wait_on(&this.answered);
            if let Some(w) = &this.writer {
                wait_on(&w.room);
            }
            return Poll::Pending;
        }
    }
}

impl<B: AsRef<[u8]>> InFlight<B> {
    fn new(target: String, writer: Option<BodyWriter<B>>, future: FutureIncomingResponse, head: bool) -> Self {
        InFlight { target, writer, write_error: None, answered: Rc::new(future.subscribe()), future, head }
    }

    /// Writes as much of the body as the host takes now, without blocking. Returns whether
    /// anything moved (the body may have been completed or failed).
    fn pump(&mut self) -> bool {
        let Some(w) = self.writer.as_mut() else { return false };
        if self.answered.ready() {
            // The server answered before taking the whole body: stop writing, read the answer.
            if let Some(w) = self.writer.take() {
                drop(w.room);
                drop(w.stream);
                drop(w.out_body);
            }
            self.write_error = Some(transport("the server answered before the whole request body was sent"));
            return true;
        }
        let len = w.data.as_ref().len();
        let step = match w.stream.check_write() {
            Ok(budget) => {
                let n = usize::try_from(budget).unwrap_or(usize::MAX).min(len - w.written);
                let wrote = if n > 0 { w.stream.write(&w.data.as_ref()[w.written..w.written + n]) } else { Ok(()) };
                wrote.map(|()| n)
            }
            Err(e) => Err(e),
        };
        if let Ok(n) = step {
            w.written += n;
        }
        let complete = w.written == len;
        match step {
            Ok(n) if !complete => n > 0,
            // Every byte was handed over. (The host may close the stream as soon as the
            // server has read Content-Length bytes: that is success too.)
            Ok(_) | Err(StreamError::Closed) if complete => {
                if let Some(w) = self.writer.take() {
                    drop(w.room);
                    drop(w.stream);
                    if let Err(e) = OutgoingBody::finish(w.out_body, None) {
                        self.write_error = Some(error_code(e));
                    }
                }
                true
            }
            Ok(_) => false,
            Err(e) => {
                if let Some(w) = self.writer.take() {
                    drop(w.room);
                    drop(w.stream);
                    drop(w.out_body);
                }
                self.write_error = Some(stream_error(e));
                true
            }
        }
    }

    /// The response, once the body is done and the response is here; `None` before.
    /// Yields the response once.
    fn poll_response(&mut self) -> Option<Result<Response, Error>> {
        if self.writer.is_some() {
            return None;
        }
        let write_error = self.write_error.take();
        let response = match self.future.get() {
            None => {
                self.write_error = write_error;
                return None;
            }
            Some(r) => r,
        };
        let response = match response {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => {
                let sent = failed_at(&self.target, code);
                return Some(Err(match write_error {
                    // Both failed: the write error alone would hide why.
                    Some(Error::Transport(write)) => transport(format!("{} (while sending the request body: {write})", crate::error::message(&sent))),
                    _ => sent,
                }));
            }
            Err(()) => return Some(Err(transport("the host lost the response"))),
        };
        let status = response.status();
        // A server may answer (403, 400) before reading the whole body: its answer explains
        // more than our failed write does.
        if let Some(e) = write_error
            && status < 300
        {
            return Some(Err(e));
        }
        let headers = response.headers().entries();
        let bodiless = self.head || status == 204 || status == 304;
        Some(Ok(Response { status, headers, bodiless, head: self.head, raw: response }))
    }
}

impl Response {
    pub fn into_body(self) -> Result<Body, Error> {
        let body = self.raw.consume().map_err(|_| transport("response body already taken"))?;
        let stream = body.stream().map_err(|_| transport("response body stream already taken"))?;
        Ok(Body { readable: Some(Rc::new(stream.subscribe())), stream: Some(stream), _body: body, _response: self.raw })
    }
}

impl Body {
    /// What has arrived, up to `max` bytes (at least one); `None` at the end of the body.
    pub fn poll_read(&mut self, _cx: &mut Context<'_>, max: u64) -> Poll<Result<Option<Vec<u8>>, Error>> {
        let (Some(stream), Some(readable)) = (&self.stream, &self.readable) else {
            return Poll::Ready(Err(transport("the body stream was already taken")));
        };
        match stream.read(max.clamp(1, READ_CHUNK)) {
            Ok(chunk) if chunk.is_empty() => {
                wait_on(readable);
                Poll::Pending
            }
            Ok(chunk) => Poll::Ready(Ok(Some(chunk))),
            Err(StreamError::Closed) => Poll::Ready(Ok(None)),
            Err(e) => Poll::Ready(Err(stream_error(e))),
        }
    }

    /// Up to `max` bytes (at least one); `None` at the end of the body.
    pub async fn read(&mut self, max: u64) -> Result<Option<Vec<u8>>, Error> {
        std::future::poll_fn(|cx| self.poll_read(cx, max)).await
    }

    /// The body's stream, for the caller to read (its readiness pollable let go first: a
    /// child of the stream).
    pub fn take_stream(&mut self) -> Option<BodyStream> {
        self.readable = None;
        self.stream.take()
    }
}

fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::Closed => transport("connection closed"),
        StreamError::LastOperationFailed(e) => transport(format!("I/O error: {}", e.to_debug_string())),
    }
}

super::super::message::wasi_http_shared!(OutgoingRequest);
