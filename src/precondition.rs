//! HTTP's conditional reads (`If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`) judged on what is known of an object, in the order RFC 9110
//! §13.2.2 gives (S3 follows it). Pure: the S3 component judges a server's reply with it
//! (for servers that ignore the conditions), the memory backend its own objects.

use crate::rules;

/// The conditions asked, dates in seconds since 1970.
pub struct Asked<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<u64>,
    pub if_unmodified_since: Option<u64>,
}

#[derive(Debug, PartialEq)]
pub enum Verdict {
    Proceed,
    /// 412: `If-Match` or `If-Unmodified-Since` does not hold.
    PreconditionFailed,
    /// 304: `If-None-Match` or `If-Modified-Since` does not hold.
    NotModified,
}

/// The verdict on an object with `etag` (as a server sends it), last modified at `modified`.
pub fn judge(asked: &Asked, etag: Option<&str>, modified: Option<u64>) -> Verdict {
    let failed = match (asked.if_match, asked.if_unmodified_since, modified) {
        // Strong comparison: a weak ETag never matches.
        (Some(list), _, _) => !matches_any(list, etag, false),
        // Ignored beside If-Match, as HTTP says.
        (None, Some(since), Some(modified)) => modified > since,
        _ => false,
    };
    if failed {
        return Verdict::PreconditionFailed;
    }
    let current = match (asked.if_none_match, asked.if_modified_since, modified) {
        (Some(list), _, _) => matches_any(list, etag, true),
        (None, Some(since), Some(modified)) => modified <= since,
        _ => false,
    };
    if current { Verdict::NotModified } else { Verdict::Proceed }
}

/// A comma-separated list of ETags (quotes optional, `W/` allowed) or `*`, each quoted as
/// HTTP wants: the entity tags a condition names. Why not, when it can't be one.
pub fn etag_list(list: &str) -> Result<Vec<String>, String> {
    if list.trim() == "*" {
        return Ok(vec!["*".into()]);
    }
    list.split(',')
        .map(|tag| {
            let tag = tag.trim();
            let (weak, tag) = match tag.strip_prefix("W/") {
                Some(rest) => ("W/", rest),
                None => ("", tag),
            };
            Ok(format!("{weak}\"{}\"", rules::etag(tag)?))
        })
        .collect()
}

/// Whether `etag` is one of `list`; `*` matches any object. `weak`: `W/` is ignored on both
/// sides; else a weak tag matches nothing.
fn matches_any(list: &str, etag: Option<&str>, weak: bool) -> bool {
    // `*`: any object there is, whatever its ETag (or none).
    if list.trim() == "*" {
        return true;
    }
    let (Some(etag), Ok(tags)) = (etag, etag_list(list)) else { return false };
    // The opaque tag without quotes; none for a weak tag in a strong comparison.
    let opaque = |tag: &str| -> Option<String> {
        let tag = tag.trim();
        let (is_weak, rest) = match tag.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        (weak || !is_weak).then(|| rest.trim_matches('"').to_string())
    };
    let ours = opaque(etag);
    tags.iter().any(|tag| tag == "*" || (ours.is_some() && opaque(tag) == ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Asked<'static> {
        Asked { if_match: None, if_none_match: None, if_modified_since: None, if_unmodified_since: None }
    }

    #[test]
    fn conditions_are_judged_as_http_judges_them() {
        let judge = |a: Asked| judge(&a, Some("\"abc\""), Some(100));
        use Verdict::*;
        assert_eq!(judge(asked()), Proceed);
        // If-Match: strong, any of a list, `*`.
        assert_eq!(judge(Asked { if_match: Some("abc"), ..asked() }), Proceed);
        assert_eq!(judge(Asked { if_match: Some("x, \"abc\""), ..asked() }), Proceed);
        assert_eq!(judge(Asked { if_match: Some("*"), ..asked() }), Proceed);
        assert_eq!(judge(Asked { if_match: Some("W/\"abc\""), ..asked() }), PreconditionFailed);
        assert_eq!(judge(Asked { if_match: Some("x"), ..asked() }), PreconditionFailed);
        // If-None-Match: weak.
        assert_eq!(judge(Asked { if_none_match: Some("W/\"abc\""), ..asked() }), NotModified);
        assert_eq!(judge(Asked { if_none_match: Some("*"), ..asked() }), NotModified);
        assert_eq!(judge(Asked { if_none_match: Some("x"), ..asked() }), Proceed);
        // Dates, to the second; each ignored beside its ETag counterpart.
        assert_eq!(judge(Asked { if_modified_since: Some(100), ..asked() }), NotModified);
        assert_eq!(judge(Asked { if_modified_since: Some(99), ..asked() }), Proceed);
        assert_eq!(judge(Asked { if_none_match: Some("x"), if_modified_since: Some(100), ..asked() }), Proceed);
        assert_eq!(judge(Asked { if_unmodified_since: Some(99), ..asked() }), PreconditionFailed);
        assert_eq!(judge(Asked { if_unmodified_since: Some(100), ..asked() }), Proceed);
        assert_eq!(judge(Asked { if_match: Some("abc"), if_unmodified_since: Some(1), ..asked() }), Proceed);
        // A failed precondition wins over not-modified.
        assert_eq!(judge(Asked { if_match: Some("x"), if_none_match: Some("abc"), ..asked() }), PreconditionFailed);
        // No ETag known: a named ETag can't match, `*` matches the object there is; no date:
        // the date conditions can't fail.
        assert_eq!(super::judge(&Asked { if_match: Some("abc"), ..asked() }, None, None), PreconditionFailed);
        assert_eq!(super::judge(&Asked { if_match: Some("*"), ..asked() }, None, None), Proceed);
        assert_eq!(super::judge(&Asked { if_none_match: Some("*"), ..asked() }, None, None), NotModified);
        assert_eq!(super::judge(&Asked { if_modified_since: Some(1), ..asked() }, None, None), Proceed);
    }

    #[test]
    fn etag_lists_are_quoted_and_bad_ones_refused() {
        assert_eq!(etag_list("W/\"x\", y").unwrap(), ["W/\"x\"", "\"y\""]);
        assert_eq!(etag_list(" * ").unwrap(), ["*"]);
        for bad in ["", "a,,b", "a\r\nb", "\"\"", "é"] {
            assert!(etag_list(bad).is_err(), "{bad:?}");
        }
    }
}
