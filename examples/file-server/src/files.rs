//! `GET` and `HEAD /files/{key}` as browsers and caches expect (RFC 9110): the validators
//! (`ETag`, `Last-Modified`) on every response, conditional requests answered `304` or
//! `412` by the storage API's read conditions (nothing transferred), one byte range per
//! request answered `206` (or `416`); and `GET /files/?prefix=` listing a folder.

use std::time::{Duration, SystemTime};

use serde_json::json;
use wasip2::clocks::wall_clock::Datetime;

use crate::reply::{self, Reply};
use crate::storage::Store;
use crate::types::{ByteRange, Entry, Error, GetOptions, InfoOptions, ListOptions, ReadConditions, Span, StoredFile};
use crate::{Answer, Head};

/// A listing answers with at most this many entries (`limit` asks for fewer).
const MAX_LISTED: u32 = 1000;

/// The request's conditional headers as the storage API's read conditions. A date that
/// isn't an HTTP date is ignored, as RFC 9110 says.
pub fn conditions(request: &Head) -> ReadConditions {
    let header = |name: &str| request.header(name);
    let date = |name: &str| header(name).and_then(|d| httpdate::parse_http_date(&d).ok()).map(datetime);
    ReadConditions {
        if_match: header("if-match"),
        if_none_match: header("if-none-match"),
        if_modified_since: date("if-modified-since"),
        if_unmodified_since: date("if-unmodified-since"),
    }
}

/// One `Range: bytes=…` range, or `None` to send the whole object: no Range, several ranges,
/// an `If-Range` (not evaluated here: the whole object is always a correct answer), or a
/// header that is no byte range.
pub fn range(request: &Head) -> Option<ByteRange> {
    if request.has("if-range") {
        return None;
    }
    let value = request.header("range")?;
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.trim().split_once('-')?;
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, false) => Some(ByteRange::Last(number(end)?)).filter(|r| !matches!(r, ByteRange::Last(0))),
        (false, true) => Some(ByteRange::StartingAt(number(start)?)),
        (false, false) => {
            let (start, last) = (number(start)?, number(end)?);
            (start <= last).then(|| ByteRange::Span(Span { start, end: last.saturating_add(1) }))
        }
        (true, true) => None,
    }
}

fn datetime(t: SystemTime) -> Datetime {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Datetime { seconds: since.as_secs(), nanoseconds: 0 }
}

fn http_date(d: &Datetime) -> String {
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(d.seconds))
}

/// The headers every answer about `file` carries: its validators and caching attributes.
pub fn validators(file: &StoredFile) -> Vec<(String, String)> {
    let mut headers = vec![("accept-ranges".to_string(), "bytes".to_string())];
    if let Some(etag) = &file.etag {
        headers.push(("etag".into(), etag.clone()));
    }
    if let Some(modified) = &file.last_modified {
        headers.push(("last-modified".into(), http_date(modified)));
    }
    if let Some(cache) = &file.attributes.cache_control {
        headers.push(("cache-control".into(), cache.clone()));
    }
    headers
}

/// `HEAD /files/{key}`: the headers a `GET` would send, no body.
pub async fn head(store: &Store, key: &str, request: &Head) -> Reply {
    let conditions = conditions(request);
    match store.info(key, InfoOptions { conditions, version_id: None }).await {
        Ok(file) => {
            let mut headers = validators(&file);
            headers.push(("content-type".into(), file.content_type.clone().unwrap_or_else(|| "application/octet-stream".into())));
            Reply::head(200, headers, file.size)
        }
        Err(e) => refused(store, key, &e).await,
    }
}

/// `GET /files/{key}`: 200 or 206, streamed (each WASI's `send_file`), or the refusal.
pub async fn get(store: &Store, key: &str, request: &Head) -> Result<Answer, Reply> {
    let options = GetOptions { range: range(request), conditions: conditions(request), ..Default::default() };
    match store.get(key, options).await {
        Ok(object) => Ok(Answer::File { key: key.to_string(), object }),
        Err(e) => Err(refused(store, key, &e).await),
    }
}

/// What a refused read answers: 304 with the object's validators (a HEAD fetches them),
/// 412, 416 with the size, or the storage error.
async fn refused(store: &Store, key: &str, e: &Error) -> Reply {
    match e {
        Error::NotModified(_) => match store.info(key, InfoOptions::default()).await {
            Ok(file) => Reply::head(304, validators(&file), 0).without_length(),
            Err(e) => reply::storage_error(&e, Some(key)),
        },
        Error::RangeNotSatisfiable(size) => {
            let mut reply = reply::storage_error(e, Some(key));
            // Not every server says the size with its 416: then a HEAD does.
            let size = match size {
                Some(size) => Some(*size),
                None => store.info(key, InfoOptions::default()).await.ok().map(|f| f.size),
            };
            if let Some(size) = size {
                reply.header("content-range", format!("bytes */{size}"));
            }
            reply
        }
        e => reply::storage_error(e, Some(key)),
    }
}

/// `GET /files/?prefix=P&after=K&limit=N`: the folders and files directly under `P`, in key
/// order, and where to go on from when there are more.
pub async fn list(store: &Store, query: &str) -> Reply {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
            .map(|v| percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned())
    };
    let limit = match param("limit").map(|l| l.parse::<u32>()) {
        None => MAX_LISTED,
        Some(Ok(n)) if (1..=MAX_LISTED).contains(&n) => n,
        Some(_) => return Reply::json(400, json!({"error": format!("limit must be 1 to {MAX_LISTED}")})),
    };
    let prefix = param("prefix").unwrap_or_default();
    // One more than wanted: whether there are more.
    let options = ListOptions { limit: Some(limit + 1), delimiter: Some("/".into()), start_after: param("after") };
    let listing = match store.list(&prefix, options).await {
        Ok(listing) => listing,
        Err(e) => return reply::storage_error(&e, None),
    };
    let mut entries = Vec::new();
    loop {
        match listing.next_page().await {
            Ok(Some(page)) => entries.extend(page),
            Ok(None) => break,
            Err(e) => return reply::storage_error(&e, None),
        }
    }
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let name = |e: &Entry| match e {
        Entry::File(f) => f.key.clone(),
        Entry::Folder(f) => f.clone(),
        Entry::Version(v) => v.key.clone(),
    };
    let next = entries.last().filter(|_| more).map(name);
    let (mut folders, mut files) = (Vec::new(), Vec::new());
    for entry in entries {
        match entry {
            Entry::Folder(folder) => folders.push(json!(folder)),
            Entry::File(f) => files.push(json!({
                "key": f.key,
                "size": f.size,
                "etag": f.etag,
                "last_modified": f.last_modified.as_ref().map(http_date),
            })),
            Entry::Version(_) => {}
        }
    }
    Reply::json(200, json!({"prefix": prefix, "folders": folders, "files": files, "next": next}))
}
