//! Responses: small JSON ones built whole, and objects streamed from storage.

use serde_json::json;

use crate::storage::ObjectBody;
use crate::types::Error;

/// A response held whole.
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The Content-Length to announce instead of the body's: for bodiless answers.
    length: Option<Option<u64>>,
}

impl Reply {
    pub fn json(status: u16, value: serde_json::Value) -> Reply {
        let body = value.to_string().into_bytes();
        Reply { status, headers: vec![("content-type".into(), "application/json".into())], body, length: None }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply { status: 302, headers: vec![("location".into(), location.into())], body: Vec::new(), length: None }
    }

    /// A bodiless answer (a HEAD, a 304) saying the length a GET's body would have.
    pub fn head(status: u16, headers: Vec<(String, String)>, length: u64) -> Reply {
        Reply { status, headers, body: Vec::new(), length: Some(Some(length)) }
    }

    /// No Content-Length at all (a 304 has no body to measure).
    pub fn without_length(mut self) -> Reply {
        self.length = Some(None);
        self
    }

    pub fn header(&mut self, name: &str, value: String) {
        self.headers.push((name.to_string(), value));
    }

    /// The status, the headers (`Content-Length` included, unless it has none) and the body.
    pub fn into_parts(self) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut headers = self.headers;
        match self.length {
            None => headers.push(("content-length".into(), self.body.len().to_string())),
            Some(Some(n)) => headers.push(("content-length".into(), n.to_string())),
            Some(None) => {}
        }
        (self.status, headers, self.body)
    }
}

/// 413: the upload is over `max` bytes.
pub fn too_large(max: u64) -> Reply {
    Reply::json(413, json!({"error": "the upload is too large", "max_bytes": max}))
}

/// The HTTP answer to a storage error about `key`. What is the client's doing (a missing or
/// bad key, a refused condition) is said; what is the server's (configuration, credentials,
/// the storage service failing) goes to stderr, and the client gets only a generic line.
pub fn storage_error(e: &Error, key: Option<&str>) -> Reply {
    let (status, text) = match e {
        Error::NotFound(_) => (404, "not found".to_string()),
        Error::InvalidKey(m) => (400, format!("invalid key: {m}")),
        Error::InvalidArgument(m) => (400, m.clone()),
        Error::AlreadyExists(_) => (409, "already exists".to_string()),
        Error::PreconditionFailed(_) => (412, "precondition failed".to_string()),
        Error::NotModified(_) => (304, String::new()),
        Error::RangeNotSatisfiable(_) => (416, "range not satisfiable".to_string()),
        Error::InvalidConfig(m) | Error::Credentials(m) | Error::Unsupported(m) => {
            eprintln!("file-server: storage is misconfigured: {m}");
            (500, "the storage is misconfigured".to_string())
        }
        Error::AccessDenied(s) | Error::Service(s) => {
            eprintln!("file-server: storage service: {} {} {}", s.status, s.code, s.message);
            (502, "the storage service failed".to_string())
        }
        Error::Transport(m) => {
            eprintln!("file-server: storage unreachable: {m}");
            (502, "the storage service failed".to_string())
        }
    };
    Reply::json(status, json!({"error": text, "key": key}))
}

/// The status and headers of a download of `key`: 200, or 206 for a range.
pub fn file_head(key: &str, object: &ObjectBody) -> (u16, Vec<(String, String)>) {
    let info = object.info();
    let name = key.rsplit('/').next().unwrap_or(key);
    let span = object.range();
    let mut headers = crate::files::validators(&info);
    headers.extend([
        ("content-type".to_string(), info.content_type.clone().unwrap_or_else(|| "application/octet-stream".into())),
        ("content-length".to_string(), span.map_or(info.size, |s| s.end - s.start).to_string()),
        ("content-disposition".to_string(), attachment(name)),
    ]);
    if let Some(s) = span {
        headers.push(("content-range".to_string(), format!("bytes {}-{}/{}", s.start, s.end - 1, info.size)));
    }
    (if span.is_some() { 206 } else { 200 }, headers)
}

/// `Content-Disposition` for a download named `name`: an ASCII fallback, and the exact
/// name RFC 5987-encoded.
pub fn attachment(name: &str) -> String {
    let fallback: String = name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let exact = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    let both = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}");
    // A presigned URL carries it as a header text of at most 1,024 characters: a long
    // non-ASCII name keeps only its ASCII form, cut to fit.
    if both.len() <= 1000 { both } else { format!("attachment; filename=\"{}\"", fallback.chars().take(900).collect::<String>()) }
}
