//! An HTTP file server (a `wasi:http/incoming-handler`) on the `storage` interface. It
//! knows nothing of S3: composed with the wasm-storages component it stores in any S3
//! service; composed with the memory backend, in memory.
//!
//! - `POST /upload`: a `multipart/form-data` body's `file` field, or a raw body with
//!   `?key=NAME`, stored under `uploads/NAME` with its content type and the metadata
//!   `original-name`, streamed (never held whole); answers `{key, size, content_type,
//!   download_url}` with a 24-hour presigned URL. 413 above `FILE_SERVER_MAX_UPLOAD_BYTES`.
//! - `GET /files/{key}` (and `HEAD`): the object, streamed, as an attachment, with `ETag`,
//!   `Last-Modified` and its `Cache-Control`; `If-None-Match`/`If-Modified-Since` → 304,
//!   `If-Match`/`If-Unmodified-Since` → 412, one `Range` → 206 (or 416).
//! - `GET /files/?prefix=P&after=K&limit=N`: `{prefix, folders, files, next}`, the folders
//!   and files directly under `P`; `next` is the `after` of the next page.
//! - `GET /files/{key}/download-url`: `{download_url, expires_in}` (30 minutes).
//! - `GET /files/{key}/download`: a 302 to a 5-minute presigned URL that makes the browser
//!   save the file under its original name (`response-content-disposition`).
//! - `POST /publish/{key}`: moves `drafts/{key}` to `published/{key}`.
//!
//! Configuration, from the environment: `FILE_SERVER_BUCKET` (else `S3_BUCKET`; one is required),
//! `FILE_SERVER_PREFIX`, `FILE_SERVER_MAX_UPLOAD_BYTES` (default 1 GiB),
//! `FILE_SERVER_PARTS_IN_FLIGHT` (default 4: with 8 MiB parts, an upload holds at most
//! about 40 MiB of the storage component's memory, whatever its size); region, endpoint
//! and credentials are the storage component's own (`AWS_REGION`, `AWS_ENDPOINT_URL`, the
//! AWS credential chain).

mod files;
mod form;
mod reply;

mod bindings {
    wit_bindgen::generate!({
        world: "wasm-storages:file-server/file-server@0.1.0",
        path: ["../../wit", "wit"],
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
        },
        // Every config field but the bucket is optional: `..Default::default()` says "the
        // defaults" for the rest.
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

use bindings::wasm_storages::storage::storage::Store;
use bindings::wasm_storages::storage::types::{Config, Error, InfoOptions, PutOptions, StoredFile, UrlOptions};
use reply::Reply;
use serde_json::json;
use wasip2::http::types::{IncomingRequest, Method, ResponseOutparam};

const DAY: u64 = 24 * 60 * 60;
const DEFAULT_MAX_UPLOAD: u64 = 1 << 30;

struct Server;

bindings::export!(Server with_types_in bindings);

impl bindings::exports::wasi::http::incoming_handler::Guest for Server {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        match serve(request, out) {
            Ok(()) => {}
            Err((reply, out)) => reply.send(out),
        }
    }
}

/// Where the server's settings come from.
struct Settings {
    config: Config,
    max_upload: u64,
}

impl Settings {
    fn from_env() -> Result<Settings, Reply> {
        let env = wasip2::cli::environment::get_environment();
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        // Its own setting first, then the generic one hosts set (`storage-host serve-http
        // --embedded-s3` does).
        let bucket = var("FILE_SERVER_BUCKET")
            .or_else(|| var("S3_BUCKET"))
            .ok_or_else(|| Reply::json(500, json!({"error": "neither FILE_SERVER_BUCKET nor S3_BUCKET is set"})))?;
        let number = |name: &str, default: u64| match var(name) {
            Some(v) => v.parse::<u64>().map_err(|_| Reply::json(500, json!({"error": format!("{name} is not a number")}))),
            None => Ok(default),
        };
        let max_upload = number("FILE_SERVER_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD)?;
        let in_flight = u32::try_from(number("FILE_SERVER_PARTS_IN_FLIGHT", 4)?).unwrap_or(u32::MAX);
        let config = Config { bucket, prefix: var("FILE_SERVER_PREFIX"), max_pool_connections: Some(in_flight), ..Default::default() };
        Ok(Settings { config, max_upload })
    }
}

/// Answers `request`; a reply not yet sent comes back with the outparam to send it on.
fn serve(request: IncomingRequest, out: ResponseOutparam) -> Result<(), (Reply, ResponseOutparam)> {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(reply) => return Err((reply, out)),
    };
    let store = match Store::open(&settings.config) {
        Ok(store) => store,
        Err(e) => return Err((reply::storage_error(&e, None), out)),
    };
    let path_and_query = request.path_with_query().unwrap_or_default();
    let (path, query) = path_and_query.split_once('?').unwrap_or((&path_and_query, ""));
    let method = request.method();
    let result = match (&method, path) {
        (Method::Post, "/upload") => upload(&store, &settings, request, query),
        (Method::Get, "/files/") => Ok(files::list(&store, query)),
        (Method::Head, p) if p.starts_with("/files/") => decode(&p["/files/".len()..]).map(|key| files::head(&store, &key, &request)),
        (Method::Get, p) if p.starts_with("/files/") => {
            let rest = &p["/files/".len()..];
            if let Some(key) = rest.strip_suffix("/download-url") {
                decode(key).and_then(|key| download_url(&store, &key))
            } else if let Some(key) = rest.strip_suffix("/download") {
                decode(key).and_then(|key| redirect(&store, &key))
            } else {
                // Streams the object straight into the response (or fails before sending it).
                return match decode(rest) {
                    Ok(key) => files::get(&store, &key, &request, out),
                    Err(reply) => Err((reply, out)),
                };
            }
        }
        (Method::Post, p) if p.starts_with("/publish/") => decode(&p["/publish/".len()..]).and_then(|key| publish(&store, &key)),
        (_, "/upload") => Err(Reply::json(405, json!({"error": "use POST"}))),
        _ => Err(Reply::json(404, json!({"error": "no such endpoint", "path": path}))),
    };
    match result {
        Ok(reply) | Err(reply) => Err((reply, out)),
    }
}

/// A key from the URL path, percent-decoded.
fn decode(raw: &str) -> Result<String, Reply> {
    let key = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| Reply::json(400, json!({"error": "the key is not UTF-8"})))?;
    if key.is_empty() {
        return Err(Reply::json(400, json!({"error": "no key given"})));
    }
    Ok(key.into_owned())
}

/// The last segment of a client's file name: a name, never a path.
fn file_name(raw: &str) -> Result<String, Reply> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name == "." || name == ".." {
        return Err(Reply::json(400, json!({"error": "a file name is needed", "given": raw})));
    }
    Ok(name.to_string())
}

fn upload(store: &Store, settings: &Settings, request: IncomingRequest, query: &str) -> Result<Reply, Reply> {
    let header = |name: &str| request.headers().get(name).into_iter().next().and_then(|v| String::from_utf8(v).ok());
    let content_type = header("content-type");
    let length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if length.is_some_and(|n| n > settings.max_upload) {
        return Err(reply::too_large(settings.max_upload));
    }
    let body = request.consume().map_err(|()| Reply::json(400, json!({"error": "no request body"})))?;
    let stream = body.stream().map_err(|()| Reply::json(400, json!({"error": "no request body"})))?;
    let stored = match content_type.as_deref().and_then(|t| multer::parse_boundary(t).ok()) {
        Some(boundary) => form::upload_file_field(store, &stream, &boundary, settings.max_upload)?,
        None => {
            let name = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("key="))
                .map(|v| percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned())
                .ok_or_else(|| Reply::json(400, json!({"error": "send multipart/form-data with a file field, or a raw body with ?key=NAME"})))?;
            let name = file_name(&name)?;
            let options = PutOptions { content_type, metadata: vec![("original-name".into(), name.clone())], size: length, ..Default::default() };
            let key = format!("uploads/{name}");
            match length {
                // The body's own stream goes to storage: with a known size the S3 component
                // can even have the host splice it, never copying it.
                Some(_) => store.put_stream(&key, stream, &options).map_err(|e| reply::storage_error(&e, Some(&key)))?,
                None => form::copy_limited(store, &key, &stream, &options, settings.max_upload)?,
            }
        }
    };
    // (`stream`, a child of `body`, is dropped before it: reverse declaration order.)
    let url = store.url(&stored.key, &UrlOptions { expires_in: Some(DAY), ..Default::default() }).map_err(|e| reply::storage_error(&e, Some(&stored.key)))?;
    Ok(Reply::json(201, json!({"key": stored.key, "size": stored.size, "content_type": stored.content_type, "download_url": url})))
}

fn download_url(store: &Store, key: &str) -> Result<Reply, Reply> {
    ensure_exists(store, key)?;
    let url = store.url(key, &UrlOptions { expires_in: Some(30 * 60), ..Default::default() }).map_err(|e| reply::storage_error(&e, Some(key)))?;
    Ok(Reply::json(200, json!({"download_url": url, "expires_in": 30 * 60})))
}

/// A redirect the browser follows to S3, saving the file under its original name.
fn redirect(store: &Store, key: &str) -> Result<Reply, Reply> {
    let file = store.info(key, &InfoOptions::default()).map_err(|e| reply::storage_error(&e, Some(key)))?;
    let original = file.metadata.iter().find(|(k, _)| k == "original-name").map(|(_, v)| v.as_str());
    let name = original.unwrap_or_else(|| key.rsplit('/').next().unwrap_or(key));
    let options = UrlOptions { expires_in: Some(5 * 60), response_content_disposition: Some(reply::attachment(name)), ..Default::default() };
    let url = store.url(key, &options).map_err(|e| reply::storage_error(&e, Some(key)))?;
    Ok(Reply::redirect(&url))
}

fn publish(store: &Store, key: &str) -> Result<Reply, Reply> {
    let moved = store.move_(&format!("drafts/{key}"), &format!("published/{key}")).map_err(|e| reply::storage_error(&e, Some(key)))?;
    Ok(Reply::json(200, described(&moved)))
}

fn ensure_exists(store: &Store, key: &str) -> Result<(), Reply> {
    match store.exists(key) {
        Ok(true) => Ok(()),
        Ok(false) => Err(reply::storage_error(&Error::NotFound(key.to_string()), Some(key))),
        Err(e) => Err(reply::storage_error(&e, Some(key))),
    }
}

fn described(file: &StoredFile) -> serde_json::Value {
    json!({"key": file.key, "size": file.size, "content_type": file.content_type})
}
