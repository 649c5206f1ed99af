//! The storage operations: each one validates, builds, signs, sends and interprets.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::SystemTime;

use wasip2::clocks::wall_clock::Datetime;
use wasip2::io::streams::InputStream;

use crate::bindings::exports::wasm_storages::storage::storage::{self as wit, GuestListing, GuestObjectBody, GuestStore, GuestWriter};
use crate::bindings::exports::wasm_storages::storage::types::{
    ByteRange, Config, Error, GetOptions, ListOptions, PendingUpload, PresignMethod, PutOptions, ServiceError, Span, StoredFile, UploadChecksum,
    UrlOptions, WriteCondition,
};
use crate::config::{self, Env, Settings};
use crate::error::{self as errors, invalid_argument, transport, Context};
use crate::http::{self, Response};
use crate::keys;
use crate::paging::Tokens;
use crate::upload;
use crate::verify::Verifier;
use crate::request::{self, S3Request, DEFAULT_CONTENT_TYPE, METADATA_HEADER_PREFIX};
use crate::retry;
use crate::signing;
use crate::xml;

/// Error bodies are small; anything bigger is not an S3 error document.
pub const MAX_ERROR_BODY: u64 = 64 * 1024;
/// A 1,000-key listing with 1 KiB keys is ~1.3 MB of XML.
const MAX_LIST_BODY: u64 = 16 << 20;
/// `get-bytes` holds the object in guest memory; past this, use the streaming `get`.
const MAX_GET_BYTES: u64 = 1 << 30;
/// S3 returns at most this many keys per ListObjectsV2 page.
const MAX_PAGE: u32 = 1000;
const MAX_EMPTY_PAGES: u32 = 100;
/// `pending-uploads` answers with one list: past this many, a narrower prefix is needed.
const MAX_PENDING_UPLOADS: usize = 100_000;
/// S3's limit on keys per DeleteObjects request.
const MAX_DELETE_BATCH: usize = 1000;

pub struct Store {
    settings: Rc<Settings>,
}

impl GuestStore for Store {
    fn open(config: Config) -> Result<wit::Store, Error> {
        let env = wasip2::cli::environment::get_environment();
        let settings = config::resolve(config, &Env(&env))?;
        Ok(wit::Store::new(Store { settings: Rc::new(settings) }))
    }

    fn put(&self, key: String, data: Vec<u8>, options: PutOptions) -> Result<StoredFile, Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        if options.size.is_some_and(|n| n != data.len() as u64) {
            return Err(invalid_argument(format!("size says {} bytes but the data holds {}", options.size.unwrap_or_default(), data.len())));
        }
        put_bytes(&self.settings, key, &full, &data, options)
    }

    fn put_stream(&self, key: String, data: InputStream, options: PutOptions) -> Result<StoredFile, Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        upload::put_stream(&self.settings, key, &full, data, options)
    }

    fn writer(&self, key: String, options: PutOptions) -> Result<wit::Writer, Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        Ok(wit::Writer::new(Writer(RefCell::new(upload::Writer::new(&self.settings, key, full, options)?))))
    }

    fn get(&self, key: String, options: GetOptions) -> Result<wit::ObjectBody, Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        let req = request::get_object(&self.settings, &full, options.range.as_ref())?;
        let resp = call(&self.settings, &req, None, Some(&key))?;
        let mut info = stored_file(key, &resp);
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
        let body = resp.into_body()?;
        Ok(wit::ObjectBody::new(ObjectBody { info, range, body: RefCell::new(body), verifier: RefCell::new(Some(verifier)), ended: RefCell::new(None) }))
    }

    fn get_bytes(&self, key: String) -> Result<Vec<u8>, Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        let req = request::get_object(&self.settings, &full, None)?;
        // Read and checked inside the attempt: a damaged or cut-off body is fetched again.
        attempts(&self.settings, &req, None, Some(&key), |resp| {
            // Too large is an answer about the object, not a failure to fetch it again.
            if let Some(n) = resp.content_length().filter(|n| *n > MAX_GET_BYTES) {
                drain(resp);
                return Err(invalid_argument(format!("the object is {n} bytes; get-bytes reads at most {MAX_GET_BYTES}: use get")));
            }
            let verifier = Verifier::whole_object(&resp);
            resp.read_verified(MAX_GET_BYTES, verifier)
        })
    }

    fn info(&self, key: String) -> Result<StoredFile, Error> {
        info(&self.settings, key)
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        match info(&self.settings, key) {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        match call(&self.settings, &request::delete_object(&self.settings, &full), None, Some(&key)) {
            Ok(resp) => Ok(drain(resp)),
            // S3 answers 204 for a missing key; some servers say 404. Either way it's gone.
            Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn delete_many(&self, keys: Vec<String>) -> Result<Vec<(String, Error)>, Error> {
        let mut failed = Vec::new();
        let mut valid: Vec<(String, String)> = Vec::new();
        for key in keys {
            match keys::full_key(&self.settings.prefix, &key) {
                Ok(full) => valid.push((key, full)),
                Err(e) => failed.push((key, e)),
            }
        }
        for chunk in valid.chunks(MAX_DELETE_BATCH) {
            let full: Vec<String> = chunk.iter().map(|(_, f)| f.clone()).collect();
            let (req, body) = request::delete_objects(&self.settings, &full);
            let outcome = call_read(&self.settings, &req, Some(body.as_bytes()), None, MAX_LIST_BODY).and_then(|reply| {
                let refused = xml::parse_delete_result(&reply.text()).map_err(transport)?.map_err(|e| transport(format!("DeleteObjects answered {}", e.code)))?;
                // Each refusal names a key we sent, as the caller named it. One we didn't
                // send means the reply can't be matched to our keys: none is known gone.
                let mut named = Vec::with_capacity(refused.len());
                for (full_key, e) in refused {
                    let Some((key, _)) = chunk.iter().find(|(_, f)| *f == full_key) else {
                        return Err(transport(format!("DeleteObjects reported {full_key:?}, a key it was not asked to delete")));
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
        Ok(failed)
    }

    fn list(&self, prefix: String, options: ListOptions) -> Result<wit::Listing, Error> {
        let full_prefix = keys::full_list_prefix(&self.settings.prefix, &prefix)?;
        Ok(wit::Listing::new(Listing {
            settings: self.settings.clone(),
            state: RefCell::new(ListState { full_prefix, token: None, remaining: options.limit, done: options.limit == Some(0), empty_pages: 0, seen: Tokens::new() }),
        }))
    }

    fn url(&self, key: String, options: UrlOptions) -> Result<String, Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        let expires_in = options.expires_in.unwrap_or(self.settings.presigned_expiry);
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
        let url = request::url(&self.settings, &request::object_path(&self.settings, &full));
        signing::presign(&*self.settings.credentials.current()?, &self.settings.region, SystemTime::now(), method, &url, &headers, expires_in)
    }

    fn copy(&self, source: String, destination: String) -> Result<StoredFile, Error> {
        copy(&self.settings, &source, &destination)
    }

    fn pending_uploads(&self, prefix: String) -> Result<Vec<PendingUpload>, Error> {
        let full_prefix = keys::full_list_prefix(&self.settings.prefix, &prefix)?;
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        let mut seen = Tokens::new();
        let mut empty_pages = 0;
        loop {
            let (key_marker, id_marker) = markers.as_ref().map_or((None, None), |(k, i)| (Some(k.as_str()), Some(i.as_str())));
            let req = request::list_multipart_uploads(&self.settings, &full_prefix, key_marker, id_marker)?;
            let reply = call_read(&self.settings, &req, None, None, MAX_LIST_BODY)?;
            let page = xml::parse_uploads(&reply.text()).map_err(transport)?;
            let before = found.len();
            for upload in page.uploads {
                // A folder's upload (`dir/`) is no file's: it can't be aborted by key here.
                let Some(key) = keys::listed(&self.settings.prefix, &upload.key).map_err(transport)? else { continue };
                found.push(PendingUpload {
                    key: key.to_string(),
                    upload_id: upload.upload_id,
                    initiated: upload.initiated.and_then(|d| datetime(&d, aws_smithy_types::date_time::Format::DateTime)),
                });
            }
            empty_pages = if found.len() == before { empty_pages + 1 } else { 0 };
            if found.len() > MAX_PENDING_UPLOADS {
                return Err(invalid_argument(format!("more than {MAX_PENDING_UPLOADS} uploads are pending under {prefix:?}: ask for a narrower prefix")));
            }
            match page.next {
                Some(next) if !seen.advance(&next) || empty_pages > MAX_EMPTY_PAGES => {
                    return Err(transport("the server keeps listing uploads without progress (its markers go round in a loop, or only empty pages)"));
                }
                Some(next) => markers = Some(next),
                None => return Ok(found),
            }
        }
    }

    fn abort_upload(&self, key: String, upload_id: String) -> Result<(), Error> {
        let full = keys::full_key(&self.settings.prefix, &key)?;
        let resp = call(&self.settings, &request::abort_multipart_upload(&self.settings, &full, &upload_id)?, None, None)?;
        drain(resp);
        Ok(())
    }

    fn create_bucket(&self) -> Result<(), Error> {
        let (req, body) = request::create_bucket(&self.settings);
        match counted_attempts(&self.settings, &req, Some(body.as_bytes()).filter(|b| !b.is_empty()), None, |resp| Ok(drain(resp))) {
            Ok(()) => Ok(()),
            // Ours already, on a retry: the attempt whose answer was lost made it.
            Err(Failed { error: Error::Service(e), retried: true, .. }) if e.code == "BucketAlreadyOwnedByYou" => Ok(()),
            Err(Failed { error: Error::Service(e), .. }) if e.status == 409 && matches!(e.code.as_str(), "BucketAlreadyOwnedByYou" | "BucketAlreadyExists") => {
                Err(Error::AlreadyExists(self.settings.bucket.clone()))
            }
            Err(failed) => Err(failed.into()),
        }
    }

    fn delete_bucket(&self) -> Result<(), Error> {
        match counted_attempts(&self.settings, &request::delete_bucket(&self.settings), None, None, |resp| Ok(drain(resp))) {
            Ok(()) => Ok(()),
            // Gone, on a retry: the attempt whose answer was lost deleted it.
            Err(Failed { error: Error::Service(e), retried: true, .. }) if e.code == "NoSuchBucket" => Ok(()),
            Err(failed) => Err(failed.into()),
        }
    }

    fn move_(&self, source: String, destination: String) -> Result<StoredFile, Error> {
        if source != destination && keys::may_alias(&source, &destination) {
            ensure_distinct(&self.settings, &source, &destination)?;
        }
        let file = copy(&self.settings, &source, &destination)?;
        if source != destination {
            self.delete(source)?;
        }
        Ok(file)
    }
}

/// One PutObject of `data`.
pub fn put_bytes(settings: &Settings, key: String, full: &str, data: &[u8], options: PutOptions) -> Result<StoredFile, Error> {
    let req = request::put_object(settings, full, options.content_type.as_deref(), &options.metadata, options.condition.as_ref())?;
    ensure_conditions_honoured(settings, options.condition.as_ref())?;
    let resp = call(settings, &req, Some(data), Some(&key)).map_err(|e| condition_error(e, options.condition.as_ref(), &key))?;
    let etag = resp.header("etag").map(str::to_string);
    drain(resp);
    Ok(stored_after_put(key, data.len() as u64, etag, options))
}

/// One PutObject of exactly `size` bytes of `source`, spliced by the host: the bytes never
/// enter the component. Only for `upload-checksum = none`: there is nothing to hash them with.
pub fn put_spliced(settings: &Settings, key: String, full: &str, source: &InputStream, size: u64, options: PutOptions) -> Result<StoredFile, Error> {
    let req = request::put_object(settings, full, options.content_type.as_deref(), &options.metadata, options.condition.as_ref())?;
    ensure_conditions_honoured(settings, options.condition.as_ref())?;
    let mut headers = req.headers.clone();
    headers.push(("content-length".into(), size.to_string()));
    let request = signed_request(settings, &req, headers, signing::Payload::Unsigned)?;
    let resp = check(http::send_spliced(request, source, size)?, Some(&key)).map_err(|e| condition_error(e, options.condition.as_ref(), &key))?;
    let etag = resp.header("etag").map(str::to_string);
    drain(resp);
    Ok(stored_after_put(key, size, etag, options))
}

/// What a refused write condition means for `key`: S3 answers 412 for both kinds, and
/// 404 to `If-Match` when nothing is stored.
pub fn condition_error(e: Error, condition: Option<&WriteCondition>, key: &str) -> Error {
    match (condition, &e) {
        (Some(WriteCondition::IfAbsent), Error::Service(s)) if s.status == 412 => Error::AlreadyExists(key.to_string()),
        (Some(WriteCondition::IfMatch(_)), Error::Service(s)) if s.status == 412 => Error::PreconditionFailed(key.to_string()),
        (Some(WriteCondition::IfMatch(_)), Error::NotFound(_)) => Error::PreconditionFailed(key.to_string()),
        _ => e,
    }
}

/// Before a store's first conditional write: does the server honour conditions? A server
/// that ignores `If-None-Match` would silently overwrite, so it is asked once, with a probe
/// object under the store's prefix: written if absent (must succeed), written if absent
/// again (must be refused), written if it matches a wrong ETag (must be refused), deleted.
/// Each kind of condition is judged on its own.
pub fn ensure_conditions_honoured(settings: &Settings, condition: Option<&WriteCondition>) -> Result<(), Error> {
    let Some(condition) = condition else { return Ok(()) };
    let (if_absent, if_match) = match settings.conditions_honoured.get() {
        Some(known) => known,
        None => {
            let nonce = retry::seed() ^ SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            let probe = keys::full_key(&settings.prefix, &format!(".wasm-storages-probe-{nonce:016x}"))?;
            // Whether the write was refused with 412.
            let refused = |condition: WriteCondition| {
                let req = request::put_object(settings, &probe, None, &[], Some(&condition))?;
                match call(settings, &req, Some(b"probe"), None) {
                    Ok(resp) => Ok(drain(resp)).map(|()| false),
                    Err(Error::Service(s)) if s.status == 412 => Ok(true),
                    Err(e) => Err(e),
                }
            };
            let result = refused(WriteCondition::IfAbsent).and_then(|_| Ok((refused(WriteCondition::IfAbsent)?, refused(WriteCondition::IfMatch("0".repeat(32)))?)));
            let _ = call(settings, &request::delete_object(settings, &probe), None, None).map(drain);
            let known = result?;
            settings.conditions_honoured.set(Some(known));
            known
        }
    };
    let (honoured, header) = match condition {
        WriteCondition::IfAbsent => (if_absent, "If-None-Match"),
        WriteCondition::IfMatch(_) => (if_match, "If-Match"),
    };
    match honoured {
        true => Ok(()),
        false => Err(Error::Unsupported(format!("the server ignores {header}, so this conditional write can't be trusted there; nothing was written"))),
    }
}

/// What a successful upload stored: as given, metadata names lower-cased and sorted, as
/// `info` will report them.
pub fn stored_after_put(key: String, size: u64, etag: Option<String>, options: PutOptions) -> StoredFile {
    let mut metadata: Vec<(String, String)> = options.metadata.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    metadata.sort();
    StoredFile {
        key,
        size,
        content_type: Some(options.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string())),
        etag,
        last_modified: None,
        metadata,
    }
}

/// Whether `range` asks for every byte of an object of `size` bytes.
fn covers_everything(range: &ByteRange, size: u64) -> bool {
    match *range {
        ByteRange::Span(Span { start, end }) => start == 0 && end >= size,
        ByteRange::StartingAt(start) => start == 0,
        ByteRange::Last(n) => n >= size,
    }
}

/// HEAD of `key`.
pub fn info(settings: &Settings, key: String) -> Result<StoredFile, Error> {
    let full = keys::full_key(&settings.prefix, &key)?;
    let resp = call(settings, &request::head_object(settings, &full), None, Some(&key))?;
    let file = stored_file(key, &resp);
    drain(resp);
    Ok(file)
}

fn copy(settings: &Settings, source: &str, destination: &str) -> Result<StoredFile, Error> {
    let (src, dst) = keys::full_pair(&settings.prefix, source, destination)?;
    if src == dst {
        // S3 refuses to copy an object onto itself unchanged; the result is the object.
        return info(settings, destination.to_string());
    }
    // A CopyObject that fails after answering 200 (an `<Error>` body) is failed by
    // `call_read`, inside the attempt: retried like any other failure.
    call_read(settings, &request::copy_object(settings, &src, &dst), None, Some(source), MAX_ERROR_BODY)?;
    info(settings, destination.to_string())
}

/// Before a move between keys that may be one file (`keys::may_alias`): that `destination`
/// is not `source` itself under another name. The key rule and `copy` refuse the keys any
/// server folds together by their separators, but a server on a case-insensitive or
/// normalizing filesystem (s3s-fs or MinIO on macOS or Windows) also makes `A` and `a`,
/// `café` and `cafe\u{301}` one file: the copy lands on its source and deleting the source
/// deletes both. Such a destination already exists as the very same file: the same size
/// and the same modification time. (A distinct object that matches both is refused too,
/// saying why; nothing is lost either way.)
fn ensure_distinct(settings: &Settings, source: &str, destination: &str) -> Result<(), Error> {
    let src = info(settings, source.to_string())?;
    let dst = match info(settings, destination.to_string()) {
        Ok(dst) => dst,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let when = |f: &StoredFile| f.last_modified.map(|d| (d.seconds, d.nanoseconds));
    if src.size == dst.size && when(&src).is_some() && when(&src) == when(&dst) {
        return Err(invalid_argument(format!(
            "{destination:?} already holds an object of the same size and time as {source:?}: on this server they may be one object under two names (a case-insensitive or normalizing store), so moving would delete it; nothing was moved"
        )));
    }
    Ok(())
}

/// Sends `req` and checks the reply: 2xx passes, the rest are typed errors about `key`.
/// Failures worth another attempt are retried (`retry`), with backoff, up to the store's
/// `max-attempts`; temporary credentials the server calls expired are fetched anew and the
/// request sent once more.
pub fn call(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>) -> Result<Response, Error> {
    attempts(settings, req, body, key, Ok)
}

/// A successful reply read whole (XML), with what errors need from its head.
pub struct Reply {
    pub request_id: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// [`call`], reading the reply's body (up to `limit` bytes) as part of the attempt: a body
/// cut short is retried like a failed request. So is a 200 whose body is an S3 `<Error>`
/// (CopyObject and CompleteMultipartUpload fail that way after they started answering):
/// it is that error, `InternalError` or `SlowDown` retried as if the status had said so.
pub fn call_read(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>, limit: u64) -> Result<Reply, Error> {
    attempts(settings, req, body, key, |resp| {
        let (status, request_id) = (resp.status, resp.header("x-amz-request-id").map(str::to_string));
        let reply = Reply { request_id, body: resp.read_all(limit)? };
        let text = reply.text();
        if xml::is_error_document(&text) {
            let e = xml::parse_error(&text).map_err(transport)?.unwrap_or_default();
            return Err(errors::classify(ServiceError { status, code: e.code, message: e.message, request_id: e.request_id.or(reply.request_id.clone()) }));
        }
        Ok(reply)
    })
}

/// A request that failed for good, and how many attempts were made: data for callers
/// whose answer depends on it (a lost answer to an earlier attempt), never read back
/// from the message.
pub struct Failed {
    pub error: Error,
    pub attempts: u32,
    /// An earlier attempt failed in a way that may have left its work done (a lost
    /// answer, a server error), not one refused outright (expired credentials).
    pub retried: bool,
}

impl From<Failed> for Error {
    fn from(failed: Failed) -> Error {
        retry::after_attempts(failed.error, failed.attempts)
    }
}

fn attempts<T>(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>, take: impl FnMut(Response) -> Result<T, Error>) -> Result<T, Error> {
    counted_attempts(settings, req, body, key, take).map_err(Error::from)
}

fn counted_attempts<T>(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>, mut take: impl FnMut(Response) -> Result<T, Error>) -> Result<T, Failed> {
    let mut taken = None;
    retry_loop(settings, req, body, key, &mut |resp| take(resp).map(|value| taken = Some(value)))?;
    taken.ok_or_else(|| Failed { error: transport("no reply was taken"), attempts: 0, retried: false })
}

/// The loop behind every [`call`]: one copy for all of them (`take` is dynamic), which
/// keeps the component small.
fn retry_loop(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>, take: &mut dyn FnMut(Response) -> Result<(), Error>) -> Result<(), Failed> {
    let (mut attempts, mut refreshed, mut retried) = (0, false, false);
    loop {
        attempts += 1;
        let (result, retry_after) = match send(settings, req, body) {
            Ok(resp) => {
                let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
                (check(resp, key).and_then(&mut *take), retry_after)
            }
            Err(e) => (Err(e), None),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if expired_token(&e) && !refreshed && settings.credentials.invalidate() => refreshed = true,
            Err(e) if retry::retryable(&e) && attempts < settings.retry.max_attempts => {
                retried = true;
                retry::sleep(settings.retry.delay(attempts, retry_after));
            }
            Err(error) => return Err(Failed { error, attempts, retried }),
        }
    }
}

/// The server refused temporary credentials as expired.
pub fn expired_token(e: &Error) -> bool {
    matches!(e, Error::AccessDenied(s) | Error::Service(s) if s.code == "ExpiredToken")
}

/// Signs and sends `req` with `body` (none for bodiless requests).
pub fn send(settings: &Settings, req: &S3Request, body: Option<&[u8]>) -> Result<Response, Error> {
    let (request, body) = prepare(settings, req, body)?;
    http::send(request, body)
}

/// `req` with its Content-Length and signature, ready for [`http::send`] or [`http::start`].
pub fn prepare<'a, 'b>(settings: &'a Settings, req: &'a S3Request, body: Option<&'b [u8]>) -> Result<(http::Request<'a>, Option<&'b [u8]>), Error> {
    let mut headers = req.headers.clone();
    // S3 wants a Content-Length on every PUT, POST and DELETE, empty ones included (411
    // otherwise), and refuses chunked uploads.
    let body = match (body, req.method) {
        (None, "GET" | "HEAD") => None,
        (body, _) => Some(body.unwrap_or_default()),
    };
    if let Some(body) = body {
        headers.push(("content-length".into(), body.len().to_string()));
    }
    let payload = match (req.object_data, settings.upload_checksum, body) {
        (true, UploadChecksum::ContentMd5, Some(body)) => {
            // Signed, so only the key holder could have stated it; the server checks the body against it.
            headers.push(("content-md5".into(), request::content_md5(body)));
            signing::Payload::Unsigned
        }
        (true, UploadChecksum::None, _) => signing::Payload::Unsigned,
        (_, _, body) => signing::Payload::Signed(body.unwrap_or_default()),
    };
    Ok((signed_request(settings, req, headers, payload)?, body))
}

/// `req` with `headers` (Content-Length among them) and their SigV4 signature, for the
/// store's endpoint with its timeouts.
fn signed_request<'a>(settings: &'a Settings, req: &'a S3Request, mut headers: Vec<(String, String)>, payload: signing::Payload) -> Result<http::Request<'a>, Error> {
    let url = request::url(settings, &req.path_and_query);
    let signed = signing::sign_headers(&*settings.credentials.current()?, &settings.region, SystemTime::now(), req.method, &url, &headers, payload)?;
    headers.extend(signed);
    Ok(http::Request { https: settings.https, authority: &settings.authority, method: req.method, path_and_query: &req.path_and_query, headers, timeouts: settings.timeouts })
}

/// Passes 2xx responses; turns the rest into typed errors about `key`.
pub fn check(resp: Response, key: Option<&str>) -> Result<Response, Error> {
    let head = resp.is_head();
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    let status = resp.status;
    let request_id = resp.header("x-amz-request-id").map(str::to_string);
    let region = resp.header("x-amz-bucket-region").map(str::to_string);
    let object_size = resp.header("content-range").and_then(request::unsatisfied_range_size);
    // An unreadable error body still leaves the status to report.
    let body = resp.read_all(MAX_ERROR_BODY).unwrap_or_default();
    Err(errors::from_response(status, &body, request_id, region, Context { key, head, object_size }))
}

/// Reads and drops the body of a successful response we don't need, so the connection can
/// finish cleanly. The operation already succeeded: a failure here changes nothing.
pub fn drain(resp: Response) {
    let _ = resp.read_all(MAX_ERROR_BODY);
}

/// What the headers of a GET or HEAD say of the object.
fn stored_file(key: String, resp: &Response) -> StoredFile {
    let mut metadata: Vec<(String, String)> = resp
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            let name = name.strip_prefix(METADATA_HEADER_PREFIX)?.to_string();
            Some((name, request::decode_metadata_value(std::str::from_utf8(value).ok()?)))
        })
        .collect();
    metadata.sort();
    StoredFile {
        key,
        size: resp.content_length().unwrap_or(0),
        content_type: resp.header("content-type").map(str::to_string),
        etag: resp.header("etag").map(str::to_string),
        last_modified: resp.header("last-modified").and_then(|d| datetime(d, aws_smithy_types::date_time::Format::HttpDate)),
        metadata,
    }
}

fn datetime(text: &str, format: aws_smithy_types::date_time::Format) -> Option<Datetime> {
    let t = aws_smithy_types::DateTime::from_str(text.trim(), format).ok()?;
    Some(Datetime { seconds: u64::try_from(t.secs()).ok()?, nanoseconds: t.subsec_nanos() })
}

/// `store.writer`'s resource (the upload itself is in `upload.rs`).
pub struct Writer(RefCell<upload::Writer>);

impl GuestWriter for Writer {
    fn write(&self, data: Vec<u8>) -> Result<(), Error> {
        self.0.borrow_mut().write(&data)
    }

    fn finish(&self) -> Result<StoredFile, Error> {
        self.0.borrow_mut().finish()
    }
}

/// A download in progress: the response's body, kept alive while its stream is read.
pub struct ObjectBody {
    info: StoredFile,
    range: Option<Span>,
    body: RefCell<http::Body>,
    /// Until `read` reaches the end (or `stream` hands the bytes over unchecked).
    verifier: RefCell<Option<Verifier>>,
    /// How reading ended: an error stays the answer to every later `read`, so a damaged
    /// body can never look complete on a second try.
    ended: RefCell<Option<Result<(), Error>>>,
}

impl GuestObjectBody for ObjectBody {
    fn info(&self) -> StoredFile {
        self.info.clone()
    }

    fn range(&self) -> Option<Span> {
        self.range
    }

    fn stream(&self) -> Result<InputStream, Error> {
        if self.ended.borrow().is_some() || self.verifier.borrow().as_ref().is_some_and(|v| v.started()) {
            return Err(invalid_argument("the body is being read with `read`; `stream` is instead of it"));
        }
        self.verifier.borrow_mut().take();
        self.body.borrow_mut().stream.take().ok_or_else(|| transport("the body stream was already taken"))
    }

    fn read(&self, max: u64) -> Result<Vec<u8>, Error> {
        if let Some(ended) = &*self.ended.borrow() {
            return ended.clone().map(|()| Vec::new());
        }
        let result = self.body.borrow_mut().read_verified(max, &mut self.verifier.borrow_mut());
        match &result {
            Ok(chunk) if chunk.is_empty() => *self.ended.borrow_mut() = Some(Ok(())),
            Err(e) => *self.ended.borrow_mut() = Some(Err(e.clone())),
            Ok(_) => {}
        }
        result
    }
}

pub struct Listing {
    settings: Rc<Settings>,
    state: RefCell<ListState>,
}

struct ListState {
    full_prefix: String,
    token: Option<String>,
    remaining: Option<u32>,
    done: bool,
    /// Truncated pages in a row with nothing in them: S3 may send a few, never endlessly.
    empty_pages: u32,
    /// The continuation tokens so far, to catch a server that goes round in a loop.
    seen: Tokens<String>,
}

impl GuestListing for Listing {
    fn next_page(&self) -> Result<Option<Vec<StoredFile>>, Error> {
        let mut state = self.state.borrow_mut();
        // A server may return an empty page that is still truncated; keep going.
        while !state.done {
            let max_keys = state.remaining.map_or(MAX_PAGE, |r| r.min(MAX_PAGE));
            let req = request::list_objects_v2(&self.settings, &state.full_prefix, state.token.as_deref(), max_keys)?;
            let reply = call_read(&self.settings, &req, None, None, MAX_LIST_BODY)?;
            let text = std::str::from_utf8(&reply.body).map_err(|_| transport("listing is not UTF-8"))?;
            let page = xml::parse_list(text).map_err(transport)?;

            // A server that ignores max-keys may send more; beyond the caller's limit they are
            // simply not wanted (the listing ends there), so nothing is skipped.
            let wanted = state.remaining.map_or(usize::MAX, |r| r as usize);
            let mut files = Vec::with_capacity(page.objects.len().min(wanted));
            for object in page.objects {
                if files.len() == wanted {
                    break;
                }
                // A key the caller could not have written (`../x`, outside the prefix) is an
                // error, never handed on; a folder marker (`dir/`) is no file, and no count.
                let Some(key) = keys::listed(&self.settings.prefix, &object.key).map_err(transport)? else { continue };
                files.push(StoredFile {
                    key: key.to_string(),
                    size: object.size,
                    content_type: None,
                    etag: object.etag,
                    last_modified: object.last_modified.and_then(|d| datetime(&d, aws_smithy_types::date_time::Format::DateTime)),
                    metadata: Vec::new(),
                });
            }
            // Not `done`, and nothing counted: a later call asks for the same page again, and
            // fails again unless the server has recovered. Ending here would pass off a cut
            // listing as whole.
            let looping = match &page.next_continuation_token {
                Some(next) if page.is_truncated => !state.seen.advance(next),
                _ => false,
            };
            if page.is_truncated && (looping || (files.is_empty() && state.empty_pages >= MAX_EMPTY_PAGES)) {
                return Err(transport("the server keeps listing without progress (its continuation tokens go round in a loop, or only empty pages)"));
            }
            if let Some(r) = state.remaining.as_mut() {
                *r = r.saturating_sub(files.len() as u32);
            }
            state.empty_pages = if files.is_empty() { state.empty_pages + 1 } else { 0 };
            state.token = page.next_continuation_token;
            state.done = !page.is_truncated || state.remaining == Some(0);
            if !files.is_empty() {
                return Ok(Some(files));
            }
        }
        Ok(None)
    }
}
