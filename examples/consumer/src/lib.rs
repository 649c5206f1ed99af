//! A small HTTP service that keeps notes in object storage: a template for a component
//! that imports `wasm-storages:storage`. It knows nothing of S3; composition decides where
//! the notes go (the S3 component, or the memory backend).
//!
//! - `PUT /notes/{name}`: stores the request body (streamed, never held whole).
//! - `GET /notes/{name}`: the note, streamed back.
//! - `GET /notes/`: the names, one per line.
//! - `DELETE /notes/{name}`: deletes it.
//!
//! Settings, from the environment: `S3_BUCKET` (required) and `NOTES_PREFIX` (default
//! `notes`); the endpoint, region and credentials are the storage component's own
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, the AWS credential chain).

mod bindings {
    wit_bindgen::generate!({
        world: "app",
        path: "wit",
        // Every interface the world imports is named here. The WASI ones are the `wasip2`
        // crate's, so the request's body stream goes to `put-stream`, and the object's
        // stream into the response, as they are; the storage ones are generated.
        with: {
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasm-storages:storage/types@0.2.0": generate,
            "wasm-storages:storage/storage@0.2.0": generate,
        },
        // Every config field but the bucket is optional: `..Default::default()` takes the
        // defaults for the rest.
        additional_type_attributes: {
            "wasm-storages:storage/types@0.2.0/config": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/put-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/get-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/info-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/list-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/copy-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/url-options": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/read-conditions": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/attributes": [#[derive(Default)]],
            "wasm-storages:storage/types@0.2.0/replacement": [#[derive(Default)]],
        },
    });
}

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasm_storages::storage::storage::Store;
use bindings::wasm_storages::storage::types::{Config, Entry, Error, GetOptions, ListOptions, PutOptions};
use wasip2::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::streams::StreamError;

struct Notes;

bindings::export!(Notes with_types_in bindings);

impl Guest for Notes {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let store = match open() {
            Ok(store) => store,
            Err(answer) => return reply(out, answer),
        };
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        let Some(name) = path.strip_prefix("/notes/") else {
            return reply(out, (404, "try /notes/{name}\n".into()));
        };
        let name = match percent_encoding::percent_decode_str(name).decode_utf8() {
            Ok(name) => name.into_owned(),
            Err(_) => return reply(out, (400, "the name is not UTF-8\n".into())),
        };
        match (request.method(), name.as_str()) {
            (Method::Get, "") => reply(out, list(&store)),
            // Streams the note into the response: it answers `out` itself.
            (Method::Get, _) => send(&store, &name, out),
            (Method::Put, _) => reply(out, put(&store, &name, request)),
            (Method::Delete, _) => reply(out, store.delete(&name).map_or_else(|e| failed(&e), |()| (204, String::new()))),
            _ => reply(out, (405, "use GET, PUT or DELETE\n".into())),
        }
    }
}

/// A status and the text of the answer.
type Answer = (u16, String);

/// The store the settings name. Opening makes no network call: every request can afford it.
fn open() -> Result<Store, Answer> {
    let env = wasip2::cli::environment::get_environment();
    let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let bucket = var("S3_BUCKET").ok_or_else(|| (500, "S3_BUCKET is not set\n".to_string()))?;
    let prefix = var("NOTES_PREFIX").unwrap_or_else(|| "notes".into());
    Store::open(&Config { bucket, prefix: Some(prefix), ..Default::default() }).map_err(|e| failed(&e))
}

fn put(store: &Store, name: &str, request: IncomingRequest) -> Answer {
    let header = |h: &str| request.headers().get(h).into_iter().next().and_then(|v| String::from_utf8(v).ok());
    let options = PutOptions {
        content_type: header("content-type"),
        metadata: Vec::new(),
        // With the length known, a body that ends early or runs on stores nothing.
        size: header("content-length").and_then(|v| v.trim().parse().ok()),
        ..Default::default()
    };
    let Ok(body) = request.consume() else { return (400, "no request body\n".into()) };
    let Ok(stream) = body.stream() else { return (400, "no request body\n".into()) };
    // `put-stream` takes the stream; `body`, its parent, is dropped after it.
    match store.put_stream(name, stream, &options) {
        Ok(stored) => (201, format!("stored {} ({} bytes)\n", stored.key, stored.size)),
        Err(e) => failed(&e),
    }
}

/// The names, one per line. (Held whole: for long listings, write each page out as it comes.)
fn list(store: &Store) -> Answer {
    let listing = match store.list("", &ListOptions::default()) {
        Ok(listing) => listing,
        Err(e) => return failed(&e),
    };
    let mut text = String::new();
    loop {
        match listing.next_page() {
            Ok(Some(page)) => page.iter().for_each(|entry| {
                if let Entry::File(file) = entry {
                    text.push_str(&file.key);
                    text.push('\n');
                }
            }),
            Ok(None) => return (200, text),
            Err(e) => return failed(&e),
        }
    }
}

/// Streams the note into the response: the object's own stream where the backend has one
/// (S3), else read a piece at a time (the memory backend says `unsupported`).
fn send(store: &Store, name: &str, out: ResponseOutparam) {
    let object = match store.get(name, &GetOptions::default()) {
        Ok(object) => object,
        Err(e) => return reply(out, failed(&e)),
    };
    let info = object.info();
    let source = match object.stream() {
        Ok(source) => Some(source),
        Err(Error::Unsupported(_)) => None,
        Err(e) => return reply(out, failed(&e)),
    };
    let content_type = info.content_type.unwrap_or_else(|| "application/octet-stream".into());
    let headers = [("content-type", content_type), ("content-length", info.size.to_string())];
    let Some((response, body)) = response(200, &headers) else {
        return reply(out, (500, "building the response failed\n".into()));
    };
    ResponseOutparam::set(out, Ok(response));
    let Ok(sink) = body.write() else { return };
    let complete = match &source {
        Some(source) => loop {
            match sink.blocking_splice(source, 1 << 20) {
                Ok(_) => {}
                Err(StreamError::Closed) => break true,
                Err(StreamError::LastOperationFailed(_)) => break false,
            }
        },
        None => loop {
            match object.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => break true,
                // `blocking-write-and-flush` takes at most 4,096 bytes at a time.
                Ok(chunk) if chunk.chunks(4096).all(|piece| sink.blocking_write_and_flush(piece).is_ok()) => {}
                _ => break false,
            }
        },
    };
    // Children before parents: the streams before their body and object.
    drop(source);
    drop(sink);
    // A download that broke off ends without `finish`: the host cuts the response short,
    // so the client sees the failure instead of a short note.
    if complete {
        let _ = OutgoingBody::finish(body, None);
    }
}

/// The storage API's typed errors, as answers. What the client can act on is told; the
/// rest (service messages, request ids, configuration) goes to the log, not to the client.
fn failed(e: &Error) -> Answer {
    match e {
        Error::NotFound(_) => (404, "no such note\n".into()),
        Error::InvalidKey(why) => (400, format!("not a usable name: {why}\n")),
        Error::InvalidArgument(why) => (400, format!("{why}\n")),
        Error::InvalidConfig(_) | Error::Credentials(_) => {
            eprintln!("storage settings: {e:?}");
            (500, "the storage is not set up; the log says why\n".into())
        }
        _ => {
            eprintln!("storage failed: {e:?}");
            (502, "the storage failed; the log says why\n".into())
        }
    }
}

fn response(status: u16, headers: &[(&str, String)]) -> Option<(OutgoingResponse, OutgoingBody)> {
    let fields = Fields::new();
    for (name, value) in headers {
        fields.append(name, value.as_bytes()).ok()?;
    }
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).ok()?;
    let body = response.body().ok()?;
    Some((response, body))
}

fn reply(out: ResponseOutparam, (status, text): Answer) {
    let headers = [("content-type", "text/plain; charset=utf-8".to_string())];
    let Some((response, body)) = response(status, &headers) else { return };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(sink) = body.write() {
        if text.as_bytes().chunks(4096).all(|piece| sink.blocking_write_and_flush(piece).is_ok()) {
            drop(sink);
            let _ = OutgoingBody::finish(body, None);
        }
    }
}
