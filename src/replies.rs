//! What S3's replies say of objects, as `stored-file`s: the headers of a GET or HEAD, a
//! listing's entries, and what an upload stored.

use crate::request::{self, DEFAULT_CONTENT_TYPE, METADATA_HEADER_PREFIX};
use crate::sys::http::Response;
use crate::sys::time::Datetime;
use crate::types::{Attributes, PutOptions, StoredFile};

pub use aws_smithy_types::date_time::Format;

/// What the headers of a GET or HEAD say of the object.
pub fn stored_file(key: String, resp: &Response) -> StoredFile {
    let mut metadata: Vec<(String, String)> = resp
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            let name = name.strip_prefix(METADATA_HEADER_PREFIX)?.to_string();
            Some((name, request::decode_metadata_value(std::str::from_utf8(value).ok()?)))
        })
        .collect();
    crate::order::sort_by(&mut metadata, Ord::cmp);
    StoredFile {
        key,
        size: resp.content_length().unwrap_or(0),
        content_type: resp.header("content-type").map(str::to_string),
        etag: resp.header("etag").map(str::to_string),
        last_modified: resp.header("last-modified").and_then(|d| datetime(d, Format::HttpDate)),
        metadata,
        attributes: attributes(resp),
        version_id: crate::client::version_id(resp),
        tags: Vec::new(),
    }
}

/// How many tags the object has, as a GET or HEAD reply says.
pub fn tag_count(resp: &Response) -> u32 {
    resp.header("x-amz-tagging-count").and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// The attributes a GET or HEAD reply carries. An `Expires` that is no HTTP date (another
/// client may have stored any text) is absent.
fn attributes(resp: &Response) -> Attributes {
    let text = |name: &str| resp.header(name).map(str::to_string);
    Attributes {
        cache_control: text("cache-control"),
        content_disposition: text("content-disposition"),
        content_encoding: text("content-encoding"),
        content_language: text("content-language"),
        expires: resp.header("expires").and_then(|d| datetime(d, Format::HttpDate)),
        storage_class: text("x-amz-storage-class"),
    }
}

/// What a successful upload stored: as given, metadata names lower-cased and sorted, as
/// `info` will report them; the version the server made, if it keeps versions.
pub fn stored_after_put(key: String, size: u64, etag: Option<String>, version_id: Option<String>, options: PutOptions) -> StoredFile {
    let mut metadata: Vec<(String, String)> = options.metadata.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    crate::order::sort_by(&mut metadata, Ord::cmp);
    StoredFile {
        key,
        size,
        content_type: Some(options.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string())),
        etag,
        last_modified: None,
        metadata,
        attributes: options.attributes,
        version_id,
        tags: options.tags,
    }
}

/// A timestamp as S3 writes it (`format`), as a wasi:clocks datetime.
pub fn datetime(text: &str, format: Format) -> Option<Datetime> {
    let t = aws_smithy_types::DateTime::from_str(text.trim(), format).ok()?;
    Some(Datetime { seconds: u64::try_from(t.secs()).ok()?, nanoseconds: t.subsec_nanos() })
}
