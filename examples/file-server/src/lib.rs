//! An HTTP file server on the `storage` interface. It knows nothing of S3: composed with the
//! wasm-storages component it stores in any S3 service; composed with the memory backend, in
//! memory. Two builds of this one source: a `wasi:http/incoming-handler@0.2` on
//! `wasm-storages:storage@0.2.0` (the default; `p2.rs`), and with `--features p3` a
//! `wasi:http/handler@0.3` service on `wasm-storages:storage@0.3.0` (`p3.rs`), which serves
//! many requests at once from one instance. Only how a request, its body and the response
//! travel differs (`p2.rs`, `p3.rs`); the handlers here are the same `async fn`s, whose
//! storage calls (`storage.rs`) are 0.3's awaited or 0.2's made in place.
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
//! AWS credential chain). The `proxy` build (`--features proxy`) reads the same names from
//! WASI runtime config (`wasi:config/store`; lowercase keys too), as its S3 component does.

/// The bindings of a world with the storage imports (either version): every config and
/// options field but the bucket is optional, so `..Default::default()` says "the defaults"
/// for the rest.
macro_rules! storage_bindings {
    ($($world:tt)*) => {
        wit_bindgen::generate!({
            $($world)*
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
    };
}
pub(crate) use storage_bindings;

/// A wasi:http `method` (0.2's and 0.3's enums have the same cases) as its name.
macro_rules! method_name {
    ($method:expr, $Method:ident) => {
        match $method {
            $Method::Get => "GET".to_string(),
            $Method::Head => "HEAD".to_string(),
            $Method::Post => "POST".to_string(),
            $Method::Put => "PUT".to_string(),
            $Method::Delete => "DELETE".to_string(),
            $Method::Connect => "CONNECT".to_string(),
            $Method::Options => "OPTIONS".to_string(),
            $Method::Trace => "TRACE".to_string(),
            $Method::Patch => "PATCH".to_string(),
            $Method::Other(other) => other,
        }
    };
}
pub(crate) use method_name;

mod files;
mod form;
mod reply;
mod storage;

// The HTTP and storage bindings of each WASI generation: what a request and a response are,
// and how the storage calls are made. Everything else is the same source.
#[cfg(not(feature = "p3"))]
mod p2;
#[cfg(not(feature = "p3"))]
use p2 as wasi;
#[cfg(feature = "p3")]
mod p3;
#[cfg(feature = "p3")]
use p3 as wasi;

pub(crate) use wasi::types;

use reply::Reply;
use serde_json::json;
use storage::{ObjectBody, Store};
use types::{Config, Error, InfoOptions, PutOptions, StoredFile, UrlOptions};
use wasi::Body;

const DAY: u64 = 24 * 60 * 60;
const DEFAULT_MAX_UPLOAD: u64 = 1 << 30;

/// A request's method, target and headers (names lowercase), whichever WASI.
pub(crate) struct Head {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The first value of header `name` (lowercase), if it is text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| String::from_utf8(v.clone()).ok())
    }

    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == name)
    }
}

/// What a request is answered with: a reply held whole, or an object streamed.
pub(crate) enum Answer {
    Reply(Reply),
    File { key: String, object: ObjectBody },
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Answer {
        Answer::Reply(reply)
    }
}

/// Where the server's settings come from.
struct Settings {
    config: Config,
    max_upload: u64,
}

impl Settings {
    fn from_env() -> Result<Settings, Reply> {
        let env = wasi::environment().map_err(|why| Reply::json(500, json!({"error": why})))?;
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

/// Answers the request `head` (with `body`).
pub(crate) async fn serve(head: Head, body: Body) -> Answer {
    match route(head, body).await {
        Ok(answer) => answer,
        Err(reply) => Answer::Reply(reply),
    }
}

async fn route(head: Head, body: Body) -> Result<Answer, Reply> {
    let settings = Settings::from_env()?;
    let store = Store::open(&settings.config).await.map_err(|e| reply::storage_error(&e, None))?;
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let reply = match (head.method.as_str(), path) {
        ("POST", "/upload") => upload(&store, &settings, &head, body, query).await?,
        ("GET", "/files/") => files::list(&store, query).await,
        ("HEAD", p) if p.starts_with("/files/") => files::head(&store, &decode(&p["/files/".len()..])?, &head).await,
        ("GET", p) if p.starts_with("/files/") => {
            let rest = &p["/files/".len()..];
            if let Some(key) = rest.strip_suffix("/download-url") {
                download_url(&store, &decode(key)?).await?
            } else if let Some(key) = rest.strip_suffix("/download") {
                redirect(&store, &decode(key)?).await?
            } else {
                // Streams the object into the response (or refuses before sending it).
                return files::get(&store, &decode(rest)?, &head).await;
            }
        }
        ("POST", p) if p.starts_with("/publish/") => publish(&store, &decode(&p["/publish/".len()..])?).await?,
        (_, "/upload") => return Err(Reply::json(405, json!({"error": "use POST"}))),
        _ => return Err(Reply::json(404, json!({"error": "no such endpoint", "path": path}))),
    };
    Ok(reply.into())
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

async fn upload(store: &Store, settings: &Settings, head: &Head, body: Body, query: &str) -> Result<Reply, Reply> {
    let content_type = head.header("content-type");
    let length = head.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if length.is_some_and(|n| n > settings.max_upload) {
        return Err(reply::too_large(settings.max_upload));
    }
    let stored = match content_type.as_deref().and_then(|t| multer::parse_boundary(t).ok()) {
        Some(boundary) => form::upload_file_field(store, body, &boundary, settings.max_upload).await?,
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
                // The body's own stream goes to storage: the S3 component reads it as it
                // comes (in 0.2 the host may even splice it, never copying it).
                Some(_) => body.store(store, &key, options).await.map_err(|e| reply::storage_error(&e, Some(&key)))?,
                None => form::copy_limited(store, &key, body, options, settings.max_upload).await?,
            }
        }
    };
    let url =
        store.url(&stored.key, UrlOptions { expires_in: Some(DAY), ..Default::default() }).await.map_err(|e| reply::storage_error(&e, Some(&stored.key)))?;
    Ok(Reply::json(201, json!({"key": stored.key, "size": stored.size, "content_type": stored.content_type, "download_url": url})))
}

async fn download_url(store: &Store, key: &str) -> Result<Reply, Reply> {
    ensure_exists(store, key).await?;
    let url = store.url(key, UrlOptions { expires_in: Some(30 * 60), ..Default::default() }).await.map_err(|e| reply::storage_error(&e, Some(key)))?;
    Ok(Reply::json(200, json!({"download_url": url, "expires_in": 30 * 60})))
}

/// A redirect the browser follows to S3, saving the file under its original name.
async fn redirect(store: &Store, key: &str) -> Result<Reply, Reply> {
    let file = store.info(key, InfoOptions::default()).await.map_err(|e| reply::storage_error(&e, Some(key)))?;
    let original = file.metadata.iter().find(|(k, _)| k == "original-name").map(|(_, v)| v.as_str());
    let name = original.unwrap_or_else(|| key.rsplit('/').next().unwrap_or(key));
    let options = UrlOptions { expires_in: Some(5 * 60), response_content_disposition: Some(reply::attachment(name)), ..Default::default() };
    let url = store.url(key, options).await.map_err(|e| reply::storage_error(&e, Some(key)))?;
    Ok(Reply::redirect(&url))
}

async fn publish(store: &Store, key: &str) -> Result<Reply, Reply> {
    let moved = store.move_(&format!("drafts/{key}"), &format!("published/{key}")).await.map_err(|e| reply::storage_error(&e, Some(key)))?;
    Ok(Reply::json(200, described(&moved)))
}

async fn ensure_exists(store: &Store, key: &str) -> Result<(), Reply> {
    match store.exists(key).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(reply::storage_error(&Error::NotFound(key.to_string()), Some(key))),
        Err(e) => Err(reply::storage_error(&e, Some(key))),
    }
}

fn described(file: &StoredFile) -> serde_json::Value {
    json!({"key": file.key, "size": file.size, "content_type": file.content_type})
}
