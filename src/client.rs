//! The request pipeline every request goes through: build (`request`) → sign (`signing`) →
//! send (`sys::http`) → classify (`error`) → retry, refresh or fail (`retry`). Single
//! requests use [`call`] / [`call_read`] / [`counted`] (multipart parts too, many at once);
//! the ranges of a parallel download [`send`] and [`check`] (they resume where an attempt
//! stopped); spliced uploads [`send_spliced`]. All of it is async: the WASI 0.2 build runs it on the
//! `sys::reactor` executor, the 0.3 build natively.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::SystemTime;

use crate::checksums::Algorithm;
use crate::config::Settings;
use crate::credentials::Credentials;
use crate::error::{self as errors, Context, Error, ServiceError, transport};
use crate::request::{self, S3Request};
use crate::retry::{self, Attempts};
use crate::signing;
use crate::sys::http::{self, Response};
use crate::sys::io::InputStream;
use crate::sys::time;
use crate::types::UploadChecksum;
use crate::verify;
use crate::xml;

/// Error bodies are small; anything bigger is not an S3 error document.
pub const MAX_ERROR_BODY: u64 = 64 * 1024;

/// A successful reply read whole (XML), with what errors need from its head.
pub struct Reply {
    pub request_id: Option<String>,
    /// The version a write made, when the bucket keeps versions.
    pub version_id: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// A request that failed for good, with its attempts: data for callers whose answer
/// depends on them (a lost answer to an earlier attempt), never read back from the message.
pub struct Failed {
    pub error: Error,
    pub attempts: Attempts,
}

impl From<Failed> for Error {
    fn from(failed: Failed) -> Error {
        retry::after_attempts(failed.error, failed.attempts.made)
    }
}

/// Sends `req` and checks the reply: 2xx passes, the rest are typed errors about `key`,
/// retried as the store's policy says.
pub async fn call(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>) -> Result<Response, Error> {
    counted(settings, req, body, key, async |resp| Ok(resp)).await.map_err(Error::from)
}

/// [`call`], reading the reply's body (up to `limit` bytes) as part of the attempt: a body
/// cut short is retried like a failed request. So is a 200 whose body is an S3 `<Error>`
/// (CopyObject and CompleteMultipartUpload fail that way after they started answering):
/// it is that error, `InternalError` or `SlowDown` retried as if the status had said so.
pub async fn call_read(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>, limit: u64) -> Result<Reply, Error> {
    call_parsed(settings, req, body, key, limit, Ok).await
}

/// [`call_read`], the reply then made sense of by `parse` inside the attempt too: a reply
/// it can't read (cut off, garbled) is retried like a failed request.
pub async fn call_parsed<T>(
    settings: &Settings,
    req: &S3Request,
    body: Option<&[u8]>,
    key: Option<&str>,
    limit: u64,
    parse: impl Fn(Reply) -> Result<T, Error>,
) -> Result<T, Error> {
    counted(settings, req, body, key, async |resp| {
        let (status, request_id, version_id) = (resp.status, resp.header("x-amz-request-id").map(str::to_string), version_id(&resp));
        let reply = Reply { request_id, version_id, body: verify::read_all(resp, limit).await? };
        let text = reply.text();
        if xml::is_error_document(&text) {
            let e = xml::parse_error(&text).map_err(transport)?.unwrap_or_default();
            return Err(errors::classify(ServiceError { status, code: e.code, message: e.message, request_id: e.request_id.or(reply.request_id.clone()) }));
        }
        parse(reply)
    })
    .await
    .map_err(Error::from)
}

/// Sends `req` with retries, handing each 2xx reply to `take` inside the attempt (its
/// failures are retried too). The failure keeps its attempts.
pub async fn counted<T>(
    settings: &Settings,
    req: &S3Request,
    body: Option<&[u8]>,
    key: Option<&str>,
    take: impl AsyncFn(Response) -> Result<T, Error>,
) -> Result<T, Failed> {
    let taken = std::cell::Cell::new(None);
    run(settings, req, body, key, &|resp| Box::pin(async { take(resp).await.map(|value| taken.set(Some(value))) })).await?;
    taken.into_inner().ok_or_else(|| Failed { error: transport("no reply was taken"), attempts: Attempts::default() })
}

/// What an attempt does with a 2xx reply (read it, keep it), as a future: dynamic, so one
/// copy of the retry loop serves every request, which keeps the component small.
type Take<'a> = &'a dyn Fn(Response) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + 'a>>;

/// The loop behind every single request. The policy decides each next step.
async fn run(settings: &Settings, req: &S3Request, body: Option<&[u8]>, key: Option<&str>, take: Take<'_>) -> Result<(), Failed> {
    let signed_with = SignedWith::default();
    let attempt = async || match send(settings, req, body, &signed_with).await {
        Ok(resp) => {
            let retry_after = resp.header("retry-after").and_then(retry::parse_retry_after);
            let result = match check(resp, key).await {
                Ok(resp) => take(resp).await,
                Err(e) => Err(e),
            };
            (result, retry_after)
        }
        Err(e) => (Err(e), None),
    };
    retry::run(&settings.retry, attempt, &|| settings.credentials.invalidate(signed_with.borrow().as_ref()), time::sleep)
        .await
        .map_err(|(error, attempts)| Failed { error, attempts })
}

/// The credentials the last attempt was signed with: an `ExpiredToken` forgets those, and
/// not fresher ones another request has fetched meanwhile.
pub type SignedWith = RefCell<Option<Rc<Credentials>>>;

/// Signs and sends `req` with `body` (none for bodiless requests), once; what signed it
/// goes into `signed_with`.
pub async fn send(settings: &Settings, req: &S3Request, body: Option<&[u8]>, signed_with: &SignedWith) -> Result<Response, Error> {
    let (request, body) = prepare(settings, req, body, signed_with).await?;
    http::send(request, body).await
}

/// One PutObject of exactly `size` bytes of `source`, spliced by the host (the bytes never
/// enter the component), checked like any reply. Not retried: a stream can't be replayed.
pub async fn send_spliced(settings: &Settings, req: &S3Request, source: InputStream, size: u64, key: &str) -> Result<Response, Error> {
    let mut headers = req.headers.clone();
    headers.push(("content-length".into(), size.to_string()));
    let request = signed_request(settings, req, headers, signing::Payload::Unsigned, &SignedWith::default()).await?;
    check(http::send_spliced(request, source, size).await?, Some(key)).await
}

/// The CRC an `upload-checksum` mode puts on upload bodies.
pub fn upload_crc(mode: UploadChecksum) -> Option<Algorithm> {
    match mode {
        UploadChecksum::Crc64nvme => Some(Algorithm::Crc64Nvme),
        UploadChecksum::Crc32c => Some(Algorithm::Crc32c),
        _ => None,
    }
}

/// `req` with its Content-Length and signature, ready to send.
async fn prepare<'a, 'b>(
    settings: &'a Settings,
    req: &'a S3Request,
    body: Option<&'b [u8]>,
    signed_with: &SignedWith,
) -> Result<(http::Request<'a>, Option<&'b [u8]>), Error> {
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
        (true, mode @ (UploadChecksum::Crc64nvme | UploadChecksum::Crc32c), Some(body)) => {
            if let Some(alg) = upload_crc(mode) {
                // A part's CRC is computed once by its upload (it is needed again at the end).
                // The header alone: not the SDKs' `x-amz-sdk-checksum-algorithm`, which B2
                // refuses and S3 does not need to check the value.
                if !headers.iter().any(|(name, _)| name == alg.header()) {
                    headers.push((alg.header().into(), alg.encode(alg.checksum(body))));
                }
            }
            signing::Payload::Unsigned
        }
        (true, UploadChecksum::None, _) => signing::Payload::Unsigned,
        (_, _, body) => signing::Payload::Signed(body.unwrap_or_default()),
    };
    Ok((signed_request(settings, req, headers, payload, signed_with).await?, body))
}

/// `req` with `headers` (Content-Length among them) and their SigV4 signature, for the
/// store's endpoint with its timeouts.
async fn signed_request<'a>(
    settings: &'a Settings,
    req: &'a S3Request,
    mut headers: Vec<(String, String)>,
    payload: signing::Payload<'_>,
    signed_with: &SignedWith,
) -> Result<http::Request<'a>, Error> {
    let url = request::url(settings, &req.path_and_query);
    let credentials = settings.credentials.current().await?;
    let signed = signing::sign_headers(&credentials.identity(), &settings.region, SystemTime::now(), req.method, &url, &headers, payload)?;
    *signed_with.borrow_mut() = Some(credentials);
    headers.extend(signed);
    Ok(http::Request {
        https: settings.https,
        authority: &settings.authority,
        method: req.method,
        path_and_query: &req.path_and_query,
        headers,
        timeouts: settings.timeouts,
    })
}

/// A presigned URL for `method` on `path_and_query`, with `headers` bound into it.
pub async fn presign(settings: &Settings, method: &str, path_and_query: &str, headers: &[(String, String)], expires_in: u64) -> Result<String, Error> {
    let url = request::url(settings, path_and_query);
    signing::presign(&settings.credentials.current().await?.identity(), &settings.region, SystemTime::now(), method, &url, headers, expires_in)
}

/// Passes 2xx responses; turns the rest into typed errors about `key`: the one place an
/// error reply is classified.
pub async fn check(resp: Response, key: Option<&str>) -> Result<Response, Error> {
    let head = resp.is_head();
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    let status = resp.status;
    let request_id = resp.header("x-amz-request-id").map(str::to_string);
    let region = resp.header("x-amz-bucket-region").map(str::to_string);
    let object_size = resp.header("content-range").and_then(request::unsatisfied_range_size);
    // An unreadable error body still leaves the status to report.
    let body = verify::read_all(resp, MAX_ERROR_BODY).await.unwrap_or_default();
    Err(errors::from_response(status, &body, request_id, region, Context { key, head, object_size }))
}

/// The version a reply names (`x-amz-version-id`; S3 says `null` for an unversioned one).
pub fn version_id(resp: &Response) -> Option<String> {
    resp.header("x-amz-version-id").filter(|v| !v.is_empty() && *v != "null").map(str::to_string)
}

/// Reads and drops the body of a successful response we don't need, so the connection can
/// finish cleanly. The operation already succeeded: a failure here changes nothing.
pub async fn drain(resp: Response) {
    let _ = verify::read_all(resp, MAX_ERROR_BODY).await;
}
