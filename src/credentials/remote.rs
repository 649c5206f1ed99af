//! Temporary credentials fetched over wasi:http, each from where AWS's SDKs look:
//! - web identity (Kubernetes IRSA): the token in `AWS_WEB_IDENTITY_TOKEN_FILE` goes to
//!   STS `AssumeRoleWithWebIdentity` for `AWS_ROLE_ARN` (an unsigned request);
//! - container credentials (ECS, EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
//!   on 169.254.170.2, or `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the token from
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `AWS_CONTAINER_AUTHORIZATION_TOKEN`;
//! - EC2 instance metadata, IMDSv2: a session token (PUT), then the role, then its
//!   credentials, with 1 s timeouts so a machine without IMDS fails fast.

use std::time::{Duration, SystemTime};

use super::json;
use super::{Credentials, MAX_TOKEN_BYTES};
use crate::keys::encode_query;
use crate::quote::Q;
use crate::sys::env::Env;
use crate::sys::fs::read_to_string;
use crate::sys::http;
use crate::xml;

/// Credential replies are small; anything bigger is not one.
const MAX_REPLY: u64 = 64 * 1024;
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
const CONTAINER_TIMEOUT: Duration = Duration::from_secs(5);
pub(super) const STS_TIMEOUT: Duration = Duration::from_secs(10);
const IMDS_DEFAULT: &str = "http://169.254.169.254";
const CONTAINER_HOST: &str = "http://169.254.170.2";

/// Why a fetch gave no credentials.
#[derive(Debug)]
pub enum Failure {
    /// The source isn't there (no IMDS on this machine): the chain has nothing more.
    Unavailable(String),
    /// The source is there and failed: that is the error to report.
    Failed(String),
}

/// An `http(s)://authority/path` URL, split for wasi:http.
#[derive(Debug, Clone)]
pub struct Url {
    pub(super) https: bool,
    pub(super) authority: String,
    pub(super) path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let uri: ::http::Uri = url.parse().map_err(|_| format!("{url} is not a URL", url = Q(&url)))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{url} must start with http:// or https://", url = Q(&url))),
        };
        let authority = uri.authority().ok_or_else(|| format!("{url} has no host", url = Q(&url)))?;
        if authority.as_str().contains('@') {
            return Err("the URL must not carry user info".into());
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        Ok(Url { https, authority: authority.to_string(), path })
    }

    /// This machine: a token sent here over plain http never crosses a network.
    pub(super) fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn host(&self) -> &str {
        let a = self.authority.as_str();
        match a.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => a.rsplit_once(':').map_or(a, |(h, _)| h),
        }
    }

    fn join(&self, path: &str) -> String {
        format!("{}{path}", self.path.trim_end_matches('/'))
    }

    pub fn describe(&self) -> String {
        format!("{}://{}{}", if self.https { "https" } else { "http" }, self.authority, self.path)
    }
}

/// GET/PUT/POST with a timeout, sent by `send` (the client's pipeline); the reply's status
/// and body, or why there is none.
pub(super) async fn call(
    url: &Url,
    method: &str,
    path: &str,
    headers: Vec<(String, String)>,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let mut headers = headers;
    if let Some(body) = body {
        headers.push(("content-length".into(), body.len().to_string()));
    }
    let request = http::Request { https: url.https, authority: &url.authority, method, path_and_query: path, headers, timeouts: http::Timeouts::all(timeout) };
    let response = http::send(request, body).await.map_err(|e| crate::error::message(&e))?;
    let status = response.status;
    let body = crate::verify::read_all(response, MAX_REPLY).await.map_err(|e| crate::error::message(&e))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

pub(super) fn expiration(text: Option<&str>, source: &str) -> Result<Option<SystemTime>, String> {
    let Some(text) = text else { return Ok(None) };
    let t = aws_smithy_types::DateTime::from_str(text.trim(), aws_smithy_types::date_time::Format::DateTime)
        .map_err(|_| format!("{source} gave an unreadable Expiration"))?;
    Ok(Some(SystemTime::try_from(t).map_err(|_| format!("{source} gave an Expiration out of range"))?))
}

/// Credentials from a JSON reply (container and IMDS share the field names).
fn from_json(text: &str, source: &'static str) -> Result<Credentials, String> {
    let members = json::parse_flat_object(text).map_err(|e| format!("{source} answered with malformed JSON ({e})"))?;
    if let Some(code) = json::get(&members, "Code").filter(|c| *c != "Success") {
        return Err(format!("{source} answered Code {code}", code = Q(&code)));
    }
    let field = |name: &str| json::get(&members, name).map(str::to_string).ok_or_else(|| format!("{source} answered without {name}"));
    let expires = expiration(json::get(&members, "Expiration"), source)?;
    Credentials::new(field("AccessKeyId")?, field("SecretAccessKey")?, json::get(&members, "Token").map(str::to_string), source, expires)
        .map_err(|e| crate::error::message(&e))
}

#[derive(Debug)]
pub struct WebIdentity {
    token_file: String,
    role_arn: String,
    session_name: String,
    sts: Url,
}

/// STS: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the region's. Never plain
/// http to another machine: what goes there (a bearer token, the credentials that come
/// back) would travel in clear.
pub(super) fn sts_endpoint(env: &Env, region: &str, what: &str) -> Result<Url, String> {
    let sts = match env.get("AWS_ENDPOINT_URL_STS").or(env.get("AWS_ENDPOINT_URL")) {
        Some(url) => Url::parse(url).map_err(|e| format!("AWS_ENDPOINT_URL_STS: {e}"))?,
        None => Url { https: true, authority: format!("sts.{region}.amazonaws.com"), path: "/".into() },
    };
    if !sts.https && !sts.is_loopback() {
        return Err(format!("{what}: the STS endpoint {} is plain http to another machine; credentials would travel in clear (use https)", sts.describe()));
    }
    Ok(sts)
}

/// A role session's name: the one given, else one of this moment.
pub(super) fn session_name(given: Option<&str>) -> String {
    match given {
        Some(name) => name.to_string(),
        None => format!("wasm-storages-{}", SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())),
    }
}

/// An STS reply to `action` (AssumeRole, AssumeRoleWithWebIdentity) as credentials from
/// `source`, or why not.
pub(super) fn sts_credentials(status: u16, body: &str, action: &str, source: &'static str) -> Result<Credentials, Failure> {
    match xml::parse_sts_credentials(body) {
        Ok(Ok(c)) if status == 200 => {
            let expires = expiration(c.expiration.as_deref(), "STS").map_err(Failure::Failed)?;
            Credentials::new(c.access_key_id, c.secret_access_key, c.session_token, source, expires).map_err(|e| Failure::Failed(crate::error::message(&e)))
        }
        Ok(Err(e)) => Err(Failure::Failed(format!("STS refused {action} ({status} {}: {})", e.code, e.message))),
        Ok(Ok(_)) => Err(Failure::Failed(format!("STS answered {status}"))),
        Err(e) => Err(Failure::Failed(format!("STS answered {status} with an unreadable reply ({e})"))),
    }
}

impl WebIdentity {
    /// Configured when both `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` are set.
    pub fn from_env(env: &Env, region: &str) -> Result<Option<WebIdentity>, String> {
        let (Some(token_file), Some(role_arn)) = (env.get("AWS_WEB_IDENTITY_TOKEN_FILE"), env.get("AWS_ROLE_ARN")) else {
            return Ok(None);
        };
        WebIdentity::new(token_file, role_arn, env.get("AWS_ROLE_SESSION_NAME"), env, region).map(Some)
    }

    /// From a profile's `web_identity_token_file` and `role_arn` (and `role_session_name`).
    pub fn new(token_file: &str, role_arn: &str, session: Option<&str>, env: &Env, region: &str) -> Result<WebIdentity, String> {
        let sts = sts_endpoint(env, region, "web identity")?;
        Ok(WebIdentity { token_file: token_file.to_string(), role_arn: role_arn.to_string(), session_name: session_name(session), sts })
    }

    pub fn describe(&self) -> String {
        format!("web identity ({} via STS at {})", self.token_file, self.sts.describe())
    }

    pub async fn fetch(&self) -> Result<Credentials, Failure> {
        // Read each time: Kubernetes rotates the token file.
        let token = read_to_string(&self.token_file).map_err(|e| Failure::Failed(format!("reading AWS_WEB_IDENTITY_TOKEN_FILE {}: {e}", self.token_file)))?;
        let form = format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName={}&WebIdentityToken={}",
            encode_query(&self.role_arn),
            encode_query(&self.session_name),
            encode_query(token.trim())
        );
        let headers = vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let (status, body) =
            call(&self.sts, "POST", &self.sts.path, headers, Some(form.as_bytes()), STS_TIMEOUT).await.map_err(|e| Failure::Failed(format!("STS: {e}")))?;
        sts_credentials(status, &body, "AssumeRoleWithWebIdentity", "web identity")
    }
}

#[derive(Debug)]
pub struct Container {
    url: Url,
    token: Option<String>,
    token_file: Option<String>,
}

impl Container {
    pub fn from_env(env: &Env) -> Result<Option<Container>, String> {
        let url = match (env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
            (Some(relative), _) => {
                // A path on the ECS agent, nothing else: `.evil.example.com/creds` or
                // `:1234/creds` would move the request (and its token) to another host or port.
                if !relative.starts_with('/') {
                    return Err("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with '/'".into());
                }
                let url = Url::parse(&format!("{CONTAINER_HOST}{relative}")).map_err(|e| format!("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: {e}"))?;
                if url.authority != CONTAINER_HOST["http://".len()..] {
                    return Err("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path on the ECS agent".into());
                }
                url
            }
            (None, Some(full)) => {
                let url = Url::parse(full).map_err(|e| format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {e}"))?;
                // Over plain http the token would travel in clear: only to this machine or
                // to the ECS/EKS agents' link-local addresses.
                let host = url.host();
                if !url.https && !url.is_loopback() && !["169.254.170.2", "169.254.170.23", "fd00:ec2::23"].contains(&host) {
                    return Err(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is only allowed to loopback or the ECS/EKS agent, not {host}"));
                }
                url
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(Container {
            url,
            token: env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(str::to_string),
            token_file: env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(str::to_string),
        }))
    }

    pub fn describe(&self) -> String {
        format!("container credentials ({})", self.url.describe())
    }

    pub async fn fetch(&self) -> Result<Credentials, Failure> {
        // The file wins, and is read each time: EKS rotates it.
        let token = match &self.token_file {
            Some(file) => Some(read_to_string(file).map_err(|e| Failure::Failed(format!("reading AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {file}: {e}")))?),
            None => self.token.clone(),
        };
        let token = token.map(|t| t.trim().to_string());
        if let Some(t) = token.as_ref().filter(|t| t.len() > MAX_TOKEN_BYTES || !t.bytes().all(|b| b == b' ' || b.is_ascii_graphic())) {
            return Err(Failure::Failed(format!(
                "the container authorization token must be printable ASCII of at most {MAX_TOKEN_BYTES} bytes (it is {} bytes)",
                t.len()
            )));
        }
        let headers = token.map(|t| vec![("authorization".to_string(), t)]).unwrap_or_default();
        let (status, body) = call(&self.url, "GET", &self.url.path, headers, None, CONTAINER_TIMEOUT)
            .await
            .map_err(|e| Failure::Failed(format!("the container endpoint: {e}")))?;
        if status != 200 {
            return Err(Failure::Failed(format!("the container endpoint answered {status}")));
        }
        from_json(&body, "container credentials").map_err(Failure::Failed)
    }
}

#[derive(Debug)]
pub struct Imds {
    url: Url,
}

impl Imds {
    /// Unless `AWS_EC2_METADATA_DISABLED=true`.
    pub fn from_env(env: &Env) -> Result<Option<Imds>, String> {
        if env.get("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let endpoint = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or(IMDS_DEFAULT);
        Ok(Some(Imds { url: Url::parse(endpoint).map_err(|e| format!("AWS_EC2_METADATA_SERVICE_ENDPOINT: {e}"))? }))
    }

    pub fn describe(&self) -> String {
        format!("EC2 instance metadata ({})", self.url.describe())
    }

    pub async fn fetch(&self) -> Result<Credentials, Failure> {
        let token_headers = vec![("x-aws-ec2-metadata-token-ttl-seconds".to_string(), "21600".to_string())];
        // No answer at all means no IMDS here: the chain is exhausted, not broken.
        let (status, token) =
            call(&self.url, "PUT", &self.url.join("/latest/api/token"), token_headers, Some(b""), IMDS_TIMEOUT).await.map_err(Failure::Unavailable)?;
        if status != 200 {
            return Err(Failure::Unavailable(format!("no IMDSv2 session token (status {status})")));
        }
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Failure::Failed(format!("IMDS gave an unusable session token ({} bytes)", token.len())));
        }
        let auth = vec![("x-aws-ec2-metadata-token".to_string(), token.to_string())];
        let base = self.url.join("/latest/meta-data/iam/security-credentials/");
        let (status, roles) = call(&self.url, "GET", &base, auth.clone(), None, IMDS_TIMEOUT).await.map_err(|e| Failure::Failed(format!("IMDS: {e}")))?;
        let role = roles.lines().next().map(str::trim).unwrap_or_default();
        // IAM role names are at most 64 characters.
        if role.len() > 128 {
            return Err(Failure::Failed(format!("IMDS gave a role name of {} bytes", role.len())));
        }
        if status == 404 || (status == 200 && role.is_empty()) {
            return Err(Failure::Unavailable("the instance has no IAM role".into()));
        }
        if status != 200 {
            return Err(Failure::Failed(format!("IMDS answered {status} for the role name")));
        }
        let (status, body) = call(&self.url, "GET", &format!("{base}{}", encode_query(role)), auth, None, IMDS_TIMEOUT)
            .await
            .map_err(|e| Failure::Failed(format!("IMDS: {e}")))?;
        if status != 200 {
            return Err(Failure::Failed(format!("IMDS answered {status} for the role's credentials")));
        }
        from_json(&body, "EC2 instance metadata").map_err(Failure::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn urls_split_for_wasi_http() {
        let u = Url::parse("http://127.0.0.1:8080/creds?x=1").unwrap();
        assert_eq!((u.https, u.authority.as_str(), u.path.as_str(), u.host()), (false, "127.0.0.1:8080", "/creds?x=1", "127.0.0.1"));
        assert_eq!(Url::parse("http://[::1]:80").unwrap().host(), "::1");
        assert!(Url::parse("ftp://h/").is_err() && Url::parse("http://u:p@h/").is_err() && Url::parse("nope").is_err());
    }

    #[test]
    fn container_full_uri_over_http_only_to_loopback_or_the_agent() {
        for ok in ["http://127.0.0.1:9/c", "http://localhost/c", "http://169.254.170.23/v1/credentials", "https://creds.example.com/c", "http://[::1]/c"] {
            assert!(Container::from_env(&Env(&env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", ok)]))).unwrap().is_some(), "{ok}");
        }
        assert!(Container::from_env(&Env(&env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://evil.example.com/c")]))).is_err());
        let relative = Container::from_env(&Env(&env(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")]))).unwrap().unwrap();
        assert_eq!(relative.url.describe(), "http://169.254.170.2/v2/credentials/abc");
    }

    #[test]
    fn imds_can_be_disabled_or_moved() {
        assert!(Imds::from_env(&Env(&env(&[("AWS_EC2_METADATA_DISABLED", "TRUE")]))).unwrap().is_none());
        let moved = Imds::from_env(&Env(&env(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338")]))).unwrap().unwrap();
        assert_eq!(moved.url.join("/latest/api/token"), "/latest/api/token");
        assert_eq!(Imds::from_env(&Env(&[])).unwrap().unwrap().describe(), "EC2 instance metadata (http://169.254.169.254/)");
    }

    #[test]
    fn json_replies_become_credentials_or_clear_errors() {
        let c = from_json(r#"{"AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-02T03:04:05Z"}"#, "container credentials").unwrap();
        assert_eq!((c.access_key_id.as_str(), c.source), ("ASIA1", "container credentials"));
        assert_eq!(c.expires.unwrap().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_893_553_445);
        let e = from_json(r#"{"AccessKeyId":"A","SecretAccessKey":"TOPSECRET","Expiration":"soon"}"#, "container credentials").unwrap_err();
        assert!(e.contains("Expiration") && !e.contains("TOPSECRET"), "{e}");
        assert!(from_json(r#"{"SecretAccessKey":"s"}"#, "x").unwrap_err().contains("AccessKeyId"));
        assert!(from_json(r#"{"Code":"Failure"}"#, "x").unwrap_err().contains("Failure"));
        assert!(from_json("<html>", "x").unwrap_err().contains("malformed JSON"));
    }
}
