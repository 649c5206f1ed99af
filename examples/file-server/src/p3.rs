//! The WASI 0.3 build: a `wasi:http/handler@0.3` service on `wasm-storages:storage@0.3.0`.
//! Every request is a task of its own, so one instance serves many at once; request bodies
//! go to `put-stream` as the streams they are, and objects' streams become response bodies.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response, Trailers};

use crate::reply::{self, Reply};
use crate::storage::{ObjectBody, Store};
use crate::types::{Error, PutOptions, StoredFile};
use crate::{Answer, Head};

// Reads a `stream<u8>` from a poll function: the S3 component's own reader.
#[path = "../../../src/sys/p3/reader.rs"]
mod reader;
use reader::Reader;

mod bindings {
    crate::storage_bindings!(
        world: "wasm-storages:file-server/file-server-p3@0.1.0",
        path: ["../../wit", "../../wit/async", "wit"],
        // The types' `datetime` is 0.2's wall-clock record (storage@0.2.0's types, shared).
        with: {
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
            "wasm-storages:storage/types@0.2.0": generate,
            "wasm-storages:storage/storage@0.3.0": generate,
        },
    );
}

pub use bindings::wasm_storages::storage0_2_0::types;
pub use bindings::wasm_storages::storage0_3_0::storage as api;

struct Server;

wasip3::http::service::export!(Server);

impl wasip3::exports::http::handler::Guest for Server {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let method = crate::method_name!(request.get_method(), Method);
        let headers = request.get_headers().copy_all().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        let head = Head { method, target: request.get_path_with_query().unwrap_or_default(), headers };
        match crate::serve(head, Body::new(request)).await {
            Answer::Reply(reply) => send(reply),
            Answer::File { key, object } => send_file(&key, object).await,
        }
    }
}

/// The process environment (the server's settings).
pub fn environment() -> Result<Vec<(String, String)>, String> {
    Ok(wasip3::cli::environment::get_environment())
}

type Outcome = Pin<Box<dyn Future<Output = Result<Option<Trailers>, ErrorCode>>>>;

/// A request's body, opened on first use.
pub struct Body {
    request: Option<Request>,
    reader: Reader,
    /// Whether the body arrived whole (the host says once its stream has ended).
    outcome: Option<Outcome>,
}

impl Body {
    fn new(request: Request) -> Body {
        Body { request: Some(request), reader: Reader::Gone, outcome: None }
    }

    fn open(&mut self) {
        if let Some(request) = self.request.take() {
            // No error of ours to report about the request: the writer dropped says `ok`.
            let (done, done_reader) = wasip3::wit_future::new(|| Ok(()));
            drop(done);
            let (stream, outcome) = Request::consume_body(request, done_reader);
            self.reader = Reader::new(stream);
            self.outcome = Some(Box::pin(outcome.into_future()));
        }
    }

    /// The next piece of the body (at most `max` bytes); `None` at its end, once the host
    /// says it arrived whole.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, max: u64) -> Poll<Result<Option<Vec<u8>>, String>> {
        self.open();
        if let Some(chunk) = std::task::ready!(self.reader.poll_read(cx, usize::try_from(max).unwrap_or(usize::MAX))) {
            return Poll::Ready(Ok(Some(chunk)));
        }
        let Some(outcome) = self.outcome.as_mut() else { return Poll::Ready(Ok(None)) };
        let outcome = std::task::ready!(outcome.as_mut().poll(cx));
        self.outcome = None;
        Poll::Ready(outcome.map(|_| None).map_err(|code| format!("the request body failed: {code:?}")))
    }

    pub async fn read(&mut self, max: u64) -> Result<Option<Vec<u8>>, String> {
        std::future::poll_fn(|cx| self.poll_read(cx, max)).await
    }

    /// Stores the whole body under `key`: its stream goes to `put-stream` as it is, and the
    /// host's word on whether it arrived whole ends it.
    pub async fn store(mut self, store: &Store, key: &str, options: PutOptions) -> Result<StoredFile, Error> {
        self.open();
        let (Some(stream), Some(outcome)) = (self.reader.take(), self.outcome.take()) else {
            return Err(Error::InvalidArgument("the request body was already read".into()));
        };
        // Unwritten (this task cut short), the end says the body did not arrive whole.
        let (end, end_reader) = bindings::wit_future::new::<Result<(), String>>(|| Err("the request body was cut short".into()));
        wasip3::spawn_local(async move {
            let arrived = outcome.await.map(drop).map_err(|code| format!("the request body failed: {code:?}"));
            drop(end.write(arrived).await);
        });
        store.0.put_stream(key.to_string(), stream, end_reader, options).await
    }
}

/// A response with `headers` and, unless it is empty, `body`, the host told when it ends
/// (`end`) whether it went whole.
fn response(
    status: u16,
    headers: &[(String, String)],
    body: Option<wasip3::wit_bindgen::StreamReader<u8>>,
    end: wasip3::wit_bindgen::FutureReader<Result<Option<Trailers>, ErrorCode>>,
) -> Result<Response, ErrorCode> {
    let fields: Vec<(String, Vec<u8>)> = headers.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    let fields = Fields::from_list(&fields).map_err(|e| ErrorCode::InternalError(Some(format!("the response headers: {e:?}"))))?;
    let (response, _sent) = Response::new(fields, body, end);
    response.set_status_code(status).map_err(|()| ErrorCode::InternalError(Some(format!("status {status}"))))?;
    Ok(response)
}

fn send(reply: Reply) -> Result<Response, ErrorCode> {
    let (status, headers, body) = reply.into_parts();
    let (end, end_reader) = wasip3::wit_future::new(|| Ok(None));
    drop(end);
    if body.is_empty() {
        return response(status, &headers, None, end_reader);
    }
    let (mut writer, reader) = wasip3::wit_stream::new::<u8>();
    let response = response(status, &headers, Some(reader), end_reader)?;
    // The body goes on after the response is returned, in a task of its own.
    wasip3::spawn_local(async move {
        drop(writer.write_all(body).await);
    });
    Ok(response)
}

/// Streams `object` (all of `key`, or a range: 206) as the response: the object's stream
/// is the response body, and its verdict (length and checksum checked) ends it — a download
/// that breaks off, or whose bytes are not the object's, fails the response, so the client
/// sees it cut short rather than complete.
async fn send_file(key: &str, object: ObjectBody) -> Result<Response, ErrorCode> {
    let (status, headers) = reply::file_head(key, &object);
    let (stream, verdict) = match object.0.checked_stream().await {
        Ok(checked) => checked,
        Err(e) => return send(reply::storage_error(&e, Some(key))),
    };
    let (end, end_reader) = wasip3::wit_future::new(|| Err(ErrorCode::InternalError(Some("the download was cut short".into()))));
    let response = response(status, &headers, Some(stream), end_reader)?;
    let key = key.to_string();
    wasip3::spawn_local(async move {
        let verdict = match verdict.await {
            Ok(()) => Ok(None),
            Err(e) => {
                eprintln!("file-server: the download of {key} failed: {e:?}");
                Err(ErrorCode::InternalError(Some("the download failed".into())))
            }
        };
        drop(end.write(verdict).await);
        drop(object);
    });
    Ok(response)
}
