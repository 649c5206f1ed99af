//! What both backends' requests and responses are, apart from the WASI resources: the
//! request the client builds, and the head of the response it reads.

use crate::error::{Error, invalid_argument};

/// The most header bytes (names and values) a request may carry. wasmtime's wasi:http traps
/// the whole instance past 128 KiB, and S3 answers 400 past 8 KiB: every value the
/// component sends is bounded where it comes from (keys, metadata, credentials, tokens),
/// and this is the last line, a typed error instead of a trap.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Likewise for the path and query (the `http` crate's URIs end at 64 KiB).
const MAX_PATH_BYTES: usize = 32 * 1024;

/// A request as the client builds it, signed.
pub struct Request<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: Vec<(String, String)>,
    pub timeouts: Timeouts,
}

/// Limits on connecting, on the first byte of the response and between its bytes; `None`
/// leaves the host's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    pub connect: Option<std::time::Duration>,
    pub first_byte: Option<std::time::Duration>,
    pub between_bytes: Option<std::time::Duration>,
}

impl Timeouts {
    pub fn all(limit: std::time::Duration) -> Self {
        Timeouts { connect: Some(limit), first_byte: Some(limit), between_bytes: Some(limit) }
    }
}

impl Request<'_> {
    /// `scheme://authority`, to say where a request failed.
    pub fn target(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.authority)
    }

    /// Refuses headers or a path no host or server takes, before they reach the host.
    pub fn check_limits(&self) -> Result<(), Error> {
        let header_bytes: usize = self.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        if header_bytes > MAX_HEADER_BYTES {
            return Err(invalid_argument(format!("the request's headers would be {header_bytes} bytes; at most {MAX_HEADER_BYTES} are sent")));
        }
        if self.path_and_query.len() > MAX_PATH_BYTES {
            return Err(invalid_argument(format!("the request's path would be {} bytes; at most {MAX_PATH_BYTES} are sent", self.path_and_query.len())));
        }
        Ok(())
    }
}

/// A response: its status and headers, and the backend's handle on its body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    /// A HEAD, 204 or 304 response: Content-Length describes the object, not this body.
    pub(super) bodiless: bool,
    pub(super) head: bool,
    pub(super) raw: super::http::RawResponse,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    pub fn is_head(&self) -> bool {
        self.head
    }

    /// The length of this response's own body, when known (a HEAD's Content-Length is the
    /// object's, its body is empty).
    pub fn body_length(&self) -> Option<u64> {
        if self.bodiless { Some(0) } else { self.content_length() }
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }
}

/// What both backends write alike against their own wasi:http types (0.2's and 0.3's have
/// the same shapes), given the request resource type `$Request`: the request's `fields`, its
/// timeout `options`, its method and address set on it (`address`), and `failed_at`,
/// `error_code` and `error_text` for an `error-code` (one text for both; `Debug` would cost
/// kilobytes). The wasi:http names are those in scope where it is used.
macro_rules! wasi_http_shared {
    ($Request:ty) => {
        /// `req`'s headers as wasi:http fields.
        fn fields(req: &Request) -> Result<Fields, Error> {
            Fields::from_list(&req.headers.iter().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect::<Vec<_>>()).map_err(|e| {
                transport(match e {
                    HeaderError::InvalidSyntax => "the host refused a request header as malformed",
                    HeaderError::Forbidden => "the host forbids one of the request headers",
                    _ => "the request headers are immutable",
                })
            })
        }

        /// `req`'s method, scheme, authority, path and query, set on `request`.
        fn address(request: &$Request, req: &Request) -> Result<(), Error> {
            let method = match req.method {
                "GET" => Method::Get,
                "HEAD" => Method::Head,
                "PUT" => Method::Put,
                "POST" => Method::Post,
                "DELETE" => Method::Delete,
                other => Method::Other(other.to_string()),
            };
            let invalid = |what: &str| transport(format!("the host refused the request {what}"));
            request.set_method(&method).map_err(|_| invalid("method"))?;
            request.set_scheme(Some(&if req.https { Scheme::Https } else { Scheme::Http })).map_err(|_| invalid("scheme"))?;
            request.set_authority(Some(req.authority)).map_err(|_| invalid("authority"))?;
            request.set_path_with_query(Some(req.path_and_query)).map_err(|_| invalid("path"))
        }

        /// The request options for `req`'s timeouts.
        fn options(req: &Request) -> Option<RequestOptions> {
            let t = req.timeouts;
            if t.connect.is_none() && t.first_byte.is_none() && t.between_bytes.is_none() {
                return None;
            }
            let nanos = |d: Option<std::time::Duration>| d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            let options = RequestOptions::new();
            // A host that doesn't support a timeout says so; the request still goes.
            let _ = options.set_connect_timeout(nanos(t.connect));
            let _ = options.set_first_byte_timeout(nanos(t.first_byte));
            let _ = options.set_between_bytes_timeout(nanos(t.between_bytes));
            Some(options)
        }

        /// A request to `target` that failed with `code`, saying where, and what to try where the
        /// code is a usual mistake.
        fn failed_at(target: &str, code: ErrorCode) -> Error {
            let hint = match &code {
                ErrorCode::TlsProtocolError if target.starts_with("https:") => " (if the server speaks plain HTTP on that port, use an http:// endpoint)",
                ErrorCode::TlsCertificateError => " (a self-signed server needs verify-ssl = false, or its CA trusted by the host)",
                ErrorCode::ConnectionRefused => " (is the server running, and on that port?)",
                _ => "",
            };
            transport(format!("{target}: {}{hint}", error_text(code)))
        }

        fn error_code(code: ErrorCode) -> Error {
            transport(error_text(code))
        }

        fn error_text(code: ErrorCode) -> String {
            match &code {
                ErrorCode::DnsError(e) => format!("DNS lookup failed ({})", e.rcode.clone().unwrap_or_default()),
                ErrorCode::DnsTimeout => "DNS lookup timed out".into(),
                ErrorCode::DestinationNotFound => "destination not found".into(),
                ErrorCode::DestinationUnavailable => "destination unavailable".into(),
                ErrorCode::ConnectionRefused => "connection refused".into(),
                ErrorCode::ConnectionTerminated => "connection terminated".into(),
                ErrorCode::ConnectionTimeout => "connection timed out".into(),
                ErrorCode::ConnectionReadTimeout => "timed out reading the response".into(),
                ErrorCode::ConnectionWriteTimeout => "timed out writing the request".into(),
                ErrorCode::TlsCertificateError => "TLS certificate not accepted".into(),
                ErrorCode::TlsProtocolError => "TLS protocol error".into(),
                ErrorCode::HttpResponseTimeout => "timed out waiting for the response".into(),
                ErrorCode::HttpResponseIncomplete => "response incomplete".into(),
                ErrorCode::HttpProtocolError => "HTTP protocol error".into(),
                ErrorCode::InternalError(Some(e)) => format!("host error: {e}"),
                ErrorCode::InternalError(None) => "host error".into(),
                // Named by hand rather than by `Debug`, whose code for this enum costs kilobytes.
                ErrorCode::DestinationIpProhibited => "destination IP prohibited".into(),
                ErrorCode::DestinationIpUnroutable => "destination IP unroutable".into(),
                ErrorCode::ConnectionLimitReached => "connection limit reached".into(),
                ErrorCode::TlsAlertReceived(a) => format!("TLS alert received ({})", a.alert_message.clone().unwrap_or_default()),
                ErrorCode::HttpRequestDenied => "request denied by the host".into(),
                ErrorCode::HttpRequestLengthRequired => "request length required".into(),
                ErrorCode::HttpRequestBodySize(_) => "request body size refused".into(),
                ErrorCode::HttpRequestMethodInvalid => "request method invalid".into(),
                ErrorCode::HttpRequestUriInvalid => "request URI invalid".into(),
                ErrorCode::HttpRequestUriTooLong => "request URI too long".into(),
                ErrorCode::HttpRequestHeaderSectionSize(_) | ErrorCode::HttpRequestHeaderSize(_) => "request headers too large".into(),
                ErrorCode::HttpRequestTrailerSectionSize(_) | ErrorCode::HttpRequestTrailerSize(_) => "request trailers too large".into(),
                ErrorCode::HttpResponseHeaderSectionSize(_) | ErrorCode::HttpResponseHeaderSize(_) => "response headers too large".into(),
                ErrorCode::HttpResponseBodySize(_) => "response body too large".into(),
                ErrorCode::HttpResponseTrailerSectionSize(_) | ErrorCode::HttpResponseTrailerSize(_) => "response trailers too large".into(),
                ErrorCode::HttpResponseTransferCoding(c) => format!("response transfer coding not supported ({})", c.clone().unwrap_or_default()),
                ErrorCode::HttpResponseContentCoding(c) => format!("response content coding not supported ({})", c.clone().unwrap_or_default()),
                ErrorCode::HttpUpgradeFailed => "HTTP upgrade failed".into(),
                ErrorCode::LoopDetected => "loop detected".into(),
                ErrorCode::ConfigurationError => "host configuration error".into(),
            }
        }
    };
}
pub(super) use wasi_http_shared;
