//! The component's own error type, and how S3 error responses and transport failures
//! become it. It has the WIT `error`'s shape, and turns into it only at the export boundary
//! (`store`), so no other module depends on the generated bindings' error.

use crate::keys::InvalidKey;
use crate::types as wit;
use crate::xml;

/// What went wrong, as the WIT `error` variant says it (see `wit/storage.wit`).
#[derive(Debug, Clone)]
pub enum Error {
    NotFound(String),
    AccessDenied(ServiceError),
    InvalidKey(String),
    InvalidConfig(String),
    InvalidArgument(String),
    RangeNotSatisfiable(Option<u64>),
    AlreadyExists(String),
    PreconditionFailed(String),
    NotModified(String),
    Credentials(String),
    Unsupported(String),
    Service(ServiceError),
    Transport(String),
}

/// An S3 error reply: its status, `Code`, `Message` and request id.
#[derive(Debug, Clone, Default)]
pub struct ServiceError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl From<InvalidKey> for Error {
    fn from(e: InvalidKey) -> Error {
        Error::InvalidKey(e.0)
    }
}

impl From<ServiceError> for wit::ServiceError {
    fn from(s: ServiceError) -> wit::ServiceError {
        wit::ServiceError { status: s.status, code: s.code, message: s.message, request_id: s.request_id }
    }
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> wit::Error {
        match e {
            Error::NotFound(k) => wit::Error::NotFound(k),
            Error::AccessDenied(s) => wit::Error::AccessDenied(s.into()),
            Error::InvalidKey(m) => wit::Error::InvalidKey(m),
            Error::InvalidConfig(m) => wit::Error::InvalidConfig(m),
            Error::InvalidArgument(m) => wit::Error::InvalidArgument(m),
            Error::RangeNotSatisfiable(n) => wit::Error::RangeNotSatisfiable(n),
            Error::AlreadyExists(k) => wit::Error::AlreadyExists(k),
            Error::PreconditionFailed(k) => wit::Error::PreconditionFailed(k),
            Error::NotModified(k) => wit::Error::NotModified(k),
            Error::Credentials(m) => wit::Error::Credentials(m),
            Error::Unsupported(m) => wit::Error::Unsupported(m),
            Error::Service(s) => wit::Error::Service(s.into()),
            Error::Transport(m) => wit::Error::Transport(m),
        }
    }
}

/// What a non-2xx response was about.
pub struct Context<'a> {
    /// The caller's (prefix-relative) key, if the request was about one.
    pub key: Option<&'a str>,
    /// HEAD responses carry no body, so a 404 can't say whether the key or the bucket is
    /// missing; S3 means the key far more often, and that is what we report.
    pub head: bool,
    /// For a 416: the object's size, from `Content-Range: bytes */SIZE`.
    pub object_size: Option<u64>,
}

/// The error for a non-2xx response: a 404 `NoSuchKey` (or a bodiless 404 to HEAD) becomes
/// `not-found(key)`; 404 `NoSuchBucket`, or a 404 from something that isn't S3, stays a
/// service error, since the key is not at fault.
pub fn from_response(status: u16, body: &[u8], request_id: Option<String>, region_hint: Option<String>, context: Context) -> Error {
    let parsed = std::str::from_utf8(body).ok().and_then(|text| xml::parse_error(text).ok().flatten());
    let (code, mut message, body_request_id) = match parsed {
        Some(e) => (e.code, e.message, e.request_id),
        None => (String::new(), String::new(), None),
    };
    if message.is_empty() {
        message = default_message(status).to_string();
    }
    if let Some(region) = region_hint.filter(|_| matches!(status, 301 | 307 | 400)) {
        message = format!("{message} (the bucket is in region {region})");
    }
    let service = ServiceError { status, code, message, request_id: body_request_id.or(request_id) };
    match (status, service.code.as_str(), context.key) {
        (416, _, _) => Error::RangeNotSatisfiable(context.object_size),
        (404, "NoSuchKey" | "NoSuchVersion", Some(key)) => Error::NotFound(key.to_string()),
        (404, "", Some(key)) if context.head => Error::NotFound(key.to_string()),
        _ => classify(service),
    }
}

/// Access problems are `access-denied`, whatever the status; the rest is `service`.
pub fn classify(service: ServiceError) -> Error {
    match (service.status, service.code.as_str()) {
        (403, _) | (_, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken") => Error::AccessDenied(service),
        _ => Error::Service(service),
    }
}

fn default_message(status: u16) -> &'static str {
    match status {
        301 | 307 => "the bucket is served from another endpoint or region",
        400 => "bad request",
        403 => "access denied",
        404 => "not found",
        405 => "method not allowed",
        409 => "conflict",
        412 => "precondition failed",
        416 => "range not satisfiable",
        500 => "internal server error",
        501 => "not implemented by this server",
        503 => "service unavailable",
        _ => "unexpected response",
    }
}

/// One line saying what `e` is, to put inside another error's text.
pub fn message(e: &Error) -> String {
    match e {
        Error::NotFound(key) => format!("not found: {key}"),
        Error::AccessDenied(s) | Error::Service(s) => format!("{} {}: {}", s.status, s.code, s.message),
        Error::RangeNotSatisfiable(_) => "range not satisfiable".into(),
        Error::AlreadyExists(key) => format!("already exists: {key}"),
        Error::PreconditionFailed(key) => format!("precondition failed: {key}"),
        Error::NotModified(key) => format!("not modified: {key}"),
        Error::InvalidKey(m) | Error::InvalidConfig(m) | Error::InvalidArgument(m) | Error::Credentials(m) | Error::Unsupported(m) | Error::Transport(m) => {
            m.clone()
        }
    }
}

pub fn transport(what: impl std::fmt::Display) -> Error {
    Error::Transport(what.to_string())
}

pub fn invalid_config(what: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(what.to_string())
}

pub fn invalid_argument(what: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_SUCH_KEY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a</Key><RequestId>R1</RequestId></Error>"#;

    #[test]
    fn no_such_key_is_not_found_of_the_callers_key() {
        assert!(
            matches!(from_response(404, NO_SUCH_KEY.as_bytes(), None, None, Context { key: Some("a"), head: false, object_size: None }), Error::NotFound(k) if k == "a")
        );
    }

    #[test]
    fn bodiless_404_is_not_found_only_for_head() {
        assert!(matches!(from_response(404, b"", None, None, Context { key: Some("k"), head: true, object_size: None }), Error::NotFound(k) if k == "k"));
        assert!(
            matches!(from_response(404, b"<html>nginx</html>", None, None, Context { key: Some("k"), head: false, object_size: None }), Error::Service(e) if e.status == 404)
        );
    }

    #[test]
    fn no_such_bucket_is_a_service_error() {
        let body = "<Error><Code>NoSuchBucket</Code><Message>nope</Message></Error>";
        match from_response(404, body.as_bytes(), Some("hdr".into()), None, Context { key: Some("k"), head: true, object_size: None }) {
            Error::Service(e) => {
                assert_eq!((e.status, e.code.as_str(), e.message.as_str()), (404, "NoSuchBucket", "nope"));
                assert_eq!(e.request_id.as_deref(), Some("hdr"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forbidden_is_access_denied_with_details() {
        let body = "<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message><RequestId>X</RequestId></Error>";
        match from_response(403, body.as_bytes(), None, None, Context { key: None, head: false, object_size: None }) {
            Error::AccessDenied(e) => assert_eq!((e.code.as_str(), e.request_id.as_deref()), ("SignatureDoesNotMatch", Some("X"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_body_still_gives_a_typed_error() {
        match from_response(500, b"\xff<<not xml", None, None, Context { key: None, head: false, object_size: None }) {
            Error::Service(e) => assert_eq!((e.status, e.code.as_str(), e.message.as_str()), (500, "", "internal server error")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsatisfiable_range_carries_the_size() {
        let e = from_response(416, b"<Error><Code>InvalidRange</Code></Error>", None, None, Context { key: Some("k"), head: false, object_size: Some(9) });
        assert!(matches!(e, Error::RangeNotSatisfiable(Some(9))));
    }

    #[test]
    fn wrong_region_says_where_the_bucket_is() {
        let body = "<Error><Code>PermanentRedirect</Code><Message>use the right endpoint</Message></Error>";
        match from_response(301, body.as_bytes(), None, Some("eu-west-1".into()), Context { key: None, head: false, object_size: None }) {
            Error::Service(e) => assert!(e.message.contains("eu-west-1"), "{}", e.message),
            other => panic!("{other:?}"),
        }
    }
}
