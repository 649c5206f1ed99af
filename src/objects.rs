//! The single-object operations: put, get (whole, ranged, streamed), info, delete (one or
//! many), copy, move and presigned URLs. Each validates, builds its request, sends it
//! through the client pipeline and maps the reply.

use std::rc::Rc;

use crate::client::{self, call, call_read, drain};
use crate::conditions;
use crate::config::Settings;
use crate::error::{self as errors, Error, ServiceError, invalid_argument, transport};
use crate::keys;
use crate::quote::Q;
use crate::ranged::Ranged;
use crate::replies::{self, stored_after_put, stored_file};
use crate::request;
use crate::sys::http;
use crate::sys::io::InputStream;
use crate::types::{ByteRange, GetOptions, PresignMethod, PutOptions, ReadConditions, Span, StoredFile, UrlOptions};
use crate::verify::{self, Verifier};
use crate::xml;

/// `get-bytes` holds the object in guest memory; past this, use the streaming `get`.
const MAX_GET_BYTES: u64 = 1 << 30;
/// Ten tags of at most 384 characters each, in XML.
const MAX_TAGGING_REPLY: u64 = 64 * 1024;
/// S3's limit on keys per DeleteObjects request.
const MAX_DELETE_BATCH: usize = 1000;
/// DeleteObjects' reply names each refused key: up to a thousand, with messages.
const MAX_DELETE_REPLY: u64 = 16 << 20;

/// `put`: one PutObject of `data` under `key`.
pub async fn put(settings: &Settings, key: String, data: &[u8], options: PutOptions) -> Result<StoredFile, Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    if options.size.is_some_and(|n| n != data.len() as u64) {
        return Err(invalid_argument(format!("size says {} bytes but the data holds {}", options.size.unwrap_or_default(), data.len())));
    }
    put_bytes(settings, key, &full, data, options).await
}

/// One PutObject of `data`.
pub async fn put_bytes(settings: &Settings, key: String, full: &str, data: &[u8], options: PutOptions) -> Result<StoredFile, Error> {
    let req = request::put_object(settings, full, &options)?;
    conditions::ensure_honoured(settings, options.condition.as_ref()).await?;
    let resp = call(settings, &req, Some(data), Some(&key)).await.map_err(|e| conditions::refused(e, options.condition.as_ref(), &key))?;
    let (etag, version) = (resp.header("etag").map(str::to_string), client::version_id(&resp));
    drain(resp).await;
    Ok(stored_after_put(key, data.len() as u64, etag, version, options))
}

/// One PutObject of exactly `size` bytes of `source`, spliced by the host: the bytes never
/// enter the component. Only for `upload-checksum = none`: there is nothing to hash them with.
pub async fn put_spliced(settings: &Settings, key: String, full: &str, source: InputStream, size: u64, options: PutOptions) -> Result<StoredFile, Error> {
    let req = request::put_object(settings, full, &options)?;
    conditions::ensure_honoured(settings, options.condition.as_ref()).await?;
    let resp = client::send_spliced(settings, &req, source, size, &key).await.map_err(|e| conditions::refused(e, options.condition.as_ref(), &key))?;
    let (etag, version) = (resp.header("etag").map(str::to_string), client::version_id(&resp));
    drain(resp).await;
    Ok(stored_after_put(key, size, etag, version, options))
}

/// A streamed GET (the whole object or a range), checked as it is read; nothing when its
/// conditions don't hold.
pub async fn get(settings: &Rc<Settings>, key: String, options: GetOptions) -> Result<Download, Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    let req = request::get_object(settings, &full, options.range.as_ref(), &options.conditions, options.version_id.as_deref())?;
    let resp = call(settings, &req, None, Some(&key)).await.map_err(|e| conditions::read_refused(e, &key))?;
    let mut info = stored_file(key, &resp);
    // Dropping the reply unread closes its connection: the body is not fetched.
    conditions::read_allowed(&options.conditions, &info)?;
    info.tags = tags(settings, &full, info.version_id.as_deref(), replies::tag_count(&resp)).await?;
    let range = match (resp.status, &options.range) {
        (206, _) => {
            let (span, total) = resp
                .header("content-range")
                .and_then(request::parse_content_range)
                .ok_or_else(|| transport("206 Partial Content without a valid Content-Range"))?;
            info.size = total.unwrap_or(info.size);
            Some(span)
        }
        // Some servers answer a range that covers the whole object with the whole object.
        (_, Some(range)) if resp.content_length().is_none() || !covers_everything(range, info.size) => {
            return Err(transport("the server ignored the Range header and sent the whole object"));
        }
        _ => None,
    };
    let verifier = if range.is_some() { Verifier::length_only(&resp) } else { Verifier::whole_object(&resp) };
    // A large object asked for in parallel: the rest in ranges, pinned to this ETag.
    let etag = resp.header("etag").map(str::to_string);
    let ranged = match (options.parallel, &range, resp.content_length(), etag) {
        (true, None, Some(size), Some(etag)) if resp.status == 200 && size > settings.part_size => Some((size, etag)),
        _ => None,
    };
    let body = match ranged {
        Some((size, etag)) => Source::Ranged(Ranged::new(settings, info.key.clone(), full, options.version_id, etag, size, resp.into_body()?)?),
        None => Source::Single(resp.into_body()?),
    };
    Ok(Download { info, range, body, verifier: Some(verifier), ended: None })
}

/// The whole object in memory, read and checked inside the attempt: a damaged or cut-off
/// body is fetched again.
pub async fn get_bytes(settings: &Settings, key: String) -> Result<Vec<u8>, Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    let req = request::get_object(settings, &full, None, &ReadConditions::default(), None)?;
    client::counted(settings, &req, None, Some(&key), async |resp| {
        // Too large is an answer about the object, not a failure to fetch it again.
        if let Some(n) = resp.content_length().filter(|n| *n > MAX_GET_BYTES) {
            drain(resp).await;
            return Err(invalid_argument(format!("the object is {n} bytes; get-bytes reads at most {MAX_GET_BYTES}: use get")));
        }
        let verifier = Verifier::whole_object(&resp);
        verify::read_verified(resp, MAX_GET_BYTES, verifier).await
    })
    .await
    .map_err(Error::from)
}

/// HEAD of `key` (or of one version of it), if `conditions` hold; with its tags.
pub async fn info(settings: &Settings, key: String, conditions: &ReadConditions, version_id: Option<&str>) -> Result<StoredFile, Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    let (mut file, count) = head_request(settings, key, &full, conditions, version_id).await?;
    file.tags = tags(settings, &full, file.version_id.as_deref(), count).await?;
    Ok(file)
}

/// HEAD of `key`, unconditionally, without its tags: what the component's own checks need.
pub async fn head(settings: &Settings, key: String) -> Result<StoredFile, Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    head_request(settings, key, &full, &ReadConditions::default(), None).await.map(|(file, _)| file)
}

/// What a HEAD says, and how many tags the object has.
async fn head_request(settings: &Settings, key: String, full: &str, conditions: &ReadConditions, version_id: Option<&str>) -> Result<(StoredFile, u32), Error> {
    let req = request::head_object(settings, full, conditions, version_id)?;
    let resp = call(settings, &req, None, Some(&key)).await.map_err(|e| conditions::read_refused(e, &key))?;
    let file = stored_file(key, &resp);
    let count = replies::tag_count(&resp);
    drain(resp).await;
    conditions::read_allowed(conditions, &file)?;
    Ok((file, count))
}

/// The object's tags (of the version the reply was about), when a reply said it has
/// `count` (GetObjectTagging); none else. A caller allowed to read the object but not its
/// tags (no `s3:GetObjectTagging`) gets it without them, as a listing shows none.
async fn tags(settings: &Settings, full: &str, version_id: Option<&str>, count: u32) -> Result<Vec<(String, String)>, Error> {
    if count == 0 {
        return Ok(Vec::new());
    }
    match call_read(settings, &request::get_object_tagging(settings, full, version_id)?, None, None, MAX_TAGGING_REPLY).await {
        Ok(reply) => xml::parse_tagging(&reply.text()).map_err(transport),
        Err(Error::AccessDenied(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

pub async fn exists(settings: &Settings, key: String) -> Result<bool, Error> {
    match head(settings, key).await {
        Ok(_) => Ok(true),
        Err(Error::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn delete(settings: &Settings, key: String) -> Result<(), Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    match call(settings, &request::delete_object(settings, &full), None, Some(&key)).await {
        Ok(resp) => {
            drain(resp).await;
            Ok(())
        }
        // S3 answers 204 for a missing key; some servers say 404. Either way it's gone.
        Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// DeleteObject of one version, for good.
pub async fn delete_version(settings: &Settings, key: String, version_id: &str) -> Result<(), Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    match call(settings, &request::delete_object_version(settings, &full, version_id)?, None, Some(&key)).await {
        Ok(resp) => {
            drain(resp).await;
            Ok(())
        }
        Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// DeleteObjects in batches; the keys not deleted, each with why.
pub async fn delete_many(settings: &Settings, keys: Vec<String>) -> Vec<(String, Error)> {
    let mut failed = Vec::new();
    let mut valid: Vec<(String, String)> = Vec::new();
    for key in keys {
        match keys::full_key(&settings.prefix, &key) {
            Ok(full) => valid.push((key, full)),
            Err(e) => failed.push((key, e.into())),
        }
    }
    for chunk in valid.chunks(MAX_DELETE_BATCH) {
        let full: Vec<String> = chunk.iter().map(|(_, f)| f.clone()).collect();
        let (req, body) = request::delete_objects(settings, &full);
        let outcome = call_read(settings, &req, Some(body.as_bytes()), None, MAX_DELETE_REPLY).await.and_then(|reply| {
            let refused = xml::parse_delete_result(&reply.text()).map_err(transport)?.map_err(|e| transport(format!("DeleteObjects answered {}", e.code)))?;
            // Each refusal names a key we sent, as the caller named it. One we didn't
            // send means the reply can't be matched to our keys: none is known gone.
            let mut named = Vec::with_capacity(refused.len());
            for (full_key, e) in refused {
                let Some((key, _)) = chunk.iter().find(|(_, f)| *f == full_key) else {
                    return Err(transport(format!("DeleteObjects reported {full_key}, a key it was not asked to delete", full_key = Q(&full_key))));
                };
                named.push((key.clone(), errors::classify(ServiceError { status: 200, code: e.code, message: e.message, request_id: None })));
            }
            Ok(named)
        });
        match outcome {
            Ok(refused) => failed.extend(refused),
            // The request failed: none of its keys is known to be gone.
            Err(e) => failed.extend(chunk.iter().map(|(k, _)| (k.clone(), e.clone()))),
        }
    }
    failed
}

/// A presigned GET or PUT URL.
pub async fn url(settings: &Settings, key: String, options: UrlOptions) -> Result<String, Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    if settings.encryption.is_customer_key() {
        return Err(Error::Unsupported("a presigned URL can't carry the store's customer key (SSE-C): its holder would have to send the key".into()));
    }
    let expires_in = options.expires_in.unwrap_or(settings.presigned_expiry);
    crate::rules::expiry(expires_in).map_err(|why| invalid_argument(format!("expires-in {why}")))?;
    let method = match options.method.unwrap_or(PresignMethod::Get) {
        PresignMethod::Get => "GET",
        PresignMethod::Put => "PUT",
    };
    let headers = match (method, options.content_type) {
        (_, None) => Vec::new(),
        ("PUT", Some(content_type)) => {
            request::check_content_type(&content_type)?;
            vec![("content-type".to_string(), content_type)]
        }
        (_, Some(_)) => return Err(invalid_argument("a content type can only be bound into a PUT URL")),
    };
    // The reply headers a GET URL's holder gets instead of the stored ones: query
    // parameters, signed with the rest (in canonical order).
    let overrides = [
        ("response-cache-control", options.response_cache_control),
        ("response-content-disposition", options.response_content_disposition),
        ("response-content-type", options.response_content_type),
    ];
    let mut path = request::object_path(settings, &full);
    let mut sep = '?';
    for (name, value) in overrides {
        let Some(value) = value else { continue };
        if method != "GET" {
            return Err(invalid_argument(format!("{name} only applies to a GET URL")));
        }
        crate::rules::header_text(&value).map_err(|why| invalid_argument(format!("{name} {why}")))?;
        path.push_str(&format!("{sep}{name}={}", keys::encode_query(&value)));
        sep = '&';
    }
    client::presign(settings, method, &path, &headers, expires_in).await
}

/// Whether `range` asks for every byte of an object of `size` bytes.
fn covers_everything(range: &ByteRange, size: u64) -> bool {
    match *range {
        ByteRange::Span(Span { start, end }) => start == 0 && end >= size,
        ByteRange::StartingAt(start) => start == 0,
        ByteRange::Last(n) => n >= size,
    }
}

/// A download in progress: the response's body, kept alive while its stream is read, or
/// the ranges of a parallel one.
pub struct Download {
    pub info: StoredFile,
    pub range: Option<Span>,
    body: Source,
    /// Until `read` reaches the end (or `stream` hands the bytes over unchecked).
    verifier: Option<Verifier>,
    /// How reading ended: an error stays the answer to every later `read`, so a damaged
    /// body can never look complete on a second try.
    ended: Option<Result<(), Error>>,
}

impl Download {
    /// Whether `read` has begun (or ended) reading the body.
    pub fn started(&self) -> bool {
        self.ended.is_some() || self.verifier.as_ref().is_some_and(Verifier::started)
    }

    /// The body as a stream, unchecked: instead of `read`, never after it.
    pub fn stream(&mut self) -> Result<http::BodyStream, Error> {
        if self.started() {
            return Err(invalid_argument("the body is being read with `read`; `stream` is instead of it"));
        }
        match &mut self.body {
            Source::Single(body) => {
                self.verifier = None;
                body.take_stream().ok_or_else(|| transport("the body stream was already taken"))
            }
            Source::Ranged(_) => Err(invalid_argument("a parallel download is read with `read`: its bytes come in through the component")),
        }
    }

    /// Up to `max` bytes; empty at the end, once the body has proved complete and intact.
    pub async fn read(&mut self, max: u64) -> Result<Vec<u8>, Error> {
        if let Some(ended) = &self.ended {
            return ended.clone().map(|()| Vec::new());
        }
        let next = match &mut self.body {
            Source::Single(body) => body.read(max).await,
            Source::Ranged(ranges) => ranges.read(max).await,
        };
        let result = match next {
            Ok(Some(chunk)) => {
                if let Some(v) = self.verifier.as_mut() {
                    v.update(&chunk);
                }
                Ok(chunk)
            }
            Ok(None) => self.verifier.take().map_or(Ok(()), Verifier::finish).map(|()| Vec::new()),
            Err(e) => Err(e),
        };
        match &result {
            Ok(chunk) if chunk.is_empty() => self.ended = Some(Ok(())),
            Err(e) => self.ended = Some(Err(e.clone())),
            Ok(_) => {}
        }
        result
    }
}

/// Where a download's bytes come from.
enum Source {
    Single(http::Body),
    Ranged(Ranged),
}
