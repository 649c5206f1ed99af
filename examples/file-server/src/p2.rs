//! The WASI 0.2 build: a `wasi:http/incoming-handler@0.2` export on
//! `wasm-storages:storage@0.2.0`. One request per call; the storage calls return when done.

use std::task::{Context, Poll};

use wasip2::http::types::{Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::streams::{InputStream, StreamError};

use crate::reply::{self, Reply};
use crate::storage::{ObjectBody, Store};
use crate::types::{Error, PutOptions, StoredFile};
use crate::{Answer, Head};

/// The bindings of world `$world` (`$with`: its imports beyond the storage API's).
macro_rules! bindings {
    ($world:literal, { $($with:tt)* }) => {
        crate::storage_bindings!(
            world: $world,
            path: ["../../wit", "../../wit/async", "wit"],
            // The WASI types are the `wasip2` crate's, so the request body stream goes to
            // `put-stream` and the object's stream into the response as they are.
            with: {
                "wasi:io/error@0.2.12": wasip2::io::error,
                "wasi:io/poll@0.2.12": wasip2::io::poll,
                "wasi:io/streams@0.2.12": wasip2::io::streams,
                "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
                "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
                "wasi:http/types@0.2.12": wasip2::http::types,
                "wasm-storages:storage/types@0.2.0": generate,
                "wasm-storages:storage/storage@0.2.0": generate,
                $($with)*
            },
        );
    };
}

#[cfg(not(feature = "proxy"))]
mod bindings {
    bindings!("wasm-storages:file-server/file-server@0.1.0", {});
}

/// The `proxy` build's: the same, and `wasi:config/store` (generated: `wasip2` has none).
#[cfg(feature = "proxy")]
mod bindings {
    bindings!("wasm-storages:file-server/file-server-proxy@0.1.0", { "wasi:config/store@0.2.0-rc.1": generate, });
}

pub use bindings::wasm_storages::storage0_2_0::storage as api;
pub use bindings::wasm_storages::storage0_2_0::types;

struct Server;

bindings::export!(Server with_types_in bindings);

impl bindings::exports::wasi::http::incoming_handler::Guest for Server {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = crate::method_name!(request.method(), Method);
        let headers = request.headers().entries().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        let head = Head { method, target: request.path_with_query().unwrap_or_default(), headers };
        // Nothing in here waits but inside the 0.2 calls (which block): a plain executor does.
        match futures::executor::block_on(crate::serve(head, Body::new(request))) {
            Answer::Reply(reply) => send(reply, out),
            Answer::File { key, object } => send_file(&key, object, out),
        }
    }
}

/// The process environment (the server's settings).
#[cfg(not(feature = "proxy"))]
pub fn environment() -> Result<Vec<(String, String)>, String> {
    Ok(wasip2::cli::environment::get_environment())
}

/// The `proxy` build's settings: WASI runtime config, its keys taken as variable names
/// (`file_server_bucket` or `FILE_SERVER_BUCKET`: Spin and wasmCloud take lowercase ones).
#[cfg(feature = "proxy")]
pub fn environment() -> Result<Vec<(String, String)>, String> {
    use bindings::wasi::config::store;
    let all = store::get_all()
        .map_err(|(store::Error::Upstream(why) | store::Error::Io(why))| format!("the runtime config (wasi:config/store) could not be read: {why}"))?;
    Ok(all.into_iter().map(|(key, value)| (key.to_ascii_uppercase().replace(['-', '.'], "_"), value)).collect())
}

/// A request's body, opened on first use.
pub struct Body {
    // (The stream, a child of the body, is dropped before it: declaration order.)
    stream: Option<InputStream>,
    body: Option<IncomingBody>,
    request: Option<IncomingRequest>,
}

impl Body {
    fn new(request: IncomingRequest) -> Body {
        Body { stream: None, body: None, request: Some(request) }
    }

    fn stream(&mut self) -> Result<&InputStream, String> {
        if let Some(request) = self.request.take() {
            let body = request.consume().map_err(|()| "no request body".to_string())?;
            self.stream = Some(body.stream().map_err(|()| "no request body".to_string())?);
            self.body = Some(body);
        }
        self.stream.as_ref().ok_or_else(|| "no request body".to_string())
    }

    /// The next piece of the body (at most `max` bytes); `None` at its end. (A 0.2 read
    /// blocks until there is one: always ready.)
    pub fn poll_read(&mut self, _: &mut Context<'_>, max: u64) -> Poll<Result<Option<Vec<u8>>, String>> {
        Poll::Ready(match self.stream().map(|stream| stream.blocking_read(max)) {
            Ok(Ok(chunk)) => Ok(Some(chunk)),
            Ok(Err(StreamError::Closed)) => Ok(None),
            Ok(Err(StreamError::LastOperationFailed(e))) => Err(e.to_debug_string()),
            Err(e) => Err(e),
        })
    }

    pub async fn read(&mut self, max: u64) -> Result<Option<Vec<u8>>, String> {
        std::future::poll_fn(|cx| self.poll_read(cx, max)).await
    }

    /// Stores the whole body under `key`: its own stream goes to `put-stream`, and with a
    /// known size the S3 component can have the host splice it, never copying it.
    pub async fn store(mut self, store: &Store, key: &str, options: PutOptions) -> Result<StoredFile, Error> {
        self.stream().map_err(Error::InvalidArgument)?;
        let stream = self.stream.take().ok_or_else(|| Error::InvalidArgument("no request body".into()))?;
        store.0.put_stream(key, stream, &options)
    }
}

fn response(status: u16, headers: &[(String, String)]) -> Option<OutgoingResponse> {
    let fields: Vec<(String, Vec<u8>)> = headers.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    let response = OutgoingResponse::new(Fields::from_list(&fields).ok()?);
    response.set_status_code(status).ok()?;
    Some(response)
}

fn send(reply: Reply, out: ResponseOutparam) {
    let (status, headers, body) = reply.into_parts();
    let Some(response) = response(status, &headers) else {
        return;
    };
    let Ok(outgoing) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = outgoing.write() else { return };
    // At most 4 KiB per blocking write (the wasi:io limit).
    for chunk in body.chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

/// Streams `object` (all of `key`, or a range: 206) as the response: the object's body
/// stream is spliced into the response body by the host, so the bytes never pass through
/// this component (nor the S3 one). A `read` loop stands in for backends that have no host
/// stream.
fn send_file(key: &str, object: ObjectBody, out: ResponseOutparam) {
    let (status, headers) = reply::file_head(key, &object);
    // The zero-copy path: the object's own host stream. A backend with none to hand over
    // (the memory one) says `unsupported`; then its bytes are read and written here.
    let source = match object.0.stream() {
        Ok(source) => Some(source),
        Err(Error::Unsupported(_)) => None,
        Err(e) => return send(reply::storage_error(&e, Some(key)), out),
    };
    let Some(response) = response(status, &headers) else {
        return send(Reply::json(500, serde_json::json!({"error": "building the response failed"})), out);
    };
    let Ok(body) = response.body() else {
        return send(Reply::json(500, serde_json::json!({"error": "building the response failed"})), out);
    };
    ResponseOutparam::set(out, Ok(response));
    let Ok(sink) = body.write() else { return };
    let complete = match &source {
        Some(source) => loop {
            match sink.blocking_splice(source, 1 << 20) {
                Ok(_) => {}
                Err(StreamError::Closed) => break true,
                // The download broke off after the head went out: ending without `finish`
                // makes the host cut the response short, so the client sees the failure.
                Err(StreamError::LastOperationFailed(_)) => break false,
            }
        },
        None => loop {
            match object.0.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => break true,
                Ok(chunk) if chunk.chunks(4096).all(|piece| sink.blocking_write_and_flush(piece).is_ok()) => {}
                _ => break false,
            }
        },
    };
    drop(source);
    drop(sink);
    if complete {
        let _ = OutgoingBody::finish(body, None);
    }
    drop(object);
}
