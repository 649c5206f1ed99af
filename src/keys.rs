//! Object keys: validation, the store prefix, and SigV4/URL encoding. (The memory backend
//! includes this file too: both backends accept exactly the same keys.)
//!
//! A key must never reach outside the store's prefix, nor name another key's bytes,
//! whichever layer between us and the bytes on disk normalizes paths: proxies, HTTP
//! libraries, the server's router, a filesystem-backed server (s3s-fs and MinIO store
//! `a//b` and `a/b/` as the file `a/b`), a Windows one (`\` separates there too), a
//! Unicode-normalizing one (NFKC turns `．．` into `..`). So one rule: a key is a
//! `/`-separated path whose segments are never empty, `.` or `..`, where `\` also
//! separates and the characters NFKC maps to `.`, `/` or `\` count as those. Keys a
//! server lists are held to the same rule before a caller sees them.

use crate::quote::{Q, QuotedChar};

/// A key that breaks the rule, saying why. Each backend turns it into its `invalid-key`.
#[derive(Debug, Clone)]
pub struct InvalidKey(pub String);

fn invalid_key(why: impl Into<String>) -> InvalidKey {
    InvalidKey(why.into())
}

/// S3's limit on a key's length in bytes, prefix included.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a caller's key and returns the full key (prefix + key).
pub fn full_key(prefix: &str, key: &str) -> Result<String, InvalidKey> {
    if key.is_empty() {
        return Err(invalid_key("a key must not be empty"));
    }
    check_path(key).map_err(|why| invalid_key(format!("key {key} {why}", key = Q(&key))))?;
    let full = format!("{prefix}{key}");
    if full.len() > MAX_KEY_BYTES {
        return Err(invalid_key(format!("key is {} bytes with the store prefix; S3 allows at most {MAX_KEY_BYTES}", full.len())));
    }
    Ok(full)
}

/// The full keys of a copy's source and destination. Keys that differ only in ways a
/// normalizing or Windows server folds together (`a/b` and `a\b`, `a.txt` and `a．txt`)
/// are refused: there the copy would land on its own source, and a move would then delete
/// what it just wrote.
pub fn full_pair(prefix: &str, source: &str, destination: &str) -> Result<(String, String), InvalidKey> {
    let (src, dst) = (full_key(prefix, source)?, full_key(prefix, destination)?);
    let alias = |key: &str| folded(key).replace('\\', "/");
    if src != dst && alias(&src) == alias(&dst) {
        return Err(invalid_key(format!(
            "{source} and {destination} name the same object on servers that normalize paths; nothing was copied",
            source = Q(&source),
            destination = Q(&destination)
        )));
    }
    Ok((src, dst))
}

/// Whether two (valid, different) full keys could be one file on a server whose filesystem
/// folds case or Unicode normalization (s3s-fs or MinIO on macOS or Windows): equal once
/// ASCII case, fullwidth forms, the dots and spaces Windows drops at a name's end, and
/// every run of other non-ASCII text (with the accents that may be decomposed onto an
/// ASCII letter) are set aside. A loose test on purpose: it only says when a move must
/// first check that its destination isn't its source (`objects::ensure_distinct`).
pub fn may_alias(a: &str, b: &str) -> bool {
    skeleton(a) == skeleton(b)
}

fn skeleton(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for segment in folded(key).split(SEPARATORS) {
        let start = out.len();
        for c in segment.chars() {
            let c = match c {
                // Fullwidth ASCII.
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                c => c,
            };
            let combining =
                matches!(c, '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}');
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase());
            } else {
                // An accent decomposed onto its letter, and any non-ASCII run: one mark.
                if combining && out.len() > start && out.ends_with(|p: char| p.is_ascii_alphanumeric()) {
                    out.pop();
                }
                if !out.ends_with('\u{FFFD}') || out.len() == start {
                    out.push('\u{FFFD}');
                }
            }
        }
        let kept = out[start..].trim_end_matches(['.', ' ']).len();
        out.truncate(start + kept);
        out.push('/');
    }
    out
}

/// Checks a listing prefix (may be empty, may end with `/`) and returns it with the store
/// prefix. The same rules as keys: a prefix is the start of the keys it lists.
pub fn full_list_prefix(prefix: &str, list_prefix: &str) -> Result<String, InvalidKey> {
    let path = list_prefix.strip_suffix('/').unwrap_or(list_prefix);
    if !list_prefix.is_empty() {
        check_path(path).map_err(|why| invalid_key(format!("list prefix {list_prefix} {why}", list_prefix = Q(&list_prefix))))?;
    }
    let full = format!("{prefix}{list_prefix}");
    if full.len() > MAX_KEY_BYTES {
        return Err(invalid_key(format!("list prefix is {} bytes with the store prefix; at most {MAX_KEY_BYTES}", full.len())));
    }
    Ok(full)
}

/// A folder a delimiter listing names (`photos/2024/`), relative to the store's `prefix`:
/// it must end with the delimiter, and a key in it must be able to follow the key rules.
pub fn listed_folder<'a>(prefix: &str, full: &'a str, delimiter: &str) -> Result<&'a str, String> {
    let folder = full.strip_prefix(prefix).ok_or_else(|| format!("the server listed folder {full}, outside the store's prefix", full = Q(&full)))?;
    if !folder.ends_with(delimiter) || folder.len() == delimiter.len() && delimiter == "/" {
        return Err(format!("the server listed folder {full}, which is not a path ending with the delimiter", full = Q(&full)));
    }
    match check_path(&format!("{folder}x")) {
        Ok(()) => Ok(folder),
        Err(why) => Err(format!("the server listed folder {full}, which no valid key is in: it {why}", full = Q(&full))),
    }
}

/// A non-empty prefix names a folder: `tenant-a` becomes `tenant-a/`, so it can't match
/// `tenant-ab/...`. Returns it so, or why it can't be used.
pub fn store_prefix(prefix: &str) -> Result<String, String> {
    if prefix.is_empty() {
        return Ok(String::new());
    }
    let path = prefix.strip_suffix('/').unwrap_or(prefix);
    check_path(path).map_err(|why| format!("prefix {prefix} {why}", prefix = Q(&prefix)))?;
    let prefix = format!("{path}/");
    if prefix.len() >= MAX_KEY_BYTES {
        return Err(format!("prefix is {} bytes, leaving no room for keys", prefix.len()));
    }
    Ok(prefix)
}

/// What the server listed, as the caller names it: `Ok(None)` for a folder marker (a key
/// ending in `/`, which no valid key does: a folder, not a file); an error, saying why,
/// for a key outside the store's prefix or one the caller could not have written.
pub fn listed<'a>(prefix: &str, full_key: &'a str) -> Result<Option<&'a str>, String> {
    let key = full_key.strip_prefix(prefix).ok_or_else(|| format!("the server listed {full_key}, outside the store's prefix", full_key = Q(&full_key)))?;
    if let Some(folder) = key.strip_suffix('/')
        && (folder.is_empty() || check_path(folder).is_ok())
    {
        return Ok(None);
    }
    if key.is_empty() {
        return Ok(None);
    }
    match check_path(key) {
        Ok(()) => Ok(Some(key)),
        Err(why) => Err(format!("the server listed {full_key}, which is not a valid key: it {why}", full_key = Q(&full_key))),
    }
}

/// The rules shared by keys and prefixes, for a non-empty path. Returns why it is refused.
fn check_path(text: &str) -> Result<(), String> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!("contains control character {c}", c = QuotedChar(c)));
    }
    let folded = folded(text);
    if folded.starts_with(SEPARATORS) {
        return Err("must not start with '/' or '\\'".into());
    }
    // `C:`, `a:b`: a drive (or a drive-relative path) where Windows builds the path.
    if let [letter, b':', ..] = folded.as_bytes()
        && letter.is_ascii_alphabetic()
    {
        return Err("must not start with a drive letter and ':'".into());
    }
    let mut segments = folded.split(SEPARATORS).peekable();
    while let Some(segment) = segments.next() {
        match segment {
            "" if segments.peek().is_none() => return Err("must not end with '/' or '\\'".into()),
            "" => return Err("must not contain an empty path segment ('//')".into()),
            "." | ".." => return Err("must not contain '.' or '..' path segments (nor look-alikes that normalize to them)".into()),
            _ => {}
        }
    }
    Ok(())
}

const SEPARATORS: [char; 2] = ['/', '\\'];

/// `text` as an NFKC-normalizing server sees its separators and dots: every character whose
/// NFKC form holds `.`, `/`, `\\` or `:` replaced by that form.
fn folded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match fold(c) {
            Some(nfkc) => out.push_str(nfkc),
            None => out.push(c),
        }
    }
    out.into()
}

/// The characters whose NFKC form holds `.`, `/`, `\\` or `:`, and that form (the unit
/// tests check this table against every Unicode character).
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2024}' | '\u{FE52}' | '\u{FF0E}' => ".",
        '\u{2025}' | '\u{FE30}' => "..",
        '\u{2026}' | '\u{FE19}' => "...",
        '\u{FF0F}' => "/",
        '\u{FE68}' | '\u{FF3C}' => "\\",
        '\u{FE13}' | '\u{FE55}' | '\u{FF1A}' => ":",
        '\u{2A74}' => "::=",
        '\u{2100}' => "a/c",
        '\u{2101}' => "a/s",
        '\u{2105}' => "c/o",
        '\u{2106}' => "c/u",
        '\u{33C2}' => "a.m.",
        '\u{33C7}' => "Co.",
        '\u{33D8}' => "p.m.",
        '\u{1F100}' => "0.",
        // ⒈ to ⒛: a number and a full stop.
        '\u{2488}'..='\u{249B}' => return DIGIT_FULL_STOPS.get(c as usize - 0x2488).copied(),
        _ => return None,
    })
}

const DIGIT_FULL_STOPS: [&str; 20] =
    ["1.", "2.", "3.", "4.", "5.", "6.", "7.", "8.", "9.", "10.", "11.", "12.", "13.", "14.", "15.", "16.", "17.", "18.", "19.", "20."];

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
            Err(InvalidKey(why)) => why,
            other => panic!("{key:?} was not rejected: {other:?}"),
        }
    }

    #[test]
    fn traversal_and_absolute_keys_are_rejected() {
        for key in ["..", ".", "../x", "a/../b", "a/./b", "a/..", "a/.", "/a", "/", "./a", "a\\..\\b", "..\\x", "\\a", "a\\.", "\\\\host\\share"] {
            assert!(rejected(key).contains("must not"), "{key}");
        }
    }

    #[test]
    fn empty_segments_are_rejected() {
        // On servers that store keys as files these name other keys: `a//b` and `a/b/` are `a/b`.
        for key in ["a//b", "a/", "dir/", "a/b//", "//a", "a\\\\b", "a/\\b", "a\\"] {
            assert!(rejected(key).contains("must not"), "{key}");
        }
    }

    #[test]
    fn look_alikes_of_dots_and_slashes_are_what_they_normalize_to() {
        for key in [
            "\u{FF0E}\u{FF0E}",
            "a/\u{FF0E}\u{FF0E}/b",
            "\u{2024}\u{2024}",
            "\u{2025}",
            "x/\u{2025}",
            "\u{FE30}",
            "\u{FF0E}",
            "\u{FE52}",
            "a\u{FF0F}..",
            "a\u{FF0F}\u{FF0F}b",
            "a\u{FF3C}..\u{FF3C}b",
            "\u{FE68}a",
            "\u{FF0F}a",
        ] {
            assert!(rejected(key).contains("must not"), "{key:?}");
        }
        for key in ["C:/x", "c:\\x", "a:b", "C\u{FF1A}/x", "x/\u{2488}\u{2025}/../y"] {
            assert!(rejected(key).contains("must not"), "{key:?}");
        }
        for key in ["\u{2026}", "a\u{FF0E}txt", "\u{FF0E}hidden", "a\u{2215}..", "caf\u{E9}", "xy:z", "1:2", "a/C:", "\u{2100}", "x/\u{2488}"] {
            assert!(full_key("p/", key).is_ok(), "{key:?}");
        }
    }

    /// `fold`'s table is exactly the characters whose NFKC form holds `.`, `/`, `\\` or
    /// `:`: every way a normalizing server could see a separator, a dot or a drive where
    /// the key has none.
    #[test]
    fn the_fold_table_is_nfkc() {
        use unicode_normalization::UnicodeNormalization as _;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let nfkc: String = std::iter::once(c).nfkc().collect();
            let holds = nfkc != c.to_string() && nfkc.contains(['.', '/', '\\', ':']);
            assert_eq!(fold(c), holds.then_some(nfkc.as_str()), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn copies_between_keys_a_server_folds_together_are_refused() {
        for (a, b) in [("a/b", "a\\b"), ("a.txt", "a\u{FF0E}txt"), ("x/y", "x\u{FF0F}y"), ("a\u{2025}b", "a..b")] {
            assert!(matches!(full_pair("p/", a, b), Err(InvalidKey(m)) if m.contains("same object")), "{a:?} {b:?}");
        }
        assert_eq!(full_pair("p/", "a", "A").unwrap(), ("p/a".to_string(), "p/A".to_string()));
        assert_eq!(full_pair("p/", "a", "a").unwrap(), ("p/a".to_string(), "p/a".to_string()));
    }

    #[test]
    fn keys_a_folding_filesystem_may_merge_are_told() {
        for (a, b) in [
            ("Report.txt", "report.txt"),
            ("caf\u{E9}", "cafe\u{301}"),
            ("\u{FF41}.txt", "a.txt"),
            ("a/b.", "a/b"),
            ("dir/x ", "DIR/x"),
            ("\u{65E5}\u{672C}", "\u{4E2D}\u{56FD}"),
        ] {
            assert!(may_alias(a, b), "{a:?} {b:?}");
        }
        for (a, b) in [("report.txt", "other.txt"), ("a/b", "a/c"), ("a/b", "ab"), ("x\u{E9}", "xe"), ("a", "a/b")] {
            assert!(!may_alias(a, b), "{a:?} {b:?}");
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
        for key in ["a.txt", "...", "a/.../b", ".hidden", "a..b", "x/.y/..z", "a\\b", "dir/file"] {
            assert_eq!(full_key("p/", key).unwrap(), format!("p/{key}"));
        }
    }

    #[test]
    fn list_prefixes_follow_the_key_rules() {
        for prefix in ["", "a/", "photos/202", "a\\b/", ".hidden"] {
            assert_eq!(full_list_prefix("p/", prefix).unwrap(), format!("p/{prefix}"));
        }
        for prefix in ["..", "../x", "/", "/a", "a//", "a/../", "\u{FF0E}\u{FF0E}/", "a\nb"] {
            assert!(matches!(full_list_prefix("p/", prefix), Err(InvalidKey(_))), "{prefix:?}");
        }
    }

    #[test]
    fn store_prefixes_are_folders_with_the_key_rules() {
        assert_eq!(store_prefix("tenant-a").unwrap(), "tenant-a/");
        assert_eq!(store_prefix("tenant-a/").unwrap(), "tenant-a/");
        assert_eq!(store_prefix("").unwrap(), "");
        for prefix in ["tenant-a//", "/", "//", "a//b", "/abs", "a/../b", "..", "\u{FF0E}\u{FF0E}", "a\\..\\b"] {
            assert!(store_prefix(prefix).is_err(), "{prefix:?}");
        }
    }

    #[test]
    fn listed_keys_are_checked_and_folders_passed_over() {
        assert_eq!(listed("t/", "t/a/b"), Ok(Some("a/b")));
        assert_eq!(listed("t/", "t/"), Ok(None));
        assert_eq!(listed("t/", "t/dir/"), Ok(None));
        assert_eq!(listed("", "a"), Ok(Some("a")));
        for full in ["t/../../etc/passwd", "t//x", "t/a/./b", "u/a", "t/\u{FF0E}\u{FF0E}/x", "t/a\u{1b}[2J"] {
            assert!(listed("t/", full).is_err(), "{full:?}");
        }
        let why = listed("t/", "t/a\u{1b}[31m").unwrap_err();
        assert!(!why.contains('\u{1b}'), "{why}");
    }

    #[test]
    fn encoding_follows_sigv4() {
        assert_eq!(encode_path("a b+c%d?e#f/ü😀~_-.x"), "a%20b%2Bc%25d%3Fe%23f/%C3%BC%F0%9F%98%80~_-.x");
        assert_eq!(encode_query("a/b c+="), "a%2Fb%20c%2B%3D");
    }
}
