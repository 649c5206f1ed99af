//! The shape of each S3 request: method, path and query, headers. No I/O, no signing.

use crate::checksums::Algorithm;
use crate::config::Settings;
use crate::error::{Error, invalid_argument};
use crate::keys::{encode_path, encode_query};
use crate::precondition;
use crate::rules;
use crate::types::{Attributes, ByteRange, PutOptions, ReadConditions, Replacement, Span, WriteCondition};

pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
pub const METADATA_HEADER_PREFIX: &str = "x-amz-meta-";
/// The most an upload id, continuation token or marker a server sends may be: each goes
/// into a later request's URL (S3's are a few hundred bytes). Past it the reply is broken,
/// not a URL too long for the host. (A caller's upload id: `rules::upload_id`.)
const MAX_TOKEN_BYTES: usize = rules::MAX_UPLOAD_ID_BYTES;

/// A server's token for the URL: `what` names it, for the error.
fn token<'a>(value: &'a str, what: &str) -> Result<&'a str, Error> {
    if value.len() > MAX_TOKEN_BYTES {
        return Err(crate::error::transport(format!("the server's {what} is {} bytes; at most {MAX_TOKEN_BYTES} are accepted", value.len())));
    }
    Ok(value)
}

pub struct S3Request {
    pub method: &'static str,
    /// Percent-encoded path and query, as sent and as signed.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    /// The body is object data (PutObject, UploadPart): it gets the store's upload checksum.
    /// Other bodies are small XML and always have their SHA-256 signed.
    pub object_data: bool,
}

/// Never shows a customer key (SSE-C): those headers are redacted.
impl std::fmt::Debug for S3Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(k, v)| (k.as_str(), if k.ends_with("customer-key") { "** redacted **" } else { v.as_str() })).collect();
        f.debug_struct("S3Request").field("method", &self.method).field("path_and_query", &self.path_and_query).field("headers", &headers).finish()
    }
}

impl S3Request {
    fn new(method: &'static str, path_and_query: String) -> Self {
        Self { method, path_and_query, headers: Vec::new(), object_data: false }
    }
}

/// The full URL of a request: what gets signed.
pub fn url(settings: &Settings, path_and_query: &str) -> String {
    let scheme = if settings.https { "https" } else { "http" };
    format!("{scheme}://{}{path_and_query}", settings.authority)
}

pub fn object_path(settings: &Settings, full_key: &str) -> String {
    format!("{}/{}", settings.bucket_path, encode_path(full_key))
}

pub fn put_object(settings: &Settings, full_key: &str, options: &PutOptions) -> Result<S3Request, Error> {
    let mut req = S3Request::new("PUT", object_path(settings, full_key));
    req.headers = object_headers(options.content_type.as_deref(), &options.metadata, &options.attributes, &options.tags)?;
    req.headers.extend(condition_headers(options.condition.as_ref())?);
    req.headers.extend(settings.encryption.write_headers());
    req.object_data = true;
    Ok(req)
}

/// The headers that make a PutObject or CompleteMultipartUpload conditional.
pub fn condition_headers(condition: Option<&WriteCondition>) -> Result<Vec<(String, String)>, Error> {
    match condition {
        None => Ok(Vec::new()),
        Some(WriteCondition::IfAbsent) => Ok(vec![("if-none-match".into(), "*".into())]),
        Some(WriteCondition::IfMatch(etag)) => {
            let bare = rules::etag(etag).map_err(|why| invalid_argument(format!("if-match {why}")))?;
            Ok(vec![("if-match".into(), format!("\"{bare}\""))])
        }
    }
}

/// Content type, metadata and attributes, as PutObject, CreateMultipartUpload and a
/// replacing CopyObject take them.
fn object_headers(
    content_type: Option<&str>,
    metadata: &[(String, String)],
    attributes: &Attributes,
    tags: &[(String, String)],
) -> Result<Vec<(String, String)>, Error> {
    let content_type = content_type.unwrap_or(DEFAULT_CONTENT_TYPE);
    check_content_type(content_type)?;
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    headers.extend(metadata_headers(metadata)?);
    headers.extend(attribute_headers(attributes)?);
    rules::tags(tags).map_err(invalid_argument)?;
    if !tags.is_empty() {
        // A query string of the tags, as S3 wants them in one header.
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{}={}", encode_query(k), encode_query(v))).collect();
        headers.push(("x-amz-tagging".to_string(), pairs.join("&")));
    }
    Ok(headers)
}

/// The headers S3 stores `attributes` from, each checked to be a header value we may send.
pub fn attribute_headers(attributes: &Attributes) -> Result<Vec<(String, String)>, Error> {
    let Attributes { cache_control, content_disposition, content_encoding, content_language, expires, storage_class } = attributes;
    let texts = [
        ("cache-control", cache_control),
        ("content-disposition", content_disposition),
        ("content-encoding", content_encoding),
        ("content-language", content_language),
        ("x-amz-storage-class", storage_class),
    ];
    let mut headers = Vec::new();
    for (name, value) in texts {
        if let Some(value) = value {
            rules::header_text(value).map_err(|why| invalid_argument(format!("{name} {why}")))?;
            headers.push((name.to_string(), value.clone()));
        }
    }
    if let Some(when) = expires {
        headers.push(("expires".to_string(), http_date(when)?));
    }
    Ok(headers)
}

/// An HTTP date (RFC 9110's IMF-fixdate), as `Expires` and `If-Modified-Since` want it.
fn http_date(when: &crate::sys::time::Datetime) -> Result<String, Error> {
    let secs = i64::try_from(when.seconds).map_err(|_| invalid_argument("a date past the year 292 billion"))?;
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::HttpDate)
        .map_err(|_| invalid_argument(format!("the date {secs} s after 1970 can't be written as an HTTP date")))
}

pub fn create_multipart_upload(settings: &Settings, full_key: &str, options: &PutOptions) -> Result<S3Request, Error> {
    let mut req = S3Request::new("POST", format!("{}?uploads", object_path(settings, full_key)));
    req.headers = object_headers(options.content_type.as_deref(), &options.metadata, &options.attributes, &options.tags)?;
    req.headers.extend(settings.encryption.write_headers());
    Ok(req)
}

pub fn upload_part(settings: &Settings, full_key: &str, upload_id: &str, part_number: u32) -> S3Request {
    let mut req = S3Request::new("PUT", format!("{}?partNumber={part_number}&uploadId={}", object_path(settings, full_key), encode_query(upload_id)));
    req.headers = settings.encryption.key_headers_for_bytes();
    req.object_data = true;
    req
}

pub fn complete_multipart_upload(settings: &Settings, full_key: &str, upload_id: &str, condition: Option<&WriteCondition>) -> Result<S3Request, Error> {
    let mut req = S3Request::new("POST", format!("{}?uploadId={}", object_path(settings, full_key), encode_query(upload_id)));
    req.headers.push(("content-type".into(), "application/xml".into()));
    req.headers.extend(condition_headers(condition)?);
    Ok(req)
}

/// The `Content-MD5` header value for `body`: its MD5, base64-encoded.
pub fn content_md5(body: &[u8]) -> String {
    use md5::Digest;
    aws_smithy_types::base64::encode(md5::Md5::digest(body))
}

/// CompleteMultipartUpload's body: every part's number and ETag, in order, and with `crcs`
/// each part's CRC (as the SDKs send it; a service may check it against what it stored).
pub fn complete_multipart_body(parts: &[(u32, String)], crcs: Option<(Algorithm, &[u64])>) -> String {
    let mut xml = String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (i, (number, etag)) in parts.iter().enumerate() {
        let crc = match crcs.and_then(|(alg, each)| Some((alg, *each.get(i)?))) {
            Some((alg, crc)) => format!("<{tag}>{}</{tag}>", alg.encode(crc), tag = alg.xml_tag()),
            None => String::new(),
        };
        xml.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag>{crc}</Part>", quick_xml::escape::escape(etag.as_str())));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// ListMultipartUploads, from the given markers (the server's).
pub fn list_multipart_uploads(settings: &Settings, full_prefix: &str, key_marker: Option<&str>, upload_id_marker: Option<&str>) -> Result<S3Request, Error> {
    let mut query = String::new();
    if let Some(marker) = key_marker {
        query.push_str(&format!("key-marker={}&", encode_query(token(marker, "key marker")?)));
    }
    if !full_prefix.is_empty() {
        query.push_str(&format!("prefix={}&", encode_query(full_prefix)));
    }
    if let Some(marker) = upload_id_marker {
        query.push_str(&format!("upload-id-marker={}&", encode_query(token(marker, "upload id marker")?)));
    }
    query.push_str("uploads");
    Ok(S3Request::new("GET", format!("{}/?{query}", settings.bucket_path)))
}

/// AbortMultipartUpload of a caller's (or our own) upload.
pub fn abort_multipart_upload(settings: &Settings, full_key: &str, upload_id: &str) -> Result<S3Request, Error> {
    rules::upload_id(upload_id).map_err(invalid_argument)?;
    Ok(S3Request::new("DELETE", format!("{}?uploadId={}", object_path(settings, full_key), encode_query(upload_id))))
}

/// The upload id a CreateMultipartUpload reply gave, fit for the URLs of the parts.
pub fn upload_id(upload_id: String) -> Result<String, Error> {
    token(&upload_id, "upload id")?;
    Ok(upload_id)
}

/// An object's path, for one version of it when `version_id` says.
fn version_path(settings: &Settings, full_key: &str, version_id: Option<&str>) -> Result<String, Error> {
    let path = object_path(settings, full_key);
    match version_id {
        None => Ok(path),
        Some(id) => {
            rules::version_id(id).map_err(invalid_argument)?;
            Ok(format!("{path}?versionId={}", encode_query(id)))
        }
    }
}

pub fn get_object(
    settings: &Settings,
    full_key: &str,
    range: Option<&ByteRange>,
    conditions: &ReadConditions,
    version_id: Option<&str>,
) -> Result<S3Request, Error> {
    let mut req = S3Request::new("GET", version_path(settings, full_key, version_id)?);
    match range {
        Some(range) => req.headers.push(("range".into(), range_header(range)?)),
        // Ask for the object's full checksum, to check the body against (crate::verify).
        None => req.headers.push(("x-amz-checksum-mode".into(), "ENABLED".into())),
    }
    req.headers.extend(read_condition_headers(conditions)?);
    req.headers.extend(settings.encryption.key_headers_for_bytes());
    Ok(req)
}

/// HTTP's conditional request headers for a GET or HEAD.
pub fn read_condition_headers(conditions: &ReadConditions) -> Result<Vec<(String, String)>, Error> {
    let ReadConditions { if_match, if_none_match, if_modified_since, if_unmodified_since } = conditions;
    let mut headers = Vec::new();
    for (name, list) in [("if-match", if_match), ("if-none-match", if_none_match)] {
        if let Some(list) = list {
            headers.push((name.to_string(), precondition::etag_list(list).map_err(|why| invalid_argument(format!("{name} {why}")))?.join(", ")));
        }
    }
    for (name, when) in [("if-modified-since", if_modified_since), ("if-unmodified-since", if_unmodified_since)] {
        if let Some(when) = when {
            headers.push((name.to_string(), http_date(when)?));
        }
    }
    Ok(headers)
}

/// HTTP's inclusive `bytes=` form of a byte range.
pub fn range_header(range: &ByteRange) -> Result<String, Error> {
    match *range {
        ByteRange::Span(Span { start, end }) if start < end => Ok(format!("bytes={start}-{}", end - 1)),
        ByteRange::Span(Span { start, end }) => Err(invalid_argument(format!("range {start}..{end} is empty"))),
        ByteRange::StartingAt(start) => Ok(format!("bytes={start}-")),
        ByteRange::Last(0) => Err(invalid_argument("a range of the last 0 bytes is empty")),
        ByteRange::Last(n) => Ok(format!("bytes=-{n}")),
    }
}

/// `Content-Range: bytes START-END/TOTAL` as `(START..END+1, TOTAL)`; the total may be `*`.
pub fn parse_content_range(value: &str) -> Option<(Span, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let total = if total.trim() == "*" { None } else { Some(total.trim().parse().ok()?) };
    (start <= end).then_some((Span { start, end: end.checked_add(1)? }, total))
}

/// The size in `Content-Range: bytes */SIZE`, the form of a 416 reply.
pub fn unsatisfied_range_size(value: &str) -> Option<u64> {
    value.trim().strip_prefix("bytes */")?.trim().parse().ok()
}

pub fn head_object(settings: &Settings, full_key: &str, conditions: &ReadConditions, version_id: Option<&str>) -> Result<S3Request, Error> {
    let mut req = S3Request::new("HEAD", version_path(settings, full_key, version_id)?);
    req.headers = read_condition_headers(conditions)?;
    req.headers.extend(settings.encryption.key_headers_for_bytes());
    Ok(req)
}

/// GetObjectTagging.
pub fn get_object_tagging(settings: &Settings, full_key: &str, version_id: Option<&str>) -> Result<S3Request, Error> {
    let path = version_path(settings, full_key, version_id)?;
    let sep = if path.contains('?') { '&' } else { '?' };
    Ok(S3Request::new("GET", format!("{path}{sep}tagging")))
}

pub fn delete_object(settings: &Settings, full_key: &str) -> S3Request {
    S3Request::new("DELETE", object_path(settings, full_key))
}

pub fn delete_object_version(settings: &Settings, full_key: &str, version_id: &str) -> Result<S3Request, Error> {
    Ok(S3Request::new("DELETE", version_path(settings, full_key, Some(version_id))?))
}

/// ListObjectVersions, from `markers` (the server's key and version-id markers, joined as
/// `xml::ListPage` keeps them).
pub fn list_object_versions(settings: &Settings, list: &ListQuery, markers: Option<&str>, max_keys: u32) -> Result<S3Request, Error> {
    let (key_marker, version_marker) = match markers {
        Some(m) => {
            let (key, version) = m.split_once('\0').unwrap_or((m, ""));
            (Some(token(key, "key marker")?), Some(token(version, "version id marker")?).filter(|v| !v.is_empty()))
        }
        // Where to start, as a key.
        None => (list.start_after, None),
    };
    // Parameters in canonical (sorted) order.
    let mut query = String::new();
    if let Some(delimiter) = list.delimiter {
        query.push_str(&format!("delimiter={}&", encode_query(delimiter)));
    }
    if let Some(key) = key_marker {
        query.push_str(&format!("key-marker={}&", encode_query(key)));
    }
    query.push_str(&format!("max-keys={max_keys}&"));
    if !list.full_prefix.is_empty() {
        query.push_str(&format!("prefix={}&", encode_query(list.full_prefix)));
    }
    if let Some(version) = version_marker {
        query.push_str(&format!("version-id-marker={}&", encode_query(version)));
    }
    query.push_str("versions");
    Ok(S3Request::new("GET", format!("{}/?{query}", settings.bucket_path)))
}

/// DeleteObjects for `full_keys` (at most 1,000), in quiet mode: the reply lists only the
/// keys that failed. S3 requires a Content-MD5 (or checksum) of the body.
pub fn delete_objects(settings: &Settings, full_keys: &[String]) -> (S3Request, String) {
    let mut body = String::from("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
    for key in full_keys {
        body.push_str(&format!("<Object><Key>{}</Key></Object>", quick_xml::escape::escape(key.as_str())));
    }
    body.push_str("</Delete>");
    let mut req = S3Request::new("POST", format!("{}/?delete", settings.bucket_path));
    req.headers.push(("content-type".into(), "application/xml".into()));
    req.headers.push(("content-md5".into(), content_md5(body.as_bytes())));
    (req, body)
}

/// ListObjectsV2. Without `encoding-type=url`: s3s-fs announces that encoding but sends
/// keys unencoded, which would corrupt keys containing `%`; our keys never hold the
/// control characters that encoding exists for.
/// What a ListObjectsV2 request asks for, besides the page's place.
pub struct ListQuery<'a> {
    pub full_prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// A full key: only keys after it (the first request; the token carries on from there).
    pub start_after: Option<&'a str>,
}

pub fn list_objects_v2(settings: &Settings, list: &ListQuery, continuation_token: Option<&str>, max_keys: u32) -> Result<S3Request, Error> {
    // Parameters in canonical (sorted) order; aws-sigv4 sorts anyway.
    let mut query = String::new();
    if let Some(next) = continuation_token {
        query.push_str(&format!("continuation-token={}&", encode_query(token(next, "continuation token")?)));
    }
    if let Some(delimiter) = list.delimiter {
        query.push_str(&format!("delimiter={}&", encode_query(delimiter)));
    }
    query.push_str(&format!("list-type=2&max-keys={max_keys}"));
    if !list.full_prefix.is_empty() {
        query.push_str(&format!("&prefix={}", encode_query(list.full_prefix)));
    }
    if let Some(after) = list.start_after.filter(|_| continuation_token.is_none()) {
        query.push_str(&format!("&start-after={}", encode_query(after)));
    }
    Ok(S3Request::new("GET", format!("{}/?{query}", settings.bucket_path)))
}

/// The bucket itself: `/bucket` path-style, `/` on the bucket's own host.
fn bucket_root(settings: &Settings) -> String {
    if settings.bucket_path.is_empty() { "/".into() } else { settings.bucket_path.clone() }
}

/// CreateBucket. Outside us-east-1, S3 wants the region named in the body (and refuses
/// it named there for us-east-1).
pub fn create_bucket(settings: &Settings) -> (S3Request, String) {
    let body = match settings.region.as_str() {
        "us-east-1" => String::new(),
        region => format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            quick_xml::escape::escape(region)
        ),
    };
    (S3Request::new("PUT", bucket_root(settings)), body)
}

pub fn delete_bucket(settings: &Settings) -> S3Request {
    S3Request::new("DELETE", bucket_root(settings))
}

/// Server-side copy: `x-amz-metadata-directive: COPY` keeps content type, metadata and
/// attributes; `REPLACE` stores `replace`'s instead. With `source_etag`, only of that very
/// object.
pub fn copy_object(
    settings: &Settings,
    source_full_key: &str,
    destination_full_key: &str,
    replace: Option<&Replacement>,
    source_etag: Option<&str>,
) -> Result<S3Request, Error> {
    let mut req = S3Request::new("PUT", object_path(settings, destination_full_key));
    req.headers.push(("x-amz-copy-source".into(), copy_source(settings, source_full_key)));
    if let Some(etag) = source_etag {
        req.headers.push(("x-amz-copy-source-if-match".into(), etag.to_string()));
    }
    match replace {
        None => req.headers.push(("x-amz-metadata-directive".into(), "COPY".into())),
        Some(new) => {
            req.headers.push(("x-amz-metadata-directive".into(), "REPLACE".into()));
            req.headers.push(("x-amz-tagging-directive".into(), "REPLACE".into()));
            req.headers.extend(object_headers(new.content_type.as_deref(), &new.metadata, &new.attributes, &new.tags)?);
        }
    }
    req.headers.extend(settings.encryption.write_headers());
    req.headers.extend(settings.encryption.copy_source_headers());
    Ok(req)
}

/// `x-amz-copy-source`: the source's bucket and key (always this store's bucket).
fn copy_source(settings: &Settings, source_full_key: &str) -> String {
    format!("/{}/{}", settings.bucket, encode_path(source_full_key))
}

/// UploadPartCopy of `range` (`start..end`) of the source, if it is still the object with
/// `source_etag` (a copy must not mix two versions of it).
pub fn upload_part_copy(
    settings: &Settings,
    source_full_key: &str,
    source_etag: &str,
    full_key: &str,
    upload_id: &str,
    part_number: u32,
    range: Span,
) -> S3Request {
    let mut req = S3Request::new("PUT", format!("{}?partNumber={part_number}&uploadId={}", object_path(settings, full_key), encode_query(upload_id)));
    req.headers.push(("x-amz-copy-source".into(), copy_source(settings, source_full_key)));
    req.headers.push(("x-amz-copy-source-if-match".into(), source_etag.to_string()));
    req.headers.push(("x-amz-copy-source-range".into(), format!("bytes={}-{}", range.start, range.end - 1)));
    req.headers.extend(settings.encryption.key_headers_for_bytes());
    req.headers.extend(settings.encryption.copy_source_headers());
    req
}

pub fn check_content_type(content_type: &str) -> Result<(), Error> {
    rules::content_type(content_type).map_err(invalid_argument)
}

/// `x-amz-meta-*` headers. Names are lower-cased (S3 does so anyway). Values that aren't
/// plain printable ASCII are sent RFC 2047-encoded (`=?UTF-8?B?...?=`), as AWS documents
/// for non-ASCII metadata (see `rules::METADATA_MARK` for the ASCII ones);
/// `decode_metadata_value` undoes it on the way back.
pub fn metadata_headers(metadata: &[(String, String)]) -> Result<Vec<(String, String)>, Error> {
    let names = rules::metadata_names(metadata).map_err(invalid_argument)?;
    let mut total = 0;
    let headers: Vec<(String, String)> = names
        .into_iter()
        .zip(metadata)
        .map(|(name, (_, value))| {
            let value = encode_metadata_value(value);
            total += name.len() + value.len();
            (format!("{METADATA_HEADER_PREFIX}{name}"), value)
        })
        .collect();
    rules::metadata_size(total).map_err(invalid_argument)?;
    Ok(headers)
}

fn encode_metadata_value(value: &str) -> String {
    if rules::metadata_value_is_plain(value) {
        return value.to_string();
    }
    let text = match rules::metadata_value_is_marked(value) {
        true => format!("{}{value}", rules::METADATA_MARK),
        false => value.to_string(),
    };
    format!("=?UTF-8?B?{}?=", aws_smithy_types::base64::encode(text))
}

/// The value `put` wrote, from what the server returns: RFC 2047 encoded words (one, or
/// several when a server re-encodes a long value) decoded, then the mark dropped (also
/// from a server that decoded the word and returns its UTF-8 raw). Values that are not
/// wholly encoded words are otherwise returned as they are.
pub fn decode_metadata_value(value: &str) -> String {
    let text = decode_encoded_words(value).unwrap_or_else(|| value.to_string());
    match text.strip_prefix(rules::METADATA_MARK) {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// The text of `value` if it is nothing but RFC 2047 encoded words in UTF-8 (or US-ASCII),
/// `B` or `Q`, separated by white space (which RFC 2047 drops between encoded words).
fn decode_encoded_words(value: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut words = value.split_ascii_whitespace().peekable();
    words.peek()?;
    for word in words {
        let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
        let (charset, rest) = inner.split_once('?')?;
        let (encoding, text) = rest.split_once('?')?;
        // RFC 2231 lets the charset carry a language: `UTF-8*en`.
        let charset = charset.split('*').next()?;
        if !(charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii")) {
            return None;
        }
        match encoding {
            "B" | "b" => bytes.extend(aws_smithy_types::base64::decode(text).ok()?),
            "Q" | "q" => {
                let mut raw = text.bytes();
                while let Some(b) = raw.next() {
                    bytes.push(match b {
                        b'_' => b' ',
                        b'=' => {
                            let mut digit = || char::from(raw.next()?).to_digit(16);
                            u8::try_from(digit()? * 16 + digit()?).ok()?
                        }
                        b => b,
                    });
                }
            }
            _ => return None,
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_length_rule_is_the_encodings_length() {
        for value in ["plain", "", " padded ", "ü", "a\nb", "=?x?=", "😀😀😀😀"] {
            assert_eq!(rules::metadata_value_len(value), encode_metadata_value(value).len(), "{value:?}");
        }
    }
    use crate::config::{Env, resolve};

    fn settings(endpoint: Option<&str>) -> Settings {
        let mut config = crate::config::tests::config("bkt");
        config.endpoint_url = endpoint.map(str::to_string);
        resolve(config, &Env(&[])).unwrap()
    }

    #[test]
    fn content_md5_is_base64_of_the_digest() {
        // RFC 1321's test vectors, base64-encoded as RFC 1864 wants.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"abc"), "kAFQmDzST7DWlj99KOF/cg==");
    }

    #[test]
    fn bucket_requests_for_both_addressing_styles_and_regions() {
        let path = settings(Some("http://localhost:9000"));
        let (req, body) = create_bucket(&path);
        assert_eq!((req.method, req.path_and_query.as_str(), body.as_str()), ("PUT", "/bkt", ""));
        assert_eq!((delete_bucket(&path).method, delete_bucket(&path).path_and_query.as_str()), ("DELETE", "/bkt"));
        let mut vhost = settings(None);
        assert_eq!(create_bucket(&vhost).0.path_and_query, "/");
        assert_eq!(delete_bucket(&vhost).path_and_query, "/");
        // Outside us-east-1 the region goes in the body (S3 refuses it named for us-east-1).
        vhost.region = "eu-west-1".into();
        let (_, body) = create_bucket(&vhost);
        assert_eq!(
            body,
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"
        );
    }

    #[test]
    fn urls_for_both_addressing_styles() {
        let path = settings(Some("http://localhost:9000"));
        assert_eq!(url(&path, &object_path(&path, "a b/ü")), "http://localhost:9000/bkt/a%20b/%C3%BC");
        let vhost = settings(None);
        assert_eq!(url(&vhost, &object_path(&vhost, "k+1")), "https://bkt.s3.us-east-1.amazonaws.com/k%2B1");
    }

    #[test]
    fn list_query_is_sorted_and_encoded() {
        let s = settings(Some("http://h:1"));
        assert_eq!(
            list_objects_v2(&s, &plain("p/a b"), Some("tok+/="), 1000).unwrap().path_and_query,
            "/bkt/?continuation-token=tok%2B%2F%3D&list-type=2&max-keys=1000&prefix=p%2Fa%20b"
        );
        assert_eq!(list_objects_v2(&s, &plain(""), None, 5).unwrap().path_and_query, "/bkt/?list-type=2&max-keys=5");
        // A delimiter and where to start: start-after only on the first page.
        let folders = ListQuery { full_prefix: "p/", delimiter: Some("/"), start_after: Some("p/b c") };
        assert_eq!(
            list_objects_v2(&s, &folders, None, 9).unwrap().path_and_query,
            "/bkt/?delimiter=%2F&list-type=2&max-keys=9&prefix=p%2F&start-after=p%2Fb%20c"
        );
        assert_eq!(
            list_objects_v2(&s, &folders, Some("t"), 9).unwrap().path_and_query,
            "/bkt/?continuation-token=t&delimiter=%2F&list-type=2&max-keys=9&prefix=p%2F"
        );
    }

    fn plain(full_prefix: &str) -> ListQuery<'_> {
        ListQuery { full_prefix, delimiter: None, start_after: None }
    }

    #[test]
    fn ranges_become_inclusive_http_ranges() {
        assert_eq!(range_header(&ByteRange::Span(Span { start: 0, end: 10 })).unwrap(), "bytes=0-9");
        assert_eq!(range_header(&ByteRange::StartingAt(5)).unwrap(), "bytes=5-");
        assert_eq!(range_header(&ByteRange::Last(3)).unwrap(), "bytes=-3");
        assert!(matches!(range_header(&ByteRange::Span(Span { start: 4, end: 4 })), Err(Error::InvalidArgument(_))));
        assert!(matches!(range_header(&ByteRange::Span(Span { start: 5, end: 4 })), Err(Error::InvalidArgument(_))));
        assert!(matches!(range_header(&ByteRange::Last(0)), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn content_range_parsing() {
        let (span, total) = parse_content_range("bytes 0-9/100").unwrap();
        assert_eq!((span.start, span.end, total), (0, 10, Some(100)));
        assert_eq!(parse_content_range("bytes 5-5/*").map(|(s, t)| (s.start, s.end, t)), Some((5, 6, None)));
        for bad in ["bytes 9-0/10", "bytes x-1/2", "items 0-1/2", "bytes 0-18446744073709551615/1", ""] {
            assert!(parse_content_range(bad).is_none(), "{bad}");
        }
        assert_eq!(unsatisfied_range_size("bytes */42"), Some(42));
        assert_eq!(unsatisfied_range_size("bytes 0-1/2"), None);
    }

    #[test]
    fn multipart_requests() {
        let s = settings(Some("http://h:1"));
        assert_eq!(create_multipart_upload(&s, "a b", &PutOptions::default()).unwrap().path_and_query, "/bkt/a%20b?uploads");
        assert_eq!(upload_part(&s, "k", "id/+=", 7).path_and_query, "/bkt/k?partNumber=7&uploadId=id%2F%2B%3D");
        assert_eq!(abort_multipart_upload(&s, "k", "x").unwrap().method, "DELETE");
        let body = complete_multipart_body(&[(1, "\"a&b\"".into()), (2, "\"c\"".into())], None);
        assert!(body.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;a&amp;b&quot;</ETag></Part><Part><PartNumber>2</PartNumber>"), "{body}");
        let body = complete_multipart_body(&[(1, "\"e\"".into())], Some((Algorithm::Crc64Nvme, &[0])));
        assert!(body.contains("<ETag>&quot;e&quot;</ETag><ChecksumCRC64NVME>AAAAAAAAAAA=</ChecksumCRC64NVME></Part>"), "{body}");
    }

    #[test]
    fn copy_source_is_bucket_and_encoded_key() {
        let s = settings(Some("http://h:1"));
        let req = copy_object(&s, "a?b#c", "d", None, None).unwrap();
        assert!(req.headers.contains(&("x-amz-copy-source".to_string(), "/bkt/a%3Fb%23c".to_string())));
        assert!(req.headers.contains(&("x-amz-metadata-directive".to_string(), "COPY".to_string())));
        assert_eq!(req.path_and_query, "/bkt/d");
        let new = Replacement {
            content_type: Some("text/plain".into()),
            metadata: vec![("a".into(), "b".into())],
            attributes: Attributes { cache_control: Some("no-cache".into()), ..Default::default() },
            tags: vec![("team".into(), "a b+c".into())],
        };
        let req = copy_object(&s, "a", "d", Some(&new), Some("\"e\"")).unwrap();
        for header in [
            ("x-amz-metadata-directive", "REPLACE"),
            ("x-amz-tagging-directive", "REPLACE"),
            ("content-type", "text/plain"),
            ("x-amz-meta-a", "b"),
            ("cache-control", "no-cache"),
            ("x-amz-tagging", "team=a%20b%2Bc"),
        ] {
            assert!(req.headers.contains(&(header.0.to_string(), header.1.to_string())), "{header:?}");
        }
    }

    #[test]
    fn metadata_is_lowercased_and_unicode_round_trips() {
        let h = metadata_headers(&[("Original-Name".into(), "résumé 😀.pdf".into()), ("plain".into(), "a b".into())]).unwrap();
        assert_eq!(h[0].0, "x-amz-meta-original-name");
        // Non-ASCII text is encoded as AWS documents, unmarked: other clients read it as is.
        assert_eq!(h[0].1, format!("=?UTF-8?B?{}?=", aws_smithy_types::base64::encode("résumé 😀.pdf")));
        assert_eq!(decode_metadata_value(&h[0].1), "résumé 😀.pdf");
        assert_eq!(h[1], ("x-amz-meta-plain".into(), "a b".into()));
        assert_eq!(decode_metadata_value("=?utf-8?b?not base64?="), "=?utf-8?b?not base64?=");
    }

    /// What a server that decodes encoded words on the way in and encodes non-ASCII values
    /// on the way out (AWS, s3s: in several words of at most 45 bytes) returns for `sent`.
    fn reencoding_server(sent: &str) -> String {
        let stored = decode_encoded_words(sent).unwrap_or_else(|| sent.to_string());
        if stored.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return stored;
        }
        let mut words = Vec::new();
        let mut rest = stored.as_str();
        while !rest.is_empty() {
            let mut end = rest.len().min(45);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            words.push(format!("=?UTF-8?B?{}?=", aws_smithy_types::base64::encode(&rest[..end])));
            rest = &rest[end..];
        }
        words.join(" ")
    }

    #[test]
    fn every_value_comes_back_as_written_from_either_kind_of_server() {
        let long = "ü".repeat(300);
        let values = [
            "plain",
            "a b",
            "",
            " lead",
            "trail ",
            "tab\there",
            "=?UTF-8?B?PHNjcmlwdD4=?=",
            "=?UTF-8?B?eA==?= =?UTF-8?Q?y?=",
            "=?",
            "x =?UTF-8?B?eA==?=",
            "a=?b",
            "\u{FEFF}",
            "\u{FEFF}x",
            "\u{FEFF}\u{FEFF}",
            "ü",
            " ü ",
            "日本語のファイル名.pdf",
            long.as_str(),
            "\u{FEFF}ü",
            "=?UTF-8?B?w7w=?=",
        ];
        for value in values {
            let sent = encode_metadata_value(value);
            assert_eq!(sent.len(), rules::metadata_value_len(value), "{value:?}");
            assert_eq!(decode_metadata_value(&sent), value, "stored as sent: {value:?}");
            assert_eq!(decode_metadata_value(&reencoding_server(&sent)), value, "re-encoded: {value:?}");
            let raw = decode_encoded_words(&sent).unwrap_or(sent.clone());
            assert_eq!(decode_metadata_value(&raw), value, "decoded, then returned as raw UTF-8: {value:?}");
        }
    }

    #[test]
    fn encoded_words_decode_in_b_and_q_and_several() {
        assert_eq!(decode_encoded_words("=?UTF-8?B?w7w=?= =?utf-8?q?_and=C3=BC?=").as_deref(), Some("ü andü"));
        assert_eq!(decode_encoded_words("=?UTF-8*en?B?eA==?=").as_deref(), Some("x"));
        for not in ["", " ", "x", "=?ISO-8859-1?B?/A==?=", "=?UTF-8?B?eA==?= x", "=?UTF-8?X?eA==?=", "=?UTF-8?Q?=Z?=", "=?UTF-8?B?/w==?="] {
            assert_eq!(decode_encoded_words(not), None, "{not:?}");
        }
    }

    #[test]
    fn bad_metadata_and_content_types_are_invalid_arguments() {
        for bad in [
            vec![("".to_string(), "v".to_string())],
            vec![("a b".into(), "v".into())],
            vec![("A".into(), "1".into()), ("a".into(), "2".into())],
            vec![("big".into(), "x".repeat(3000))],
        ] {
            assert!(matches!(metadata_headers(&bad), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
        let s = settings(Some("http://h:1"));
        let bad = PutOptions { content_type: Some("text/plain\r\nx: y".into()), ..Default::default() };
        assert!(matches!(put_object(&s, "k", &bad), Err(Error::InvalidArgument(_))));
        let ok = put_object(&s, "k", &PutOptions::default()).unwrap();
        assert!(ok.headers.contains(&("content-type".to_string(), DEFAULT_CONTENT_TYPE.to_string())));
    }

    #[test]
    fn conditions_become_headers() {
        assert_eq!(condition_headers(Some(&WriteCondition::IfAbsent)).unwrap(), [("if-none-match".to_string(), "*".to_string())]);
        for etag in ["abc-2", "\"abc-2\"", " \"abc-2\" "] {
            assert_eq!(condition_headers(Some(&WriteCondition::IfMatch(etag.into()))).unwrap(), [("if-match".to_string(), "\"abc-2\"".to_string())]);
        }
        for bad in ["", "\"\"", "a b", "a\"b", "é"] {
            assert!(matches!(condition_headers(Some(&WriteCondition::IfMatch(bad.into()))), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
        assert!(condition_headers(None).unwrap().is_empty());
    }

    #[test]
    fn attributes_become_headers_and_bad_ones_are_refused() {
        let attributes = Attributes {
            cache_control: Some("max-age=60".into()),
            content_disposition: Some("attachment; filename=\"a b.pdf\"".into()),
            content_encoding: Some("gzip".into()),
            content_language: Some("en-GB".into()),
            expires: Some(crate::sys::time::Datetime { seconds: 784_111_777, nanoseconds: 0 }),
            storage_class: Some("STANDARD_IA".into()),
        };
        let headers = attribute_headers(&attributes).unwrap();
        assert_eq!(
            headers,
            [
                ("cache-control".to_string(), "max-age=60".to_string()),
                ("content-disposition".into(), "attachment; filename=\"a b.pdf\"".into()),
                ("content-encoding".into(), "gzip".into()),
                ("content-language".into(), "en-GB".into()),
                ("x-amz-storage-class".into(), "STANDARD_IA".into()),
                ("expires".into(), "Sun, 06 Nov 1994 08:49:37 GMT".into()),
            ]
        );
        for bad in ["", "a\r\nx-amz-acl: public-read", "caf\u{e9}", &"x".repeat(1025)] {
            let attributes = Attributes { cache_control: Some(bad.to_string()), ..Default::default() };
            assert!(matches!(attribute_headers(&attributes), Err(Error::InvalidArgument(m)) if m.starts_with("cache-control")), "{bad:?}");
        }
    }

    #[test]
    fn read_conditions_become_http_headers() {
        let when = crate::sys::time::Datetime { seconds: 784_111_777, nanoseconds: 5 };
        let conditions = ReadConditions {
            if_match: Some("abc, \"def\"".into()),
            if_none_match: Some(" * ".into()),
            if_modified_since: Some(when),
            if_unmodified_since: Some(when),
        };
        assert_eq!(
            read_condition_headers(&conditions).unwrap(),
            [
                ("if-match".to_string(), "\"abc\", \"def\"".to_string()),
                ("if-none-match".into(), "*".into()),
                ("if-modified-since".into(), "Sun, 06 Nov 1994 08:49:37 GMT".into()),
                ("if-unmodified-since".into(), "Sun, 06 Nov 1994 08:49:37 GMT".into()),
            ]
        );
        for bad in ["", "a,,b", "a\r\nb", "\"\""] {
            let conditions = ReadConditions { if_none_match: Some(bad.into()), ..Default::default() };
            assert!(matches!(read_condition_headers(&conditions), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
        assert!(read_condition_headers(&ReadConditions::default()).unwrap().is_empty());
    }

    #[test]
    fn version_requests() {
        let s = settings(Some("http://h:1"));
        let list = ListQuery { full_prefix: "p/", delimiter: None, start_after: Some("p/k") };
        assert_eq!(list_object_versions(&s, &list, None, 10).unwrap().path_and_query, "/bkt/?key-marker=p%2Fk&max-keys=10&prefix=p%2F&versions");
        assert_eq!(
            list_object_versions(&s, &list, Some("p/x y\0v+1"), 10).unwrap().path_and_query,
            "/bkt/?key-marker=p%2Fx%20y&max-keys=10&prefix=p%2F&version-id-marker=v%2B1&versions"
        );
        assert_eq!(get_object(&s, "k", None, &ReadConditions::default(), Some("3/L4kqtJl")).unwrap().path_and_query, "/bkt/k?versionId=3%2FL4kqtJl");
        assert_eq!(delete_object_version(&s, "k", "null").unwrap().path_and_query, "/bkt/k?versionId=null");
        assert!(matches!(head_object(&s, "k", &ReadConditions::default(), Some("")), Err(Error::InvalidArgument(_))));
    }
}
