//! Object keys: validation, the store prefix, and SigV4/URL encoding. (The memory backend
//! includes this file too: both backends accept exactly the same keys.)
//!
//! A key must never reach outside the store's prefix, whichever layer between us and the
//! bytes on disk normalizes URL paths (proxies, HTTP libraries, the server's own router, a
//! filesystem-backed server). So `.` and `..` segments and a leading `/` are refused
//! outright rather than encoded.

use crate::error::invalid_key;
use crate::bindings::exports::wasm_storages::storage::types::Error;

/// S3's limit on a key's length in bytes, prefix included.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a caller's key and returns the full key (prefix + key).
pub fn full_key(prefix: &str, key: &str) -> Result<String, Error> {
    if key.is_empty() {
        return Err(invalid_key("a key must not be empty"));
    }
    check_chars_and_segments(key).map_err(|why| invalid_key(format!("key {key:?} {why}")))?;
    let full = format!("{prefix}{key}");
    if full.len() > MAX_KEY_BYTES {
        return Err(invalid_key(format!(
            "key is {} bytes with the store prefix; S3 allows at most {MAX_KEY_BYTES}",
            full.len()
        )));
    }
    Ok(full)
}

/// Checks a listing prefix (may be empty) and returns it with the store prefix.
pub fn full_list_prefix(prefix: &str, list_prefix: &str) -> Result<String, Error> {
    if let Some(c) = list_prefix.chars().find(|c| c.is_control()) {
        return Err(invalid_key(format!("list prefix {list_prefix:?} contains control character {c:?}")));
    }
    let full = format!("{prefix}{list_prefix}");
    if full.len() > MAX_KEY_BYTES {
        return Err(invalid_key(format!("list prefix is {} bytes with the store prefix; at most {MAX_KEY_BYTES}", full.len())));
    }
    Ok(full)
}

/// A non-empty prefix names a folder: `tenant-a` becomes `tenant-a/`, so it can't match
/// `tenant-ab/...`. Returns it so, or why it can't be used.
pub fn store_prefix(prefix: &str) -> Result<String, String> {
    if prefix.is_empty() {
        return Ok(String::new());
    }
    check_chars_and_segments(prefix).map_err(|why| format!("prefix {prefix:?} {why}"))?;
    let prefix = if prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    if prefix.len() >= MAX_KEY_BYTES {
        return Err(format!("prefix is {} bytes, leaving no room for keys", prefix.len()));
    }
    Ok(prefix)
}

/// The rules shared by keys and the store prefix. Returns why the text is refused.
pub fn check_chars_and_segments(text: &str) -> Result<(), String> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!("contains control character {c:?}"));
    }
    if text.starts_with('/') {
        return Err("must not start with '/'".into());
    }
    if text.split('/').any(|segment| segment == "." || segment == "..") {
        return Err("must not contain '.' or '..' path segments".into());
    }
    Ok(())
}

/// A key as the caller names it: the full key without the store prefix. `None` when the
/// server returned a key outside the prefix (it never should).
pub fn relative<'a>(prefix: &str, full_key: &'a str) -> Option<&'a str> {
    full_key.strip_prefix(prefix)
}

/// Percent-encodes per SigV4: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` in paths).
/// S3 signs the path exactly as sent (no normalization, no double encoding), so the same
/// string serves both the wire and the canonical request.
pub fn encode_path(full_key: &str) -> String {
    percent_encoding::utf8_percent_encode(full_key, PATH).to_string()
}

pub fn encode_query(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY).to_string()
}

const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
const PATH: &percent_encoding::AsciiSet = &QUERY.remove(b'/');

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(key: &str) -> String {
        match full_key("p/", key) {
            Err(Error::InvalidKey(why)) => why,
            other => panic!("{key:?} was not rejected: {other:?}"),
        }
    }

    #[test]
    fn traversal_and_absolute_keys_are_rejected() {
        for key in ["..", ".", "../x", "a/../b", "a/./b", "a/..", "a/.", "/a", "/", "./a"] {
            assert!(rejected(key).contains("must not"), "{key}");
        }
    }

    #[test]
    fn empty_long_and_control_keys_are_rejected() {
        assert!(rejected("").contains("empty"));
        assert!(rejected("a\nb").contains("control"));
        assert!(rejected("a\u{7f}").contains("control"));
        assert!(rejected("a\u{85}").contains("control"));
        assert!(rejected(&"k".repeat(MAX_KEY_BYTES - 1)).contains("1024"));
        assert_eq!(full_key("p/", &"k".repeat(MAX_KEY_BYTES - 2)).unwrap().len(), MAX_KEY_BYTES);
    }

    #[test]
    fn dots_inside_names_are_fine() {
        for key in ["a.txt", "...", "a/.../b", ".hidden", "a..b", "dir/", "a//b", "x/.y/..z"] {
            assert_eq!(full_key("p/", key).unwrap(), format!("p/{key}"));
        }
    }

    #[test]
    fn encoding_follows_sigv4() {
        assert_eq!(encode_path("a b+c%d?e#f/ü😀~_-.x"), "a%20b%2Bc%25d%3Fe%23f/%C3%BC%F0%9F%98%80~_-.x");
        assert_eq!(encode_query("a/b c+="), "a%2Fb%20c%2B%3D");
    }

    #[test]
    fn relative_strips_only_the_prefix() {
        assert_eq!(relative("t/", "t/a/b"), Some("a/b"));
        assert_eq!(relative("t/", "u/a"), None);
        assert_eq!(relative("", "a"), Some("a"));
    }
}
