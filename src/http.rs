//! The raw wasi:http calls, and nothing else: send a request, wait for the response,
//! read or hand over its body.
//!
//! Why not `wstd`: it would add ~130 KB to a component whose budget is 512 KB, and the
//! streaming `get` needs the raw `incoming-body` resources anyway to pass the response
//! stream through to the caller untouched. Blocking on wasi:io pollables is all a
//! request/response client needs.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use crate::bindings::wasm_storages::storage::types::Error;
use crate::error::transport;

/// Reads of response bodies go in chunks of this size.
const READ_CHUNK: u64 = 64 * 1024;

pub struct Request<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Option<&'a [u8]>,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    /// A HEAD, 204 or 304 response: Content-Length describes the object, not this body.
    bodiless: bool,
    head: bool,
    response: IncomingResponse,
}

/// A response body being read. Field order is drop order: the stream is a child of the
/// body, which is a child of the response.
pub struct Body {
    pub stream: Option<InputStream>,
    body: IncomingBody,
    _response: IncomingResponse,
}

pub fn send(req: Request) -> Result<Response, Error> {
    let fields = Fields::from_list(&req.headers.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect::<Vec<_>>())
        .map_err(|e| transport(format!("request header refused by the host: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let method = match req.method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let invalid = |what: &str| transport(format!("the host refused the request {what}"));
    request.set_method(&method).map_err(|_| invalid("method"))?;
    request.set_scheme(Some(&if req.https { Scheme::Https } else { Scheme::Http })).map_err(|_| invalid("scheme"))?;
    request.set_authority(Some(req.authority)).map_err(|_| invalid("authority"))?;
    request.set_path_with_query(Some(req.path_and_query)).map_err(|_| invalid("path"))?;
    let out_body = request.body().map_err(|_| invalid("body"))?;
    let stream = out_body.write().map_err(|_| invalid("body stream"))?;
    let body = req.body.unwrap_or_default();

    // A body that fits the host's buffer goes in before the request is handed over, so
    // headers and body leave together: a server that refuses the request (403) then
    // answers a complete request instead of closing on a half-sent one. A larger body is
    // written after: the host only drains it once the request is in flight.
    let fits = stream.check_write().is_ok_and(|budget| usize::try_from(budget).unwrap_or(usize::MAX) >= body.len());
    let (future, finished) = if fits {
        let written = if body.is_empty() { Ok(()) } else { stream.write(body).map_err(stream_error) };
        drop(stream);
        written?;
        OutgoingBody::finish(out_body, None).map_err(error_code)?;
        (outgoing_handler::handle(request, None).map_err(error_code)?, Ok(()))
    } else {
        let future = outgoing_handler::handle(request, None).map_err(error_code)?;
        let written = write_body(stream, body);
        (future, written.and_then(|()| OutgoingBody::finish(out_body, None).map_err(error_code)))
    };

    let pollable = future.subscribe();
    pollable.block();
    drop(pollable);
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => {
            let sent = error_code(code);
            return Err(match finished {
                // Both failed: the write error alone would hide why.
                Err(Error::Transport(write)) => transport(format!("{} (while sending the request body: {write})", message(&sent))),
                _ => sent,
            });
        }
        Some(Err(())) | None => return Err(transport("the host lost the response")),
    };
    let status = response.status();
    // A server may answer (403, 400) before reading the whole body: its answer explains more
    // than our failed write does.
    if let Err(e) = finished {
        if status < 300 {
            return Err(e);
        }
    }
    let headers = response.headers().entries();
    let head = req.method == "HEAD";
    let bodiless = head || status == 204 || status == 304;
    Ok(Response { status, headers, bodiless, head, response })
}

fn write_body(stream: OutputStream, mut bytes: &[u8]) -> Result<(), Error> {
    let pollable = stream.subscribe();
    let result = (|| {
        while !bytes.is_empty() {
            let budget = stream.check_write().map_err(stream_error)?;
            if budget == 0 {
                pollable.block();
                continue;
            }
            let n = usize::try_from(budget).unwrap_or(usize::MAX).min(bytes.len());
            stream.write(&bytes[..n]).map_err(stream_error)?;
            bytes = &bytes[n..];
        }
        match stream.blocking_flush() {
            // Every byte was handed over; the host closes the stream once the server has
            // read Content-Length bytes, which can happen before our flush returns.
            Ok(()) | Err(StreamError::Closed) => Ok(()),
            Err(e) => Err(stream_error(e)),
        }
    })();
    drop(pollable);
    drop(stream);
    result
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    pub fn is_head(&self) -> bool {
        self.head
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }

    pub fn into_body(self) -> Result<Body, Error> {
        let body = self.response.consume().map_err(|_| transport("response body already taken"))?;
        let stream = body.stream().map_err(|_| transport("response body stream already taken"))?;
        Ok(Body { stream: Some(stream), body, _response: self.response })
    }

    /// Reads the whole body, refusing more than `limit` bytes and less than the
    /// Content-Length promised (a truncated reply is an error, never a short result).
    pub fn read_all(self, limit: u64) -> Result<Vec<u8>, Error> {
        let expected = if self.bodiless { Some(0) } else { self.content_length() };
        if let Some(n) = expected.filter(|n| *n > limit) {
            return Err(transport(format!("response of {n} bytes is larger than the {limit} bytes allowed")));
        }
        let mut body = self.into_body()?;
        // Preallocate what the server announced, within reason: the header is not trusted.
        let mut out = Vec::with_capacity(expected.unwrap_or(0).min(8 << 20) as usize);
        let stream = body.stream.take().expect("stream is set by into_body");
        let result = loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    if out.len() as u64 + chunk.len() as u64 > limit {
                        break Err(transport(format!("response is larger than the {limit} bytes allowed")));
                    }
                    // Running out of guest memory is an error to report, not an abort.
                    if out.try_reserve(chunk.len()).is_err() {
                        break Err(transport(format!("out of memory after {} bytes of the response", out.len())));
                    }
                    out.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break Ok(()),
                Err(e) => break Err(stream_error(e)),
            }
        };
        drop(stream);
        drop(IncomingBody::finish(body.body));
        result?;
        match expected {
            Some(n) if n != out.len() as u64 => Err(transport(format!("response body truncated: got {} of {n} bytes", out.len()))),
            _ => Ok(out),
        }
    }
}

fn message(e: &Error) -> &str {
    match e {
        Error::Transport(m) => m,
        _ => "",
    }
}

fn stream_error(e: StreamError) -> Error {
    match e {
        StreamError::Closed => transport("connection closed"),
        StreamError::LastOperationFailed(e) => transport(format!("I/O error: {}", e.to_debug_string())),
    }
}

fn error_code(code: ErrorCode) -> Error {
    let text = match &code {
        ErrorCode::DnsError(e) => format!("DNS lookup failed ({})", e.rcode.clone().unwrap_or_default()),
        ErrorCode::DnsTimeout => "DNS lookup timed out".into(),
        ErrorCode::DestinationNotFound => "destination not found".into(),
        ErrorCode::DestinationUnavailable => "destination unavailable".into(),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTerminated => "connection terminated".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::ConnectionReadTimeout => "timed out reading the response".into(),
        ErrorCode::ConnectionWriteTimeout => "timed out writing the request".into(),
        ErrorCode::TlsCertificateError => "TLS certificate not accepted".into(),
        ErrorCode::TlsProtocolError => "TLS protocol error".into(),
        ErrorCode::HttpResponseTimeout => "timed out waiting for the response".into(),
        ErrorCode::HttpResponseIncomplete => "response incomplete".into(),
        ErrorCode::HttpProtocolError => "HTTP protocol error".into(),
        ErrorCode::InternalError(Some(e)) => format!("host error: {e}"),
        other => format!("{other:?}"),
    };
    transport(text)
}
