//! wasi:http@0.3's client: a request's body is a `stream<u8>` written while the response is
//! awaited, and the response's body a `stream<u8>` read as it arrives. What the bytes mean
//! (checksums, S3 errors, retries) is the business of `client` and `verify` above.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use wasip3::http::client;
use wasip3::http::types::{ErrorCode, Fields, HeaderError, Method, Request as WasiRequest, RequestOptions, Response as WasiResponse, Scheme, Trailers};
use wasip3::wit_bindgen::{StreamReader, StreamWriter};

use super::io::{InputStream, Source};
use super::reader::Reader;
use crate::error::{Error, transport};
pub use crate::sys::message::{Request, Response, Timeouts};

/// A response body's bytes, handed to the caller as they are.
pub type BodyStream = StreamReader<u8>;

/// What a [`Response`] holds of the host's.
pub type RawResponse = WasiResponse;

/// Request bodies are written, and response bodies read, in chunks of this size.
const CHUNK: usize = 64 * 1024;

/// Whether the body arrived whole, known once its stream ended.
type Outcome = Pin<Box<dyn Future<Output = Result<Option<Trailers>, ErrorCode>>>>;

/// A response body being read.
pub struct Body {
    reader: Reader,
    outcome: Option<Outcome>,
}

/// Sends `req` with `body`; the response, once here.
pub async fn send(req: Request<'_>, body: Option<&[u8]>) -> Result<Response, Error> {
    send_with(req, body.is_some(), async |tx: &mut StreamWriter<u8>| {
        for chunk in body.unwrap_or_default().chunks(CHUNK) {
            if !tx.write_all(chunk.to_vec()).await.is_empty() {
                return Err(Stopped::Connection(transport("the connection closed while the request body was sent")));
            }
        }
        Ok(())
    })
    .await
}

/// Sends `req` with exactly `len` bytes of `source` as its body (its Content-Length must
/// say `len`), copied across as they come. The last byte is held back until the source has
/// proved to end there: a source shorter or longer than `len` fails the body (its trailers
/// say so), so the request is cut short and the server stores nothing.
pub async fn send_spliced(req: Request<'_>, source: InputStream, len: u64) -> Result<Response, Error> {
    let mut source = Source::new(source);
    send_with(req, true, async |tx: &mut StreamWriter<u8>| {
        let short = |sent: u64| {
            Stopped::Source(Error::InvalidArgument(format!("the stream ended after {sent} bytes, short of the {len} its size says; nothing was stored")))
        };
        let mut sent = 0;
        let mut last = Vec::new();
        while sent < len {
            let want = usize::try_from(len - sent).unwrap_or(usize::MAX).min(CHUNK);
            let Some(mut chunk) = std::future::poll_fn(|cx| source.poll_chunk(cx, want)).await.map_err(Stopped::Source)? else { return Err(short(sent)) };
            sent += chunk.len() as u64;
            if sent == len {
                last = chunk.split_off(chunk.len() - 1);
            }
            if !chunk.is_empty() && !tx.write_all(chunk).await.is_empty() {
                return Err(Stopped::Connection(transport(format!("the connection closed after {} of {len} bytes", sent - last.len() as u64))));
            }
        }
        // The last byte goes once the stream has proved to end there, complete.
        if std::future::poll_fn(|cx| source.poll_chunk(cx, 1)).await.map_err(Stopped::Source)?.is_some() {
            return Err(Stopped::Source(Error::InvalidArgument(format!("the stream is longer than the {len} bytes its size says; nothing was stored"))));
        }
        if !last.is_empty() && !tx.write_all(last).await.is_empty() {
            return Err(Stopped::Connection(transport("the connection closed before the last byte")));
        }
        Ok(())
    })
    .await
}

/// Why a request's body stopped short.
enum Stopped {
    /// The caller's stream failed, or was not the size it said: the caller's error.
    Source(Error),
    /// The connection took no more.
    Connection(Error),
}

impl Stopped {
    fn error(self) -> Error {
        match self {
            Stopped::Source(e) | Stopped::Connection(e) => e,
        }
    }
}

/// Sends `req`, its body (if `has_body`) written by `write` while the response is awaited:
/// a server may read the whole body before it answers. A failed write fails the body (its
/// trailers future says so), so the host cuts the request short; once the answer is here,
/// writing stops (a server may answer, 403, and read no more).
async fn send_with(req: Request<'_>, has_body: bool, write: impl AsyncFnOnce(&mut StreamWriter<u8>) -> Result<(), Stopped>) -> Result<Response, Error> {
    req.check_limits()?;
    let (mut body_tx, body_rx) = wasip3::wit_stream::new::<u8>();
    let (trailers_tx, trailers_rx) = wasip3::wit_future::new(|| Ok(None));
    let (request, _transmitted) = WasiRequest::new(fields(&req)?, has_body.then_some(body_rx), trailers_rx, options(&req));
    address(&request, &req)?;
    let target = req.target();
    let head = req.method == "HEAD";
    // Set once every byte of the body was handed over (the trailers may still be going).
    let all_written = std::cell::Cell::new(!has_body);
    let writing = async {
        let written = match has_body {
            true => write(&mut body_tx).await,
            false => Ok(()),
        };
        all_written.set(written.is_ok());
        drop(body_tx);
        // The trailers end the body: none when it went whole, else an error that aborts it.
        let end = match &written {
            Ok(()) => Ok(None),
            Err(Stopped::Source(e) | Stopped::Connection(e)) => Err(ErrorCode::InternalError(Some(crate::error::message(e)))),
        };
        drop(trailers_tx.write(end).await);
        written
    };
    // The body's first write is offered before the request goes: a small body is there as
    // soon as the host sends the headers.
    let (mut writing, mut sending) = (std::pin::pin!(writing), std::pin::pin!(client::send(request)));
    let mut written = None;
    let response = std::future::poll_fn(|cx| {
        if written.is_none()
            && let Poll::Ready(w) = writing.as_mut().poll(cx)
        {
            written = Some(w);
        }
        sending.as_mut().poll(cx)
    })
    .await;
    let written = match written {
        Some(written) => written,
        None if all_written.get() => Ok(()),
        // A 2xx says the server read the whole body (its Content-Length frames it): our last
        // write's end may only not have been seen yet (many requests in flight make that
        // likely). See it out rather than fail a request that succeeded.
        None if response.as_ref().is_ok_and(|r| r.get_status_code() < 300) => writing.await,
        None => Err(Stopped::Connection(transport("the server answered before the whole request body was sent"))),
    };
    let response = match response {
        Ok(response) => response,
        // The caller's stream failing, or the wrong size, is the caller's error; else the
        // host's reason says more.
        Err(code) => {
            return Err(match written {
                Err(Stopped::Source(e)) => e,
                _ => failed_at(&target, code),
            });
        }
    };
    let status = response.get_status_code();
    // A server may answer (403, 400) before reading the whole body: its answer explains
    // more than our failed write does.
    if let Err(stopped) = written
        && status < 300
    {
        return Err(stopped.error());
    }
    let headers = response.get_headers().copy_all();
    let bodiless = head || status == 204 || status == 304;
    Ok(Response { status, headers, bodiless, head, raw: response })
}

impl Response {
    pub fn into_body(self) -> Result<Body, Error> {
        // No error of ours to report about the response: the writer dropped says `ok`.
        let (done_tx, done_rx) = wasip3::wit_future::new(|| Ok(()));
        drop(done_tx);
        let (stream, outcome) = WasiResponse::consume_body(self.raw, done_rx);
        Ok(Body { reader: Reader::new(stream), outcome: Some(Box::pin(outcome.into_future())) })
    }
}

impl Body {
    /// What has arrived, up to `max` bytes (at least one); `None` at the end of the body,
    /// once the host says it arrived whole.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, max: u64) -> Poll<Result<Option<Vec<u8>>, Error>> {
        let max = usize::try_from(max).unwrap_or(usize::MAX).clamp(1, CHUNK);
        if let Some(chunk) = std::task::ready!(self.reader.poll_read(cx, max)) {
            return Poll::Ready(Ok(Some(chunk)));
        }
        let Some(outcome) = self.outcome.as_mut() else { return Poll::Ready(Ok(None)) };
        let outcome = std::task::ready!(outcome.as_mut().poll(cx));
        self.outcome = None;
        Poll::Ready(match outcome {
            Ok(_) => Ok(None),
            Err(code) => Err(error_code(code)),
        })
    }

    /// Up to `max` bytes (at least one); `None` at the end of the body.
    pub async fn read(&mut self, max: u64) -> Result<Option<Vec<u8>>, Error> {
        std::future::poll_fn(|cx| self.poll_read(cx, max)).await
    }

    /// The body's stream, for the caller to read, if nothing was read from it yet.
    pub fn take_stream(&mut self) -> Option<BodyStream> {
        self.reader.take()
    }
}

super::super::message::wasi_http_shared!(WasiRequest);
