//! What the storage API accepts from its caller besides keys (`keys.rs`): bucket names,
//! content types, metadata names, presigned-URL lifetimes, ETags to match. Plain functions that say why
//! (`Err(text)`), so every backend — this S3 component and the memory one, which includes
//! this file — refuses exactly the same input with the same words.

use crate::quote::{Q, QuotedChar};

/// SigV4's limit on a presigned URL's lifetime: 7 days.
pub const MAX_PRESIGNED_EXPIRY: u64 = 7 * 24 * 3600;
/// S3's limit on user metadata: names and values, in bytes as sent.
pub const MAX_METADATA_BYTES: usize = 2048;

/// S3's general-purpose bucket naming rules.
pub fn bucket(bucket: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("bucket {bucket} {why}", bucket = Q(&bucket)));
    if bucket.is_empty() {
        return Err("bucket is required".into());
    }
    if !(3..=63).contains(&bucket.len()) {
        return bad("must be 3 to 63 characters long");
    }
    if let Some(c) = bucket.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')) {
        return bad(&format!("may only contain lowercase letters, digits, '.' and '-', not {c}", c = QuotedChar(c)));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(bucket.chars().next()) || !edge_ok(bucket.chars().last()) {
        return bad("must begin and end with a letter or digit");
    }
    if bucket.contains("..") || bucket.contains(".-") || bucket.contains("-.") {
        return bad("must not have '..', '.-' or '-.'");
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("must not be formatted as an IP address");
    }
    if let Some(p) = ["xn--", "sthree-", "amzn-s3-demo-"].iter().find(|p| bucket.starts_with(*p)) {
        return bad(&format!("must not start with the reserved prefix {p}", p = Q(&p)));
    }
    if let Some(s) = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].iter().find(|s| bucket.ends_with(*s)) {
        return bad(&format!("must not end with the reserved suffix {s}", s = Q(&s)));
    }
    Ok(())
}

/// A Content-Type: 1 to 1024 printable ASCII characters.
pub fn content_type(content_type: &str) -> Result<(), String> {
    let ok = !content_type.is_empty() && content_type.len() <= 1024 && content_type.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if ok { Ok(()) } else { Err(format!("content type {content_type} must be 1 to 1024 printable ASCII characters", content_type = Q(&content_type))) }
}

/// A text sent as a header value of its own (an object attribute): 1 to 1,024 printable
/// ASCII characters, so it can never end the header or add another.
pub fn header_text(text: &str) -> Result<(), String> {
    let ok = !text.is_empty() && text.len() <= 1024 && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if ok { Ok(()) } else { Err(format!("{text} must be 1 to 1024 printable ASCII characters", text = Q(&text))) }
}

/// S3's limits on object tags.
pub const MAX_TAGS: usize = 10;

/// Object tags: at most 10, keys 1 to 128 characters, values at most 256, of letters,
/// digits, spaces and `_ . : / = + - @`, each key once.
pub fn tags(tags: &[(String, String)]) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("{} tags given; an object takes at most {MAX_TAGS}", tags.len()));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        let (k, v) = (key.chars().count(), value.chars().count());
        if k == 0 || k > 128 || v > 256 {
            return Err(format!("tag {key} must have a key of 1 to 128 characters and a value of at most 256", key = Q(&key)));
        }
        // S3's alphabet for tags (AWS, moto refuse others): letters, digits, spaces, `_.:/=+-@`.
        if let Some(c) = key.chars().chain(value.chars()).find(|c| !(c.is_alphanumeric() || *c == ' ' || "_.:/=+-@".contains(*c))) {
            return Err(format!("tag {key} contains {c}; tags may hold letters, digits, spaces and _ . : / = + - @", key = Q(&key), c = QuotedChar(c)));
        }
        if tags[..i].iter().any(|(other, _)| other == key) {
            return Err(format!("tag {key} is given twice", key = Q(&key)));
        }
    }
    Ok(())
}

/// Metadata names: ASCII letters, digits, `-` and `_`, each once (case-insensitively).
/// Returns the names lower-cased, as stored and reported.
pub fn metadata_names(metadata: &[(String, String)]) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::with_capacity(metadata.len());
    for (name, _) in metadata {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("metadata name {name} may only contain ASCII letters, digits, '-' and '_'", name = Q(&name)));
        }
        let lower = name.to_ascii_lowercase();
        if names.contains(&lower) {
            return Err(format!("metadata name {name} is given twice (names are case-insensitive)", name = Q(&name)));
        }
        names.push(lower);
    }
    Ok(names)
}

/// Whether a metadata value travels as it is: non-empty printable ASCII, no space at
/// either end (HTTP trims it), nothing in it a server could take for an RFC 2047 encoded
/// word (`=?`). The others go as one encoded word (`=?UTF-8?B?...?=`).
pub fn metadata_value_is_plain(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) && value.trim() == value && !value.contains("=?")
}

/// Starts the encoded text of a value that would otherwise be ASCII (or that starts with
/// it itself). Servers differ: some store an encoded word as sent, others (AWS, s3s) store
/// its decoded text and encode it again only if it is not ASCII. A value made non-ASCII
/// by this mark comes back encoded from either, so decoding once (and dropping the mark)
/// always gives the value written, even one that itself looks like an encoded word.
pub const METADATA_MARK: char = '\u{FEFF}';

/// Whether an encoded value carries [`METADATA_MARK`] before its text.
pub fn metadata_value_is_marked(value: &str) -> bool {
    value.is_ascii() || value.starts_with(METADATA_MARK)
}

#[allow(dead_code)] // the S3 component encodes and measures; the memory backend only measures
/// A metadata value's length as sent: itself, or its RFC 2047 encoding (base64 in between).
pub fn metadata_value_len(value: &str) -> usize {
    if metadata_value_is_plain(value) {
        return value.len();
    }
    let text = value.len() + if metadata_value_is_marked(value) { METADATA_MARK.len_utf8() } else { 0 };
    "=?UTF-8?B??=".len() + text.div_ceil(3) * 4
}

/// Metadata of `total` bytes (names and values as sent) fits.
pub fn metadata_size(total: usize) -> Result<(), String> {
    if total > MAX_METADATA_BYTES { Err(format!("metadata is {total} bytes; S3 allows at most {MAX_METADATA_BYTES}")) } else { Ok(()) }
}

/// A presigned URL's lifetime in seconds.
pub fn expiry(seconds: u64) -> Result<(), String> {
    match seconds {
        0 => Err("must be at least 1 second".into()),
        s if s > MAX_PRESIGNED_EXPIRY => Err(format!("is {s} s; SigV4 allows at most {MAX_PRESIGNED_EXPIRY} s (7 days)")),
        _ => Ok(()),
    }
}

/// The longest upload id a caller may name (`abort-upload`): it goes into a URL. S3's are
/// a few hundred bytes.
pub const MAX_UPLOAD_ID_BYTES: usize = 4096;

/// A version id a caller names: 1 to 1,024 bytes without control characters (S3's are 32).
pub fn version_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 1024 || id.chars().any(char::is_control) {
        return Err(format!("version id {id} must be 1 to 1024 bytes without control characters", id = Q(&id)));
    }
    Ok(())
}

/// An upload id a caller names.
pub fn upload_id(upload_id: &str) -> Result<(), String> {
    if upload_id.is_empty() || upload_id.len() > MAX_UPLOAD_ID_BYTES {
        return Err(format!("an upload id is 1 to {MAX_UPLOAD_ID_BYTES} bytes, not {}", upload_id.len()));
    }
    Ok(())
}

/// The longest ETag to match: S3's are 34 bytes; this leaves room for any server's, and
/// keeps the header far inside what a host accepts.
pub const MAX_ETAG_BYTES: usize = 1024;

/// An ETag to match (`if-match`), without its quotes: printable ASCII.
pub fn etag(etag: &str) -> Result<&str, String> {
    let bare = etag.trim().trim_matches('"');
    if bare.is_empty() || !bare.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        return Err("needs an ETag of printable ASCII".into());
    }
    if bare.len() > MAX_ETAG_BYTES {
        return Err(format!("has an ETag of {} bytes; at most {MAX_ETAG_BYTES}", bare.len()));
    }
    Ok(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_s3s_limits() {
        let tag = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(tags(&[tag("team", "a b"), tag("ü", &"v".repeat(256)), tag("path", "s3://b/k=1+2@x:y_z.-")]).is_ok());
        let eleven: Vec<_> = (0..11).map(|i| tag(&i.to_string(), "")).collect();
        for bad in [
            eleven,
            vec![tag("", "v")],
            vec![tag(&"k".repeat(129), "")],
            vec![tag("k", &"v".repeat(257))],
            vec![tag("k", "a\nb")],
            vec![tag("k", "1"), tag("k", "2")],
        ] {
            assert!(tags(&bad).is_err(), "{bad:?}");
        }
    }
}
