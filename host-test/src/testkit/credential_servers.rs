//! Loopback stand-ins for the services temporary credentials come from, for tests: EC2
//! instance metadata (IMDSv2), the container credentials endpoint and STS
//! `AssumeRoleWithWebIdentity`. Each issues fresh keys, adds them to the embedded S3
//! server's [`KeyRing`], and counts the credentials it handed out, so a successful upload
//! proves the component's chain end to end.
//!
//! One server answers all three, by path:
//! - `PUT /latest/api/token`, `GET /latest/meta-data/iam/security-credentials/[ROLE]` (IMDSv2,
//!   the session token required);
//! - `GET /container` (the `Authorization` header must be [`CONTAINER_TOKEN`]);
//! - `POST /sts/` (the form's `WebIdentityToken` must be [`WEB_IDENTITY_TOKEN`]), and
//!   `AssumeRole`, whose SigV4 signature must be right for a key the [`KeyRing`] knows;
//! - `GET /federation/credentials` (IAM Identity Center's portal: the bearer token must be
//!   [`SSO_TOKEN`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::testkit::s3_server::KeyRing;

pub const CONTAINER_TOKEN: &str = "container-auth-token";
pub const WEB_IDENTITY_TOKEN: &str = "web-identity-jwt";
pub const IMDS_ROLE: &str = "test-role";
pub const SSO_TOKEN: &str = "sso-access-token";

/// One AssumeRole the STS stand-in answered: who signed it, and what it asked.
#[derive(Clone, Debug)]
pub struct AssumedRole {
    pub signed_by: String,
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<String>,
    /// The access key issued.
    pub issued: String,
}
const IMDS_SESSION: &str = "imds-session-token";

/// How the stand-ins answer.
#[derive(Clone)]
pub struct Behaviour {
    /// Lifetime of the credentials issued.
    pub lifetime: Duration,
    /// Answer credential requests with this body (status 200) instead: malformed replies.
    pub garbage: Option<String>,
    /// Reissue the first access key with a new session token each time, as STS does not but
    /// s3s-fs needs: it lets only the key that started a multipart upload continue it.
    pub same_key: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { lifetime: Duration::from_secs(3600), garbage: None, same_key: false }
    }
}

pub struct CredentialServers {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    assumed: Arc<Mutex<Vec<AssumedRole>>>,
    issued: Arc<AtomicUsize>,
    last_key: Arc<Mutex<Option<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    task: tokio::task::JoinHandle<()>,
}

impl CredentialServers {
    pub async fn start(keys: KeyRing) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let state = State { keys, issued: Arc::default(), last_key: Arc::default(), behaviour: Arc::default(), assumed: Arc::default() };
        let (issued, last_key, behaviour, assumed) = (state.issued.clone(), state.last_key.clone(), state.behaviour.clone(), state.assumed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(state.answer(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(socket), service).await;
                });
            }
        });
        Ok(Self { endpoint, assumed, issued, last_key, behaviour, task })
    }

    /// Credentials handed out so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    /// The access key issued last.
    pub fn last_key(&self) -> Option<String> {
        self.last_key.lock().unwrap().clone()
    }

    /// The AssumeRole requests answered, in order.
    pub fn assumed(&self) -> Vec<AssumedRole> {
        self.assumed.lock().unwrap().clone()
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

impl Drop for CredentialServers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct State {
    keys: KeyRing,
    issued: Arc<AtomicUsize>,
    last_key: Arc<Mutex<Option<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    assumed: Arc<Mutex<Vec<AssumedRole>>>,
}

type Reply = hyper::Response<Full<Bytes>>;

fn reply(status: u16, body: impl Into<String>) -> Reply {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

impl State {
    /// Fresh keys the S3 server accepts: (id, secret, token, expiration).
    fn issue(&self) -> (String, String, String, String) {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let key = if self.behaviour.lock().unwrap().same_key { 1 } else { n };
        let (id, secret) = (format!("ASIATEST{key:04}"), format!("temporary-secret-{key}"));
        self.keys.add(&id, &secret);
        *self.last_key.lock().unwrap() = Some(id.clone());
        let expires = SystemTime::now() + self.behaviour.lock().unwrap().lifetime;
        let expiration = rfc3339(expires);
        (id, secret, format!("session-token-{n}"), expiration)
    }

    fn json_credentials(&self) -> Reply {
        if let Some(garbage) = self.behaviour.lock().unwrap().garbage.clone() {
            return reply(200, garbage);
        }
        let (id, secret, token, expiration) = self.issue();
        reply(
            200,
            format!(
                r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"{id}","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"{expiration}"}}"#
            ),
        )
    }

    async fn answer(&self, req: hyper::Request<hyper::body::Incoming>) -> Reply {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let path = parts.uri.path();
        let imds_base = "/latest/meta-data/iam/security-credentials/";
        match (parts.method.as_str(), path) {
            ("PUT", "/latest/api/token") if !header("x-aws-ec2-metadata-token-ttl-seconds").is_empty() => reply(200, IMDS_SESSION),
            ("PUT", "/latest/api/token") => reply(400, "missing TTL"),
            ("GET", p) if p.starts_with(imds_base) => {
                if header("x-aws-ec2-metadata-token") != IMDS_SESSION {
                    return reply(401, "");
                }
                match &p[imds_base.len()..] {
                    "" => reply(200, IMDS_ROLE),
                    IMDS_ROLE => self.json_credentials(),
                    _ => reply(404, ""),
                }
            }
            ("GET", "/container") if header("authorization") == CONTAINER_TOKEN => self.json_credentials(),
            ("GET", "/container") => reply(403, r#"{"code":"AccessDenied","message":"bad token"}"#),
            ("GET", "/federation/credentials") => {
                if header("x-amz-sso_bearer_token") != SSO_TOKEN {
                    return reply(401, r#"{"message":"Session token not found or invalid"}"#);
                }
                let query = parts.uri.query().unwrap_or("");
                if !query.contains("account_id=") || !query.contains("role_name=") {
                    return reply(400, r#"{"message":"account_id and role_name are required"}"#);
                }
                let (id, secret, token, _) = self.issue();
                let lifetime = self.behaviour.lock().unwrap().lifetime;
                let ms = (SystemTime::now() + lifetime).duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis();
                reply(200, format!(r#"{{"roleCredentials":{{"accessKeyId":"{id}","secretAccessKey":"{secret}","sessionToken":"{token}","expiration":{ms}}}}}"#))
            }
            ("POST", "/sts/") => {
                let form = String::from_utf8_lossy(&body).into_owned();
                let field = |name: &str| form.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or("").to_string();
                if field("Action") == "AssumeRole" {
                    return self.assume_role(&parts, &body, &field);
                }
                if field("Action") != "AssumeRoleWithWebIdentity" || field("RoleArn").is_empty() || field("RoleSessionName").is_empty() {
                    return reply(400, "<ErrorResponse><Error><Code>InvalidParameterValue</Code><Message>bad request</Message></Error></ErrorResponse>");
                }
                if field("WebIdentityToken") != WEB_IDENTITY_TOKEN {
                    return reply(
                        400,
                        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>The token is not valid</Message></Error></ErrorResponse>",
                    );
                }
                if let Some(garbage) = self.behaviour.lock().unwrap().garbage.clone() {
                    return reply(200, garbage);
                }
                let (id, secret, token, expiration) = self.issue();
                reply(
                    200,
                    format!(
                        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
                    ),
                )
            }
            _ => reply(404, ""),
        }
    }
}

impl State {
    /// STS AssumeRole: the signature must be one a key of the ring makes.
    fn assume_role(&self, parts: &http::request::Parts, body: &[u8], field: &dyn Fn(&str) -> String) -> Reply {
        let denied = |why: &str| {
            reply(403, format!("<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>{why}</Message></Error></ErrorResponse>"))
        };
        let signed_by = match verify_sigv4(&self.keys, parts, body, "sts") {
            Ok(key) => key,
            Err(why) => return denied(&why),
        };
        if field("RoleArn").is_empty() || field("RoleSessionName").is_empty() {
            return reply(
                400,
                "<ErrorResponse><Error><Code>ValidationError</Code><Message>RoleArn and RoleSessionName are required</Message></Error></ErrorResponse>",
            );
        }
        let (id, secret, token, expiration) = self.issue();
        let decode = |v: String| percent_decode(&v);
        let some = |v: String| Some(decode(v)).filter(|v| !v.is_empty());
        self.assumed.lock().unwrap().push(AssumedRole {
            signed_by,
            role_arn: decode(field("RoleArn")),
            session_name: decode(field("RoleSessionName")),
            external_id: some(field("ExternalId")),
            duration_seconds: some(field("DurationSeconds")),
            issued: id.clone(),
        });
        reply(
            200,
            format!(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>{id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials><AssumedRoleUser><Arn>x</Arn><AssumedRoleId>y</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"
            ),
        )
    }
}

/// The access key that signed the request, if its SigV4 signature (for `service`) is the one
/// that key makes of exactly these method, URL, signed headers and body.
fn verify_sigv4(keys: &KeyRing, parts: &http::request::Parts, body: &[u8], service: &str) -> Result<String, String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let auth = header("authorization").ok_or("no Authorization header")?;
    let credential = auth.split("Credential=").nth(1).and_then(|r| r.split(',').next()).ok_or("no Credential")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, _date, region, scope_service, "aws4_request"] = scope[..] else { return Err("malformed credential scope".into()) };
    if scope_service != service {
        return Err(format!("signed for {scope_service}, not {service}"));
    }
    let signed_headers = auth.split("SignedHeaders=").nth(1).and_then(|r| r.split(',').next()).ok_or("no SignedHeaders")?;
    let secret = keys.secret(key).ok_or_else(|| format!("unknown access key {key}"))?;
    let date = header("x-amz-date").ok_or("no x-amz-date")?;
    let time = aws_smithy_types::DateTime::from_str(&date, aws_smithy_types::date_time::Format::DateTime)
        .or_else(|_| {
            let iso = format!("{}-{}-{}T{}:{}:{}Z", &date[0..4], &date[4..6], &date[6..8], &date[9..11], &date[11..13], &date[13..15]);
            aws_smithy_types::DateTime::from_str(&iso, aws_smithy_types::date_time::Format::DateTime)
        })
        .map_err(|_| "unreadable x-amz-date")?;
    let token = header("x-amz-security-token");
    let identity = aws_credential_types::Credentials::new(key, &secret, token, None, "stand-in").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::SystemTime::try_from(time).map_err(|_| "x-amz-date out of range")?)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let url = format!("http://{}{}", header("host").ok_or("no Host")?, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let signed: Vec<(String, String)> = signed_headers
        .split(';')
        .filter(|name| !matches!(*name, "x-amz-date" | "x-amz-security-token"))
        .map(|name| Ok((name.to_string(), header(name).ok_or_else(|| format!("signed header {name} is missing"))?)))
        .collect::<Result<_, String>>()?;
    let request = SignableRequest::new(parts.method.as_str(), &url, signed.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(body))
        .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params).map_err(|e| e.to_string())?.into_parts();
    let (expected, _) = instructions.into_parts();
    let expected = expected.into_iter().find(|h| h.name() == "authorization").map(|h| h.value().to_string()).ok_or("no signature made")?;
    if expected == auth { Ok(key.to_string()) } else { Err("the request signature we calculated does not match the signature you provided".into()) }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3339 UTC, as AWS writes expirations.
fn rfc3339(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default()
}
